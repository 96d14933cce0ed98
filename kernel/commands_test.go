package kernel

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMakefile checks what make runs (make -n prints the commands): make
// kernel installs the notebook server that make jupyter needs (no
// -headless), make fuzz bounds the fuzzer's minimization, and make demo
// says it is building before the long, silent first build and runs what it
// built.
func TestMakefile(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dry := func(target string) []string {
		out, err := exec.Command("make", "-n", "-s", "-C", root, target).Output()
		if err != nil {
			t.Fatalf("make -n %s: %v", target, err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	kernel := dry("kernel")
	if last := kernel[len(kernel)-1]; !strings.Contains(last, "layervis-kernel setup") || strings.Contains(last, "-headless") {
		t.Errorf("make kernel runs %q, want the full setup (with jupyter-notebook, for make jupyter)", last)
	}
	if jup := dry("jupyter"); !strings.Contains(jup[len(jup)-1], "layervis-kernel notebook") {
		t.Errorf("make jupyter runs %q, want layervis-kernel notebook", jup[len(jup)-1])
	}
	if fuzz := strings.Join(dry("fuzz"), "\n"); !strings.Contains(fuzz, "scripts/fuzz.sh") {
		t.Errorf("make fuzz does not run scripts/fuzz.sh:\n%s", fuzz)
	}
	if script, err := os.ReadFile(filepath.Join(root, "scripts", "fuzz.sh")); err != nil || !strings.Contains(string(script), "-fuzzminimizetime") {
		t.Errorf("scripts/fuzz.sh does not bound the fuzzer's minimization (a short run would only minimize): %v", err)
	}
	demo := dry("demo")
	say, build, run := -1, -1, -1
	for i, l := range demo {
		switch {
		case strings.HasPrefix(l, "echo ") && strings.Contains(l, "building examples/mindseye"):
			say = i
		case strings.Contains(l, " build ") && strings.Contains(l, "./examples/mindseye"):
			build = i
		case strings.HasPrefix(l, "out/bin/mindseye "):
			run = i
		}
	}
	if say < 0 || build < say || run < build {
		t.Errorf("make demo should announce the build, build, then run the binary; it runs:\n%s", strings.Join(demo, "\n"))
	}
}

// TestQuickstartSettings checks that notebook 01 runs the settings of make
// demo: its run starts from mindseye.Quick(mindseye.Clean()), which
// examples/mindseye's defaults come from, and changes nothing but the
// backend, the model, the photos and the output folder; that it runs make
// demo's default variant, the toolbox, as examples/mindseye does; and that
// it says so.
func TestQuickstartSettings(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	nb, err := ReadNotebook(filepath.Join(root, "notebooks", "01-quickstart.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var all, run string
	for _, c := range nb.Cells {
		all += string(c.Source) + "\n"
		if c.Type == "code" && strings.Contains(string(c.Source), "mindseye.New(cfg)") {
			run = string(c.Source)
		}
	}
	if !regexp.MustCompile(`(?m)^var quick = mindseye\.Quick\(mindseye\.Clean\(\)\)$`).MatchString(all) {
		t.Error("notebook 01 does not declare quick = mindseye.Quick(mindseye.Clean()), make demo's settings")
	}
	if !strings.Contains(run, "cfg := quick") {
		t.Errorf("notebook 01's run does not start from quick:\n%s", run)
	}
	for _, m := range regexp.MustCompile(`cfg\.(\w+)(?:\s*,\s*cfg\.(\w+))*\s*=[^=]`).FindAllStringSubmatch(run, -1) {
		for _, f := range regexp.MustCompile(`cfg\.(\w+)`).FindAllStringSubmatch(strings.Split(m[0], "=")[0], -1) {
			if f[1] != "Backend" && f[1] != "Model" && f[1] != "Images" && f[1] != "Out" {
				t.Errorf("notebook 01's run sets cfg.%s, so it no longer runs make demo's settings", f[1])
			}
		}
	}
	if !strings.Contains(run, "r.ToolboxRender(ctx, optvis.FourierParam(), mindseye.ToolboxLR,") || strings.Contains(run, "r.Step(") {
		t.Errorf("notebook 01's run is not make demo's default variant (r.ToolboxRender(ctx, optvis.FourierParam(), mindseye.ToolboxLR, ...), no Step):\n%s", run)
	}
	if main, err := os.ReadFile(filepath.Join(root, "examples", "mindseye", "main.go")); err != nil {
		t.Error(err)
	} else if !strings.Contains(string(main), "r.ToolboxRender(ctx, optvis.FourierParam(), mindseye.ToolboxLR,") {
		t.Error("examples/mindseye no longer runs r.ToolboxRender(ctx, optvis.FourierParam(), mindseye.ToolboxLR, ...): update notebook 01 and this test")
	}
	if !strings.Contains(all, "quick settings* of\n`make demo`") {
		t.Error("notebook 01 does not say it runs the settings of make demo")
	}
}

// TestFuzzScript runs scripts/fuzz.sh with a stand-in go command: a run
// that ends with Go 1.26's spurious "context deadline exceeded" and writes
// no failing input passes (golang/go#75804), one that writes a failing
// input fails, and so does any other failure.
func TestFuzzScript(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, test string // the stand-in's "go test" body
		pass       bool
	}{
		{"clean", `exit 0`, true},
		{"deadline race", `echo '--- FAIL: FuzzX (10.36s)'; echo '    context deadline exceeded'; exit 1`, true},
		{"failing input", `mkdir -p "$PKG/testdata/fuzz/FuzzX"; touch "$PKG/testdata/fuzz/FuzzX/abc"; echo '    context deadline exceeded'; echo 'Failing input written to testdata/fuzz/FuzzX/abc'; exit 1`, false},
		{"other failure", `echo 'panic: boom'; exit 1`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkg := t.TempDir()
			if err := os.WriteFile(filepath.Join(pkg, "x_test.go"), []byte("package x\n\nfunc FuzzX(f *testing.F) {}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			stub := filepath.Join(t.TempDir(), "go")
			body := "#!/usr/bin/env bash\nPKG=" + pkg + "\ncase \"$1 $2\" in\n" +
				"\"list ./...\") echo example.com/x ;;\n" +
				"\"list -f\") echo \"$PKG\" ;;\n" +
				"*) " + tc.test + " ;;\nesac\n"
			if err := os.WriteFile(stub, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(filepath.Join(root, "scripts", "fuzz.sh"))
			cmd.Env = append(os.Environ(), "GO="+stub)
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.pass {
				t.Errorf("fuzz.sh: %v, want pass=%v\n%s", err, tc.pass, out)
			}
		})
	}
}
