package bench

import (
	"slices"
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
