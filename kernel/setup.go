package kernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// SetupOptions controls [Setup].
type SetupOptions struct {
	Repo     string    // repository root (see RepoRoot)
	Headless bool      // skip the interactive server (jupyter-notebook)
	NoApt    bool      // do not install Debian packages (Jupyter comes from elsewhere)
	NoAssets bool      // do not fetch the demo assets
	Out      io.Writer // progress and command output
}

// Setup installs and registers the layervis kernel, step by step: Debian's
// Jupyter packages, gonb/goimports/gopls from kernel/tools, the kernelspec,
// a warm Go build cache for the packages notebooks import, and the demo
// assets. Each step first checks whether its work is already done, so a
// second run changes nothing. A failing step prints what to do and the
// later steps still run; the error lists the failed steps.
func Setup(ctx context.Context, o SetupOptions) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	pkgs := AptPackages
	if !o.Headless {
		pkgs = append(append([]string{}, AptPackages...), InteractivePackages...)
	}
	steps := []struct {
		name string
		run  func() (string, error)
	}{
		{"jupyter", func() (string, error) {
			if o.NoApt {
				return jupyterPresent(ctx)
			}
			return installApt(ctx, o.Out, pkgs)
		}},
		{"gonb, goimports, gopls", func() (string, error) { return installTools(ctx, o.Out, o.Repo) }},
		{"kernelspec", func() (string, error) { return installKernelspec(ctx) }},
		{"go build cache", func() (string, error) {
			cache, err := CacheDir()
			if err != nil {
				return "", err
			}
			d, err := Warm(ctx, o.Repo, filepath.Join(cache, "kernel", "warm"), o.Out)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("notebook packages built in %.1fs", d.Seconds()), nil
		}},
		{"demo assets", func() (string, error) {
			if o.NoAssets {
				return "skipped (-no-assets)", nil
			}
			return fetchAssets(ctx, o.Out, o.Repo)
		}},
	}
	var failed []string
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("setup interrupted before %s: %w", s.name, err)
		}
		fmt.Fprintf(o.Out, "==> %s\n", s.name)
		start := time.Now()
		status, err := s.run()
		took := time.Since(start).Round(100 * time.Millisecond)
		if err != nil {
			fmt.Fprintf(o.Out, "FAIL %s (%s): %v\n", s.name, took, err)
			failed = append(failed, s.name)
			continue
		}
		fmt.Fprintf(o.Out, "ok   %s (%s): %s\n", s.name, took, status)
	}
	if len(failed) > 0 {
		return fmt.Errorf("setup steps failed: %s (see the messages above)", strings.Join(failed, "; "))
	}
	return nil
}

// jupyterPresent checks that `jupyter nbconvert` runs.
func jupyterPresent(ctx context.Context) (string, error) {
	jup, err := exec.LookPath("jupyter")
	if err != nil {
		return "", fmt.Errorf("jupyter is not on PATH: install Jupyter (nbconvert, nbclient, jupyter_client, ipykernel), e.g. apt-get install %s", strings.Join(AptPackages, " "))
	}
	out, err := output(ctx, "", nil, jup, "nbconvert", "--version")
	if err != nil {
		return "", fmt.Errorf("%v: install nbconvert (Debian: jupyter-nbconvert)", err)
	}
	return fmt.Sprintf("%s, nbconvert %s", jup, strings.TrimSpace(out)), nil
}

// missingDebs returns those of pkgs dpkg does not report as installed.
func missingDebs(ctx context.Context, pkgs []string) []string {
	var missing []string
	for _, p := range pkgs {
		out, err := output(ctx, "", nil, "dpkg-query", "-W", "-f=${Status}", p)
		if err != nil || !strings.Contains(out, "install ok installed") {
			missing = append(missing, p)
		}
	}
	return missing
}

// installApt installs the missing Debian packages with apt-get, waiting up
// to 15 minutes for the dpkg lock; `apt-get update` runs only when the
// install cannot find a package.
func installApt(ctx context.Context, w io.Writer, pkgs []string) (string, error) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		status, err := jupyterPresent(ctx)
		if err != nil {
			return "", fmt.Errorf("not a Debian system (no dpkg-query) and %v", err)
		}
		return "not a Debian system; using " + status, nil
	}
	missing := missingDebs(ctx, pkgs)
	if len(missing) == 0 {
		return "Debian packages present: " + strings.Join(pkgs, " "), nil
	}
	var sudo []string
	if os.Getuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return "", fmt.Errorf("need root to install %s: run as root, or install them yourself and rerun", strings.Join(missing, " "))
		}
		sudo = []string{"sudo", "-n"}
	}
	env := withEnv(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	apt := func(args ...string) error {
		cmd := append(append(append([]string{}, sudo...), "apt-get", "-o", "DPkg::Lock::Timeout=900"), args...)
		fmt.Fprintf(w, "    %s\n", strings.Join(cmd, " "))
		c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w%s", strings.Join(cmd, " "), err, tail(string(out), 20))
		}
		return nil
	}
	install := append([]string{"install", "-y", "-q", "--no-install-recommends"}, missing...)
	if err := apt(install...); err != nil {
		if err := apt("update", "-q"); err != nil {
			return "", fmt.Errorf("apt-get update: %w (sudo needs a password? run: sudo apt-get install %s)", err, strings.Join(missing, " "))
		}
		if err := apt(install...); err != nil {
			return "", fmt.Errorf("%w: install them by hand: apt-get install --no-install-recommends %s", err, strings.Join(missing, " "))
		}
	}
	if still := missingDebs(ctx, pkgs); len(still) > 0 {
		return "", fmt.Errorf("still missing after apt-get: %s", strings.Join(still, " "))
	}
	return "installed " + strings.Join(missing, " "), nil
}

