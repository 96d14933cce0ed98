package kernel

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireKernel returns the gonb binary and the environment under which
// jupyter uses a layervis kernelspec made by NewSpec from this process's
// environment (in a temporary JUPYTER_DATA_DIR), the kernel `setup`
// installs. Without jupyter nbconvert or gonb the test is skipped, or,
// when the environment variable CI is non-empty, fails: CI must execute the
// notebooks.
func requireKernel(t *testing.T) (env []string) {
	t.Helper()
	ctx := context.Background()
	missing := func(msg string) {
		msg += "; install with: make kernel (go run ./kernel/cmd/layervis-kernel setup)"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s\nCI must execute the notebooks", msg)
		}
		t.Skip(msg)
	}
	if _, err := jupyterPresent(ctx); err != nil {
		missing(err.Error())
	}
	bin, err := GoBin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gonb := ToolPath("gonb", bin)
	if gonb == "" {
		missing("gonb is not installed (not on PATH nor in " + bin + ")")
	}
	for _, tool := range []string{"goimports", "gopls"} {
		if ToolPath(tool, bin) == "" {
			missing(tool + " is not installed")
		}
	}
	cfg, err := ConfigFromEnv(gonb)
	if err != nil {
		t.Fatal(err)
	}
	spec := NewSpec(cfg)
	if p := CheckSpec(spec); len(p) > 0 {
		t.Fatalf("kernelspec: %s", strings.Join(p, "; "))
	}
	data := t.TempDir()
	if _, err := InstallSpec(SpecPath(data, Name), spec); err != nil {
		t.Fatal(err)
	}
	// Without GOEXPERIMENT here, simd reaches the cells only through the
	// kernelspec, so the notebooks' "GOEXPERIMENT=simd build: true" checks it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOEXPERIMENT=") {
			env = append(env, kv)
		}
	}
	return withEnv(env, "JUPYTER_DATA_DIR="+data)
}

// TestNotebooks executes every notebook in notebooks/ on the layervis
// kernel and checks its outputs against the expectations in its metadata;
// those include the backend description and "GOEXPERIMENT=simd build: true",
// which checks that the kernelspec's environment reaches the cells.
func TestNotebooks(t *testing.T) {
	if testing.Short() {
		t.Skip("executes every notebook (a minute or more); run without -short")
	}
	env := requireKernel(t)
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(root, "notebooks", "*.ipynb"))
	if len(paths) == 0 {
		t.Fatal("no notebooks in notebooks/")
	}
	// Notebooks whose executed HTML has sliders and t-SNE maps to try in
	// a browser (see checkExecutedHTML): the minimum of each.
	interactive := map[string][2]int{"01-quickstart.ipynb": {2, 0}, "02-method-in-depth.ipynb": {0, 1}}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			r, err := Execute(context.Background(), p, RunOptions{Env: env, Timeout: 10 * time.Minute, OutDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s in %s: %v", filepath.Base(p), r.Duration.Round(time.Second), r.Counts)
			if want, ok := interactive[filepath.Base(p)]; ok {
				t.Run("browser", func(t *testing.T) {
					sliders, maps := checkExecutedHTML(t, env, r.Executed)
					if sliders < want[0] || maps < want[1] {
						t.Errorf("the executed HTML has %d sliders and %d t-SNE maps, want at least %d and %d", sliders, maps, want[0], want[1])
					}
				})
			}
		})
	}
}

