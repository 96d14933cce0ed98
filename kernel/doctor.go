package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/backend"
)

// Check is one item of [Doctor]'s report.
type Check struct {
	Name     string
	OK       bool
	Required bool   // a failed required check makes the kernel unusable
	Detail   string // what was found
	Fix      string // what to do when not OK
}

const setupCmd = "go run ./kernel/cmd/layervis-kernel setup"

// Doctor checks every piece the layervis kernel needs: Go, Jupyter
// (nbconvert, nbclient, jupyter_client, ipykernel, and the notebook server
// for make jupyter), gonb, goimports and gopls at the pinned versions, the
// kernelspec and its environment, a warm build cache, the backend the kernel
// will use, the demo assets, and PyTorch for the checkpoint notebook.
func Doctor(ctx context.Context, repo string) []Check {
	var checks []Check
	add := func(c Check) { checks = append(checks, c) }

	if out, err := output(ctx, "", nil, "go", "version"); err != nil {
		add(Check{Name: "go", Required: true, Detail: err.Error(), Fix: "install Go 1.26.8 and put its bin directory on PATH"})
	} else {
		add(Check{Name: "go", Required: true, OK: true, Detail: strings.TrimSpace(out)})
	}

	jupyter := jupyterVersions(ctx)
	aptFix := "run " + setupCmd + " (Debian packages " + strings.Join(AptPackages, " ") + ")"
	for _, comp := range []string{"nbconvert", "nbclient", "jupyter_client", "ipykernel", "notebook"} {
		v, ok := jupyter[comp]
		c := Check{Name: "jupyter " + comp, Required: true, OK: ok, Detail: v, Fix: aptFix}
		if !ok {
			c.Detail = "not found"
			if e, ok := jupyter["error"]; ok {
				c.Detail = e
			}
		}
		if comp == "notebook" {
			// make jupyter runs `jupyter notebook`, which runs this command.
			c.Fix = "run make kernel, or " + setupCmd + " (Debian package " + strings.Join(InteractivePackages, " ") + "), for make jupyter"
			if p, err := exec.LookPath("jupyter-notebook"); err != nil {
				c.OK, c.Detail = false, "the jupyter-notebook command is not on PATH (`jupyter notebook` fails)"
			} else if ok {
				c.Detail += " (" + p + ")"
			}
		}
		add(c)
	}

	bin, err := GoBin(ctx)
	want, verr := ToolVersions(ctx, repo)
	for _, t := range Tools {
		c := Check{Name: t.Name, Required: true, Fix: "run " + setupCmd + " (go install tool, in kernel/tools)"}
		switch {
		case err != nil:
			c.Detail = err.Error()
		case verr != nil:
			c.Detail = verr.Error()
		default:
			if p := toolProblem(ctx, t, bin, want[t.Name]); p != "" {
				c.Detail = p
			} else {
				c.OK, c.Detail = true, fmt.Sprintf("%s %s", filepath.Join(bin, t.Name), want[t.Name][1])
			}
		}
		add(c)
	}

	spec, specPath, specErr := installedSpec(ctx)
	sc := Check{Name: "kernelspec " + Name, Required: true, Fix: "run " + setupCmd}
	if specErr != nil {
		sc.Detail = specErr.Error()
	} else if problems := CheckSpec(spec); len(problems) > 0 {
		sc.Detail = specPath + ": " + strings.Join(problems, "; ")
	} else {
		sc.OK = true
		sc.Detail = fmt.Sprintf("%s: GOEXPERIMENT=%s %s=%s LAYERVIS_CACHE=%s", specPath,
			spec.Env["GOEXPERIMENT"], backend.EnvVar, spec.Env[backend.EnvVar], spec.Env["LAYERVIS_CACHE"])
		if cur := os.Getenv(backend.EnvVar); cur != "" && cur != spec.Env[backend.EnvVar] {
			sc.Detail += fmt.Sprintf(" (your shell has %s=%s; rerun setup to give the kernel that backend)", backend.EnvVar, cur)
		}
	}
	add(sc)

	be := backend.Config()
	if specErr == nil && spec.Env[backend.EnvVar] != "" {
		be = spec.Env[backend.EnvVar]
	}
	bc := Check{Name: "backend", Required: true,
		Fix: "fix " + backend.EnvVar + " (unset means pure Go) and rerun " + setupCmd}
	if b, err := backend.New(be); err != nil {
		bc.Detail = err.Error()
	} else {
		bc.OK, bc.Detail = true, backend.Describe(b)+" (SIMD as built into this command; the kernel builds with its GOEXPERIMENT)"
		b.Finalize()
	}
	add(bc)
	if name, plugin, _ := strings.Cut(be, ":"); name == "xla" && strings.ContainsRune(plugin, os.PathSeparator) {
		plugin, _, _ = strings.Cut(plugin, ",")
		pc := Check{Name: "xla plugin", Required: true, Detail: plugin,
			Fix: "point " + backend.EnvVar + " at an existing PJRT plugin .so (e.g. jax's xla_cuda_plugin.so) and rerun setup"}
		if _, err := os.Stat(plugin); err == nil {
			pc.OK = true
		} else {
			pc.Detail = err.Error()
		}
		add(pc)
	}

	cache, cerr := CacheDir()
	wc := Check{Name: "go build cache", Required: false,
		Fix: "run " + setupCmd + " to compile them now; otherwise the first notebook cell does (2-3 minutes when GoMLX is cold)"}
	if cerr != nil {
		wc.Detail = cerr.Error()
	} else if cold, total, err := ColdPackages(ctx, filepath.Join(cache, "kernel", "warm")); err != nil {
		wc.Detail = err.Error()
	} else if len(cold) > 0 {
		wc.Detail = fmt.Sprintf("%d of %d notebook packages not compiled, e.g. %s", len(cold), total, cold[0])
	} else {
		wc.OK, wc.Detail = true, fmt.Sprintf("warm: all %d notebook packages compiled (GOEXPERIMENT=simd)", total)
	}
	add(wc)

	ac := Check{Name: "demo assets", Fix: "run " + assets.FetchHint + " (or " + setupCmd + ")"}
	if _, err := os.Stat(filepath.Join(repo, "scripts", "fetch-assets.sh")); err != nil {
		ac.Fix = "scripts/fetch-assets.sh is not in this checkout yet; notebooks that need the demo model say so"
	}
	if model, err := assets.DemoModel(); err != nil {
		ac.Detail = err.Error()
	} else if photos, err := assets.DemoPhotos(); err != nil {
		ac.Detail = err.Error()
	} else {
		ac.OK, ac.Detail = true, fmt.Sprintf("demo model in %s, %d photos", model, len(photos))
	}
	add(ac)

	tc := Check{Name: "pytorch", Detail: "/usr/bin/python3 imports torch and torchvision",
		Fix: "apt-get install python3-torch python3-torchvision (make deps); without it notebook 03 uses random weights made in Go"}
	if _, err := output(ctx, "", nil, "/usr/bin/python3", "-c", "import torch, torchvision"); err == nil {
		tc.OK = true
	} else {
		tc.Detail = err.Error()
	}
	add(tc)
	return checks
}