// ToolVersions returns, for each of [Tools], the module path and version
// kernel/tools/go.mod pins it to.
func ToolVersions(ctx context.Context, repo string) (map[string][2]string, error) {
	dir := filepath.Join(repo, "kernel", "tools")
	args := []string{"list", "-f", "{{.ImportPath}} {{.Module.Path}} {{.Module.Version}}"}
	for _, t := range Tools {
		args = append(args, t.Package)
	}
	out, err := output(ctx, dir, withEnv(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly"), "go", args...)
	if err != nil {
		return nil, fmt.Errorf("reading the pinned tool versions in %s: %w", dir, err)
	}
	want := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		for _, t := range Tools {
			if len(f) == 3 && f[0] == t.Package {
				want[t.Name] = [2]string{f[1], f[2]}
			}
		}
	}
	return want, nil
}

// toolProblem says what is wrong with the installed tool t in bin, or ""
// when it is there at the pinned version.
func toolProblem(ctx context.Context, t Tool, bin string, want [2]string) string {
	p := filepath.Join(bin, t.Name)
	if _, err := os.Stat(p); err != nil {
		return fmt.Sprintf("%s not installed in %s", t.Name, bin)
	}
	mods, err := BinaryModules(ctx, p)
	if err != nil {
		return fmt.Sprintf("%s: %v", p, err)
	}
	if got := mods[want[0]]; got != want[1] {
		return fmt.Sprintf("%s is built from %s %q, want %s", p, want[0], got, want[1])
	}
	return ""
}

// installTools runs `go install tool` in kernel/tools when a tool is missing
// or at another version.
func installTools(ctx context.Context, w io.Writer, repo string) (string, error) {
	bin, err := GoBin(ctx)
	if err != nil {
		return "", err
	}
	want, err := ToolVersions(ctx, repo)
	if err != nil {
		return "", err
	}
	check := func() []string {
		var problems []string
		for _, t := range Tools {
			if p := toolProblem(ctx, t, bin, want[t.Name]); p != "" {
				problems = append(problems, p)
			}
		}
		return problems
	}
	summary := func() string {
		var parts []string
		for _, t := range Tools {
			parts = append(parts, fmt.Sprintf("%s %s", t.Name, want[t.Name][1]))
		}
		s := strings.Join(parts, ", ") + " in " + bin
		if !onPath("gonb", filepath.SplitList(os.Getenv("PATH"))) {
			s += fmt.Sprintf(" (not on your PATH; the kernel finds them; for your shell: export PATH=%q:$PATH)", bin)
		}
		return s
	}
	problems := check()
	if len(problems) == 0 {
		return "present: " + summary(), nil
	}
	fmt.Fprintf(w, "    %s\n    go install tool (in kernel/tools)\n", strings.Join(problems, "\n    "))
	dir := filepath.Join(repo, "kernel", "tools")
	if err := stream(ctx, w, dir, withEnv(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly"), "go", "install", "tool"); err != nil {
		return "", fmt.Errorf("%w: check that the Go module proxy is reachable (GOPROXY), then rerun", err)
	}
	if problems := check(); len(problems) > 0 {
		return "", fmt.Errorf("after go install: %s (is GOBIN=%s writable?)", strings.Join(problems, "; "), bin)
	}
	return "installed: " + summary(), nil
}

// BinaryModules returns the module versions recorded in a Go binary (`go
// version -m`): the main module and every dependency, by module path.
func BinaryModules(ctx context.Context, binary string) (map[string]string, error) {
	out, err := output(ctx, "", nil, "go", "version", "-m", binary)
	if err != nil {
		return nil, err
	}
	mods := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "mod" || f[0] == "dep") {
			mods[f[1]] = f[2]
		}
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("%s has no module information", binary)
	}
	return mods, nil
}

// installKernelspec writes the layervis kernelspec for this environment.
func installKernelspec(ctx context.Context) (string, error) {
	bin, err := GoBin(ctx)
	if err != nil {
		return "", err
	}
	gonb := ToolPath("gonb", bin)
	if gonb == "" {
		return "", errors.New("gonb not found: the tools step must succeed first")
	}
	cfg, err := ConfigFromEnv(gonb)
	if err != nil {
		return "", err
	}
	spec := NewSpec(cfg)
	if problems := CheckSpec(spec); len(problems) > 0 {
		return "", fmt.Errorf("the kernelspec would not work: %s", strings.Join(problems, "; "))
	}
	data, err := DataDir(ctx)
	if err != nil {
		return "", err
	}
	path := SpecPath(data, Name)
	changed, err := InstallSpec(path, spec)
	if err != nil {
		return "", err
	}
	verb := "unchanged"
	if changed {
		verb = "written"
	}
	return fmt.Sprintf("%s %s (GOEXPERIMENT=simd, %s=%s)", verb, path, "GOMLX_BACKEND", spec.Env["GOMLX_BACKEND"]), nil
}

// fetchAssets runs scripts/fetch-assets.sh when the checkout has it.
func fetchAssets(ctx context.Context, w io.Writer, repo string) (string, error) {
	script := filepath.Join(repo, "scripts", "fetch-assets.sh")
	if _, err := os.Stat(script); err != nil {
		return "WARNING: skipped, scripts/fetch-assets.sh is not in this checkout; notebooks that need the demo model say so", nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if err := stream(ctx, w, repo, withEnv(os.Environ(), "LAYERVIS_CACHE="+cache), "bash", script, cache); err != nil {
		return "", fmt.Errorf("%w: see its message above, fix it and rerun setup (or scripts/fetch-assets.sh alone)", err)
	}
	return "demo assets in " + cache, nil
}
