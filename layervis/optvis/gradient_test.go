package optvis

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
)

// tinyNet is a smooth two-layer network on images x [2, 3, 6, 6]: "a" is
// softplus of a 1×1 convolution (4 channels), "v" the pooled vector of "a"
// times a matrix (3 units).
func tinyNet(x *Node) Acts {
	g := x.Graph()
	rng := rand.New(rand.NewPCG(11, 12))
	w1 := Reshape(Const(g, randn(rng, 4*3)), 4, 3)
	a := Einsum("oc,bchw->bohw", w1, x)
	a = Log1p(Exp(a)) // softplus: smooth and positive
	w2 := Reshape(Const(g, randn(rng, 3*4)), 3, 4)
	v := Einsum("uc,bc->bu", w2, Pooled(a))
	return Acts{"a": a, "v": v, ImageLayer: x}
}

// TestObjectiveGradients checks every objective's gradient w.r.t. the
// input of a tiny network against central finite differences along a
// random direction.
func TestObjectiveGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	vec := randn(rng, 4)
	weights := randn(rng, 2*4)
	target := randn(rng, 2*4)
	for _, o := range []Objective{
		Channel("a", 1),
		Channel("v", 2),
		ClassLogit("v", 0),
		Neuron("a", 3),
		Neuron("a", 0, 1, 4),
		DeepDream("a"),
		Direction("a", vec, 0),
		Direction("a", vec, 1),
		DirectionNeuron("a", vec, 0),
		Diversity("a"),
		L1(ImageLayer, 0.5),
		L2(ImageLayer, 0.5),
		TV(ImageLayer),
		ChannelSet("a", weights),
		PooledDistance("a", target),
		Channel("a", 2).At(1),
		Sum(Channel("a", 1).Scale(2), DeepDream("a").Neg(), TV(ImageLayer).Scale(-0.01)),
	} {
		t.Run(o.Name(), func(t *testing.T) { checkGradient(t, o, rng) })
	}
}

func checkGradient(t *testing.T, o Objective, rng *rand.Rand) {
	b := backend.MustGet()
	exec := MustNewExec(b, func(x, d *Node) (*Node, *Node) {
		f := o.Build(tinyNet(x))
		grad := Gradient(f, x)[0]
		return f, ReduceAllSum(Mul(grad, d))
	})
	defer exec.Finalize()
	const n = 2 * 3 * 6 * 6
	x0, d := make([]float32, n), make([]float32, n)
	// A ramp plus a little noise: away from the kinks of L1 (at 0.5) and
	// TV (equal neighbours), so that finite differences are meaningful.
	for i := range x0 {
		row, col := i/6%6, i%6
		x0[i] = 0.6 + 0.02*float32(row) + 0.05*float32(col) + 0.003*rng.Float32()
		d[i] = float32(rng.NormFloat64())
	}
	eval := func(eps float64) (f, dd float64) {
		x := make([]float32, n)
		for i := range x {
			x[i] = x0[i] + float32(eps)*d[i]
		}
		out := exec.MustExec(tensors.FromFlatDataAndDimensions(x, 2, 3, 6, 6), tensors.FromFlatDataAndDimensions(d, 2, 3, 6, 6))
		return float64(flat(t, out[0])[0]), float64(flat(t, out[1])[0])
	}
	const eps = 5e-4
	_, analytic := eval(0)
	fp, _ := eval(eps)
	fm, _ := eval(-eps)
	numeric := (fp - fm) / (2 * eps)
	if err := math.Abs(numeric - analytic); err > 2e-2*math.Max(1, math.Abs(analytic)) {
		t.Errorf("directional derivative: analytic %.6g, finite differences %.6g", analytic, numeric)
	}
}