// Report prints checks, one line each with the fix under failed ones, and
// returns false when a required check failed.
func Report(w io.Writer, checks []Check) bool {
	ok := true
	for _, c := range checks {
		mark := "ok  "
		switch {
		case !c.OK && c.Required:
			mark, ok = "FAIL", false
		case !c.OK:
			mark = "warn"
		}
		fmt.Fprintf(w, "%s %-24s %s\n", mark, c.Name, c.Detail)
		if !c.OK {
			fmt.Fprintf(w, "     %-24s fix: %s\n", "", c.Fix)
		}
	}
	return ok
}

// jupyterVersions parses `jupyter --version`: component name → version,
// only for installed components; "error" holds why it could not run.
func jupyterVersions(ctx context.Context) map[string]string {
	v := map[string]string{}
	jup, err := exec.LookPath("jupyter")
	if err != nil {
		v["error"] = "jupyter is not on PATH"
		return v
	}
	out, err := output(ctx, "", nil, jup, "--version")
	if err != nil {
		v["error"] = err.Error()
		return v
	}
	for _, line := range strings.Split(out, "\n") {
		name, ver, ok := strings.Cut(line, ":")
		name, ver = strings.TrimSpace(name), strings.TrimSpace(ver)
		if ok && ver != "" && ver != "not installed" {
			v[name] = ver
		}
	}
	return v
}

// installedSpec finds the layervis kernelspec the way Jupyter does
// (`jupyter kernelspec list --json`), or, without Jupyter, in [DataDir].
func installedSpec(ctx context.Context) (Spec, string, error) {
	if jup, err := exec.LookPath("jupyter"); err == nil {
		out, err := output(ctx, "", nil, jup, "kernelspec", "list", "--json")
		if err != nil {
			return Spec{}, "", err
		}
		var list struct {
			Kernelspecs map[string]struct {
				ResourceDir string `json:"resource_dir"`
			} `json:"kernelspecs"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return Spec{}, "", fmt.Errorf("jupyter kernelspec list: %w", err)
		}
		ks, ok := list.Kernelspecs[Name]
		if !ok {
			where := "its data directory"
			if d, err := DataDir(ctx); err == nil {
				where = SpecPath(d, Name)
			}
			return Spec{}, "", fmt.Errorf("jupyter has no kernel named %q (setup writes it to %s)", Name, where)
		}
		p := filepath.Join(ks.ResourceDir, "kernel.json")
		s, err := ReadSpec(p)
		return s, p, err
	}
	data, err := DataDir(ctx)
	if err != nil {
		return Spec{}, "", err
	}
	p := SpecPath(data, Name)
	s, err := ReadSpec(p)
	return s, p, err
}
