package tfjs

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/internal/pyref"
	"github.com/layervis/layervis/layervis/nn"
)

// demoStep builds the network part of a Mind's Eye step on the demo model
// for x: the target and penalty layers and the gradient of a loss of both
// with respect to x.
func demoStep(m *Model, x *Node) (loss, grad *Node) {
	ls := m.Build(x, demoTarget, demoPenalty)
	loss = Add(ReduceAllMean(ls[0]), ReduceAllMean(Abs(ls[1])))
	return loss, Gradient(loss, x)[0]
}

// TestDemoStepConvolutions counts the convolutions of the demo model's
// Mind's Eye step built in the standard form (the one XLA gets): GoMLX's own
// gradient of a depthwise convolution is one convolution per channel; nn's
// is one, so the backward pass has at most two per forward convolution (the
// input gradient, and a kernel gradient XLA drops as unused).
func TestDemoStepConvolutions(t *testing.T) {
	m := requireDemo(t)
	t.Setenv(nn.FormEnvVar, "standard")
	g := NewGraph(backend.MustGet(), "step")
	defer g.Finalize()
	model.SetStore(g, m.Store())
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 4, 3, 128, 128))
	m.Build(x, demoTarget, demoPenalty)
	forward := countConvs(g)
	demoStep(m, Parameter(g, "x2", x.Shape()))
	backward := countConvs(g) - 2*forward
	t.Logf("demo step, standard form: %d convolutions forward, %d backward", forward, backward)
	if forward < 20 || backward > 2*forward {
		t.Errorf("demo step: %d convolutions forward, %d backward; want ≥ 20 and backward ≤ 2× forward", forward, backward)
	}
}

func countConvs(g *Graph) int {
	n := 0
	for _, node := range g.Nodes() {
		if node.Type() == NodeTypeConvGeneral {
			n++
		}
	}
	return n
}

// TestDemoStepFormsAgree runs the demo step in both forms on the pure-Go
// backend, at a small size: the standard form's gradient (XLA's graph, with
// nn's grouped-convolution gradient) must match the im2col form's, which
// multiplies by the copies of the kernels the model keeps (nn.SetKeeper).
func TestDemoStepFormsAgree(t *testing.T) {
	m := requireDemo(t)
	rng := rand.New(rand.NewPCG(3, 5))
	data := make([]float32, 2*3*64*64)
	for i := range data {
		data[i] = 255 * rng.Float32()
	}
	x := tensors.FromFlatDataAndDimensions(data, 2, 3, 64, 64)
	var res [2][2][]float32
	for i, form := range []string{"standard", "im2col"} {
		t.Setenv(nn.FormEnvVar, form)
		exec, err := model.NewExec(backend.MustGet(), m.Store(), func(_ *model.Scope, x *Node) (*Node, *Node) {
			return demoStep(m, x)
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(x)
		if err != nil {
			t.Fatal(err)
		}
		res[i] = [2][]float32{tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])}
	}
	if m.copies.Len() == 0 {
		t.Error("the im2col form's gradient multiplied by no kept copy of a kernel")
	}
	for j, what := range []string{"loss", "input gradient"} {
		if d := pyref.RelErr(res[0][j], res[1][j]); d > 1e-4 {
			t.Errorf("%s: standard vs im2col rel diff %.3g > 1e-4", what, d)
		} else {
			t.Logf("%s: standard vs im2col rel diff %.3g", what, d)
		}
	}
}
