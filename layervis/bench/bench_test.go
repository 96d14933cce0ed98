package bench

import (
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/torchvision"
)

func TestStep(t *testing.T) {
	m, err := torchvision.Random("resnet18", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(backend.MustGet(), m, "layer9", 0.1); err == nil || !strings.Contains(err.Error(), "closest") {
		t.Errorf("unknown layer: %v", err)
	}
	step, err := Compile(backend.MustGet(), m, "layer2", 0.1)
	if err != nil {
		t.Fatal(err)
	}
	x := Input(m, 2, 32)
	if d := x.Shape().Dimensions; !slices.Equal(d, []int{2, 3, 32, 32}) {
		t.Fatalf("input shape %v", d)
	}
	before := tensors.MustCopyFlatData[float32](x)
	after := tensors.MustCopyFlatData[float32](step.MustExec(x)[0])
	if slices.Equal(before, after) {
		t.Error("the step did not change the input")
	}
	if CPUTime() <= 0 {
		t.Error("no CPU time measured")
	}
}

// TestOpprofScript runs scripts/opprof.sh on TestStep and checks that its
// table times the step's ops: the script patches a copy of compute, so a
// new compute version that moves the executor breaks it loudly here.
func TestOpprofScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a patched copy of compute (~30 s)")
	}
	if !backend.IsGo(backend.MustGet()) {
		t.Skip("the table times the pure-Go backend's executor")
	}
	cmd := exec.Command("bash", "scripts/opprof.sh", "-shapes", "-run", "^TestStep$", "./layervis/bench/")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/opprof.sh: %v\n%s", err, out)
	}
	// A row per op and shapes: the products of ResNet-18's stem at 32²
	// (patches of 7·7·3 values × [147, 64]) must be there, with a time.
	re := regexp.MustCompile(`(?m)^DotGeneral \[[0-9 ]+ 64\] <-\[[0-9 ]+ 147\] <-\[147 64\]\s+([0-9.]+)\s+([0-9.]+)`)
	m := re.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no row for the stem's product in:\n%s", out)
	}
	if ms, _ := strconv.ParseFloat(string(m[1]), 64); ms <= 0 {
		t.Errorf("stem product timed at %s ms:\n%s", m[1], out)
	}
	if !strings.Contains(string(out), "per execution (") {
		t.Errorf("no header in:\n%s", out)
	}
}
