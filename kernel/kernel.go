// Package kernel sets up, checks and drives layervis's Jupyter notebook
// kernel: GoNB (a Go kernel) registered under the kernelspec name "layervis"
// with the environment layervis needs (GOEXPERIMENT=simd for the pure-Go
// backend's fast matrix products, the backend choice, the asset cache).
//
// The command kernel/cmd/layervis-kernel wraps it:
//
//	go run ./kernel/cmd/layervis-kernel setup     # install and register everything (idempotent)
//	go run ./kernel/cmd/layervis-kernel doctor    # what is missing, and the fix
//	go run ./kernel/cmd/layervis-kernel run notebooks/*.ipynb   # execute headless, check outputs
//	go run ./kernel/cmd/layervis-kernel notebook  # Jupyter for interactive use
//
// [Setup] installs Debian's Jupyter packages, builds gonb, goimports and gopls
// at pinned versions from the separate module kernel/tools, writes the
// kernelspec ([NewSpec], [InstallSpec]), warms the Go build cache for the
// packages notebooks import ([Warm]) and fetches the demo assets. [Doctor]
// checks each of those. [Execute] runs a notebook through `jupyter nbconvert
// --execute`, fails on any error output and checks the expectations the
// notebook declares in its metadata ([Expect]).
package kernel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/layervis/layervis/layervis/assets"
)

// Name is the kernelspec name of the layervis kernel: notebooks select it in
// their metadata and nbconvert with --ExecutePreprocessor.kernel_name.
const Name = "layervis"

// DisplayName is the kernel's name in Jupyter's menus.
const DisplayName = "Go (layervis)"

// GonbVersion is the pinned GoNB version (also in go.mod and kernel/tools/go.mod).
const GonbVersion = "v0.11.5"

// Module is the Go module path of this repository.
const Module = "github.com/layervis/layervis"

// AptPackages are the Debian packages headless notebook execution needs.
var AptPackages = []string{"jupyter-nbconvert", "python3-nbclient", "jupyter-client", "python3-ipykernel"}

// InteractivePackages are the extra Debian packages for an interactive
// Jupyter server.
var InteractivePackages = []string{"jupyter-notebook"}

// Tools are the Go programs GoNB needs on PATH, with the package each is
// built from; kernel/tools/go.mod pins their versions as tool directives.
var Tools = []Tool{
	{Name: "gonb", Package: "github.com/janpfeifer/gonb"},
	{Name: "goimports", Package: "golang.org/x/tools/cmd/goimports"},
	{Name: "gopls", Package: "golang.org/x/tools/gopls"},
}

// Tool is a Go program installed from kernel/tools.
type Tool struct {
	Name    string // binary name
	Package string // main package path
}

// RepoRoot returns the root of the layervis repository containing dir (or
// one of its parents): the directory whose go.mod declares [Module].
func RepoRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && modulePath(data) == Module {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside the layervis repository (no go.mod declaring %s above it); run from the repository or pass -repo", abs, Module)
		}
	}
}

func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// CacheDir returns the layervis cache directory as an absolute path (see
// assets.Dir: $LAYERVIS_CACHE, or ~/.cache/layervis), where
// scripts/fetch-assets.sh puts the demo assets and setup its warm module.
func CacheDir() (string, error) {
	d, err := assets.Dir()
	if err != nil {
		return "", err
	}
	return filepath.Abs(d)
}

// GoBin returns the directory `go install` writes to: GOBIN, or GOPATH/bin.
func GoBin(ctx context.Context) (string, error) {
	out, err := output(ctx, "", nil, "go", "env", "GOBIN", "GOPATH")
	if err != nil {
		return "", fmt.Errorf("go env: %w (is Go installed and on PATH?)", err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 0 && lines[0] != "" {
		return lines[0], nil
	}
	if len(lines) < 2 || lines[1] == "" {
		return "", errors.New("go env reports neither GOBIN nor GOPATH; set GOBIN")
	}
	return filepath.Join(strings.Split(lines[1], string(os.PathListSeparator))[0], "bin"), nil
}

// ToolPath finds a tool: on PATH, else in dir (normally [GoBin]). It
// returns "" when neither has it.
func ToolPath(name, dir string) string {
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	if dir != "" {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// output runs a command and returns its standard output; the error carries
// the last lines of its standard error.
func output(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w%s", name, strings.Join(args, " "), err, tail(stdout.String()+"\n"+stderr.String(), 15))
	}
	return stdout.String(), nil
}

// stream runs a command with its output copied to w.
func stream(ctx context.Context, w io.Writer, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// tail formats the last n lines of s as an indented block, or "" if s is blank.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return "\n    " + strings.Join(lines, "\n    ")
}

// withEnv returns env with each "KEY=value" of set replacing any existing
// entry for KEY.
func withEnv(env []string, set ...string) []string {
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for _, s := range set {
			if sk, _, _ := strings.Cut(s, "="); sk == k {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