// TestRunnerCatchesFailures checks that the runner fails notebooks with
// errors, panics, error messages on standard error, unmet or missing
// expectations, and that -write puts a passing notebook's outputs in place.
func TestRunnerCatchesFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the kernel three times; run without -short")
	}
	env := requireKernel(t)
	tests := []struct {
		notebook string
		count    int      // number of problems
		want     []string // substrings of the problems, in order; several may be in one problem
	}{
		{"failing.ipynb", 6, []string{
			"cell 0: ERROR: failed to run", "declared and not used: unused", // a compile error, with GoNB's message
			"cell 1: standard error reports a failure:\n    panic: boom", // panic("boom"): on stderr, then
			"cell 1: ERROR: exit status 2",                               //                               an error output
			"cell 2: standard error reports a failure",                   // "Error: disk on fire" on stderr
			"expected at least 1 image/png outputs, got 0",
			`expected the text "never printed"`,
		}},
		{"noexpect.ipynb", 1, []string{"no expectations"}},
	}
	for _, tc := range tests {
		t.Run(tc.notebook, func(t *testing.T) {
			r, err := Execute(context.Background(), filepath.Join("testdata", tc.notebook), RunOptions{Env: env, Timeout: 5 * time.Minute})
			if err == nil {
				t.Fatal("the runner passed a failing notebook")
			}
			if len(r.Problems) != tc.count {
				t.Errorf("%d problems, want %d:\n%s", len(r.Problems), tc.count, strings.Join(r.Problems, "\n"))
			}
			// Each wanted substring is found in order, in the same or a later problem.
			i := 0
			for _, w := range tc.want {
				for i < len(r.Problems) && !strings.Contains(r.Problems[i], w) {
					i++
				}
				if i == len(r.Problems) {
					t.Fatalf("no problem (in order) contains %q; problems:\n%s", w, strings.Join(r.Problems, "\n"))
				}
			}
		})
	}
	t.Run("write in place", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join("testdata", "hello.ipynb"))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "hello.ipynb")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Execute(context.Background(), path, RunOptions{Env: env, InPlace: true, Timeout: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		nb, err := ReadNotebook(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Executed != path || nb.Counts()["stream/stdout"] != 1 || len(nb.Problems()) != 0 {
			t.Errorf("after -write: executed %q, counts %v, problems %q", r.Executed, nb.Counts(), nb.Problems())
		}
	})
}

// TestSetupDetectsInstalled checks that on a machine where setup ran, its
// apt and tools steps find their work done (and so change nothing).
func TestSetupDetectsInstalled(t *testing.T) {
	requireKernel(t)
	ctx := context.Background()
	if _, err := exec.LookPath("dpkg-query"); err == nil {
		if m := missingDebs(ctx, append(AptPackages, InteractivePackages...)); len(m) > 0 {
			t.Errorf("Debian packages %v not reported installed, though jupyter runs (make kernel installs them)", m)
		}
	}
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ToolVersions(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if want["gonb"] != [2]string{"github.com/janpfeifer/gonb", GonbVersion} {
		t.Errorf("kernel/tools pins gonb at %v, want %s", want["gonb"], GonbVersion)
	}
	bin, err := GoBin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range Tools {
		if p := toolProblem(ctx, tool, bin, want[tool.Name]); p != "" {
			t.Errorf("%s: %s (run setup again)", tool.Name, p)
		}
	}
}

func TestDoctor(t *testing.T) {
	env := requireKernel(t)
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	var data string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "JUPYTER_DATA_DIR="); ok {
			data = v
		}
	}
	tests := []struct {
		name     string
		dataDir  string
		specOK   bool
		reportOK bool
	}{
		{"kernel installed", data, true, true},
		{"no kernelspec", t.TempDir(), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("JUPYTER_DATA_DIR", tc.dataDir)
			// Jupyter also reads kernelspecs from Python's user site (~/.local/share/jupyter).
			t.Setenv("PYTHONNOUSERSITE", "1")
			checks := Doctor(context.Background(), root)
			got := map[string]Check{}
			for _, c := range checks {
				got[c.Name] = c
			}
			for _, name := range []string{"go", "jupyter nbconvert", "jupyter nbclient", "jupyter notebook", "gonb", "goimports", "gopls", "backend"} {
				if c := got[name]; !c.OK || !c.Required {
					t.Errorf("check %q = %+v, want a passed required check", name, c)
				}
			}
			spec := got["kernelspec "+Name]
			if spec.OK != tc.specOK || !spec.Required || !strings.Contains(spec.Detail, tc.dataDir) {
				t.Errorf("kernelspec check = %+v, want OK=%v naming %s", spec, tc.specOK, tc.dataDir)
			}
			if !spec.OK && !strings.Contains(spec.Fix, "setup") {
				t.Errorf("kernelspec fix %q does not say to run setup", spec.Fix)
			}
			var out strings.Builder
			if ok := Report(&out, checks); ok != tc.reportOK {
				t.Errorf("Report = %v, want %v:\n%s", ok, tc.reportOK, out.String())
			}
			if !tc.reportOK && !strings.Contains(out.String(), "FAIL kernelspec layervis") {
				t.Errorf("report does not flag the kernelspec:\n%s", out.String())
			}
		})
	}
}
