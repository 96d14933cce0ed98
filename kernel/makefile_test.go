package kernel

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMakefile checks what make runs (make -n prints the commands): make
// kernel installs the notebook server that make jupyter needs (no
// -headless), and make demo says it is building before the long, silent
// first build and runs what it built.
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
