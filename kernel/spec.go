package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/layervis/layervis/layervis/backend"
)

// Spec is a Jupyter kernelspec, the kernel.json file in
// <data dir>/kernels/<name>/.
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
}

// Config is what the layervis kernelspec is made from.
type Config struct {
	Gonb    string            // absolute path of the gonb binary
	Backend string            // GOMLX_BACKEND for the kernel; "" means backend.Default (pure Go)
	Cache   string            // LAYERVIS_CACHE for the kernel
	Path    []string          // PATH for the kernel, in order; must reach go and goimports
	Env     map[string]string // further variables, e.g. XLA_FLAGS for a GPU plugin
}

// PassThrough lists the variables copied from the environment at setup into
// the kernelspec when they are set: what a PJRT GPU plugin needs besides
// GOMLX_BACKEND.
var PassThrough = []string{"PJRT_PLUGIN_LIBRARY_PATH", "XLA_FLAGS", "GOPJRT_CUDA_CHECKS", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES"}

// ConfigFromEnv makes the kernel configuration from this process's
// environment: the backend named by GOMLX_BACKEND (pure Go when unset), the
// cache of [CacheDir], and a PATH that puts gonb's directory (where
// goimports and gopls are installed too) and go's directory first.
func ConfigFromEnv(gonb string) (Config, error) {
	cache, err := CacheDir()
	if err != nil {
		return Config{}, err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return Config{}, fmt.Errorf("go is not on PATH (%v): install Go 1.26.8 and add its bin directory to PATH", err)
	}
	goCmd, _ = filepath.Abs(goCmd)
	c := Config{
		Gonb:    gonb,
		Backend: strings.TrimSpace(os.Getenv(backend.EnvVar)),
		Cache:   cache,
		Env:     map[string]string{},
	}
	c.Path = []string{filepath.Dir(gonb), filepath.Dir(goCmd)}
	c.Path = append(c.Path, filepath.SplitList(os.Getenv("PATH"))...)
	for _, k := range PassThrough {
		if v := os.Getenv(k); v != "" {
			c.Env[k] = v
		}
	}
	return c, nil
}

// NewSpec returns the layervis kernelspec for c: GoNB started with the
// connection file, and an environment with GOEXPERIMENT=simd, the backend
// choice (GOMLX_BACKEND, with auto-install of XLA plugins off), the cache
// directory and PATH.
func NewSpec(c Config) Spec {
	env := map[string]string{}
	for k, v := range c.Env {
		env[k] = v
	}
	be := c.Backend
	if be == "" {
		be = backend.Default
	}
	env["GOEXPERIMENT"] = "simd"
	env[backend.EnvVar] = be
	env["GOMLX_NO_AUTO_INSTALL"] = "1"
	env["LAYERVIS_CACHE"] = c.Cache
	var path []string
	for _, d := range c.Path {
		if d != "" && !slices.Contains(path, d) {
			path = append(path, d)
		}
	}
	env["PATH"] = strings.Join(path, string(os.PathListSeparator))
	return Spec{
		Argv:          []string{c.Gonb, "--kernel", "{connection_file}"},
		DisplayName:   DisplayName,
		Language:      "go",
		InterruptMode: "message",
		Env:           env,
	}
}

// CheckSpec lists what is wrong with a layervis kernelspec: a gonb binary
// that does not exist, an environment without GOEXPERIMENT=simd, a backend
// layervis cannot start (a missing PJRT plugin), no LAYERVIS_CACHE, a PATH
// that does not reach go and goimports. An empty list means it is usable.
func CheckSpec(s Spec) []string {
	var problems []string
	if len(s.Argv) == 0 {
		problems = append(problems, "argv is empty")
	} else if st, err := os.Stat(s.Argv[0]); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		problems = append(problems, fmt.Sprintf("argv[0] %q is not an executable gonb binary", s.Argv[0]))
	}
	if !slices.Contains(s.Argv, "{connection_file}") {
		problems = append(problems, "argv does not pass {connection_file}")
	}
	if s.Language != "go" {
		problems = append(problems, fmt.Sprintf("language is %q, not \"go\"", s.Language))
	}
	if !slices.Contains(strings.Split(s.Env["GOEXPERIMENT"], ","), "simd") {
		problems = append(problems, fmt.Sprintf("env GOEXPERIMENT=%q lacks simd: the pure-Go backend would be 4-5x slower", s.Env["GOEXPERIMENT"]))
	}
	if be := s.Env[backend.EnvVar]; be == "" {
		problems = append(problems, "env has no "+backend.EnvVar+" (the backend choice)")
	} else if b, err := backend.New(be); err != nil {
		problems = append(problems, err.Error())
	} else {
		b.Finalize()
	}
	if s.Env["LAYERVIS_CACHE"] == "" {
		problems = append(problems, "env has no LAYERVIS_CACHE")
	}
	path := filepath.SplitList(s.Env["PATH"])
	for _, tool := range []string{"go", "goimports"} {
		if !onPath(tool, path) {
			problems = append(problems, fmt.Sprintf("env PATH does not reach %s", tool))
		}
	}
	return problems
}

func onPath(name string, dirs []string) bool {
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// DataDir returns Jupyter's user data directory, where kernelspecs live:
// $JUPYTER_DATA_DIR, else what `jupyter --data-dir` says, else the
// platform default (~/.local/share/jupyter on Linux).
func DataDir(ctx context.Context) (string, error) {
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return filepath.Abs(d)
	}
	if jup, err := exec.LookPath("jupyter"); err == nil {
		if out, err := output(ctx, "", nil, jup, "--data-dir"); err == nil && strings.TrimSpace(out) != "" {
			return strings.TrimSpace(out), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory (%v); set JUPYTER_DATA_DIR", err)
	}
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Jupyter"), nil
	case "windows":
		return filepath.Join(os.Getenv("APPDATA"), "jupyter"), nil
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "jupyter"), nil
	}
	return filepath.Join(home, ".local", "share", "jupyter"), nil
}

// SpecPath is the kernel.json of the kernel named name under a Jupyter data
// directory.
func SpecPath(dataDir, name string) string {
	return filepath.Join(dataDir, "kernels", name, "kernel.json")
}

// InstallSpec writes s to path unless the file already holds exactly that
// spec; it reports whether it wrote.
func InstallSpec(path string, s Spec) (changed bool, err error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return false, err
	}
	data = append(data, '\n')
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("kernelspec directory: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, fmt.Errorf("writing kernelspec: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("writing kernelspec: %w", err)
	}
	return true, nil
}

// ReadSpec reads a kernel.json file.
func ReadSpec(path string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
