package optvis

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
)

// TestFedData checks the pieces a caller's own step composes (Fed data,
// ScaleBy, Offset, Share, folded Scale) against the same sums in float64:
// the Mind's Eye dual objective of 5 images computed over the whole batch
// with fixed data, and as the sum of the shares of micro-batches of 2, 2
// and 1 with the data fed.
func TestFedData(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const k, c, hw = 5, 4, 9
	x := randn(rng, k*c*hw) // "a" [k, c, 3, 3]
	p := randn(rng, k*6)    // "p" [k, 6]
	w, tg := randn(rng, k*c), randn(rng, k*c)
	const lambda, scale, off = 0.3, 25.0, -1.25
	dual := func(wt, tgt, lam Data) Objective {
		return Sum(
			ChannelSetOf("a", wt),
			PooledDistanceOf("a", tgt).Offset(off).Scale(scale).Share(k),
			L1("p", 0).ScaleBy(lam).Scale(-2),
		)
	}
	// The float64 reference over the whole batch.
	var act, dist, l1 float64
	for b := range k {
		for j := range c {
			m := 0.0
			for i := range hw {
				m += float64(x[(b*c+j)*hw+i])
			}
			m /= hw
			act += float64(w[b*c+j]) * m
			r := m - float64(tg[b*c+j])
			dist += math.Sqrt(r*r+1) - 1
		}
	}
	dist = scale * (-dist/(k*c) + off)
	for _, v := range p {
		l1 += math.Abs(float64(v))
	}
	l1 *= -2 * lambda
	want := []float64{act, dist, l1}

	fixed := dual(Fixed(w...), Fixed(tg...), Fixed(lambda))
	if got := fixed.Layers(); len(got) != 2 {
		t.Errorf("Layers() = %v, want [a p]", got)
	}
	whole := evalTerms(t, fixed, x, p, nil, nil, 0, k, c)
	fed := dual(Fed("w"), Fed("t"), Fed("lambda"))
	shares := make([]float64, 3)
	for _, r := range [][2]int{{0, 2}, {2, 4}, {4, 5}} {
		for i, v := range evalTerms(t, fed, x, p, w, tg, r[0], r[1], c) {
			shares[i] += v
		}
	}
	for i, name := range []string{"activation", "distance", "L1"} {
		tol := 1e-5 * math.Max(1, math.Abs(want[i]))
		if math.Abs(whole[i]-want[i]) > tol {
			t.Errorf("%s over the batch = %.7g, float64 %.7g", name, whole[i], want[i])
		}
		// The L1 term is not an average over the batch (Σ|P| over it), so
		// its shares add up without Share.
		if math.Abs(shares[i]-want[i]) > tol {
			t.Errorf("%s as the sum of micro-batch shares = %.7g, float64 %.7g", name, shares[i], want[i])
		}
	}
	if !strings.Contains(fixed.Terms()[1].Name(), "25·") || !strings.Contains(fixed.Terms()[1].Name(), "/5") {
		t.Errorf("distance term is named %q; want its scale and share in the name", fixed.Terms()[1].Name())
	}
}

// evalTerms evaluates obj's terms on images lo..hi−1 of "a" [k, c, 3, 3]
// and "p" [k, 6]; with w != nil the weights, target and λ = 0.3 are fed.
func evalTerms(t *testing.T, obj Objective, x, p, w, tg []float32, lo, hi, c int) []float64 {
	t.Helper()
	n := hi - lo
	args := []any{
		tensors.FromFlatDataAndDimensions(x[lo*c*9:hi*c*9], n, c, 3, 3),
		tensors.FromFlatDataAndDimensions(p[lo*6:hi*6], n, 6),
	}
	fn := func(in []*Node) []*Node {
		a := Acts{"a": in[0], "p": in[1]}
		if len(in) > 2 {
			a["w"], a["t"], a["lambda"] = in[2], in[3], in[4]
		}
		var out []*Node
		for _, term := range obj.Terms() {
			out = append(out, term.Build(a))
		}
		return out
	}
	if w != nil {
		args = append(args, tensors.FromFlatDataAndDimensions(w[lo*c:hi*c], n, c),
			tensors.FromFlatDataAndDimensions(tg[lo*c:hi*c], n, c), float32(0.3))
	}
	exec := MustNewExec(backend.MustGet(), fn)
	defer exec.Finalize()
	out := exec.MustExec(args...)
	vals := make([]float64, len(out))
	for i, o := range out {
		vals[i] = float64(flat(t, o)[0])
	}
	return vals
}

// TestFedRefused checks that Render and Evaluate, which feed nothing,
// refuse an objective that reads fed data, with an error naming the input,
// and that building one without its input panics with the input's name.
func TestFedRefused(t *testing.T) {
	m := tiny(t)
	obj := ChannelSetOf("layer1", Fed("mine:w"))
	_, err := Render(t.Context(), nil, m, Sum(Channel("layer1", 0), obj)).Size(32).Steps(1).Done()
	if err == nil || !strings.Contains(err.Error(), `"mine:w"`) || !strings.Contains(err.Error(), "Fixed") {
		t.Errorf("Render with fed data: err = %v, want one naming the input and optvis.Fixed", err)
	}
	// A graph-building panic must not reach Exec (see checkBuild).
	err = checkBuild(backend.MustGet(), m, "fed", []shapes.Shape{shapes.Make(dtypes.Float32, 2, 3)}, func(in []*Node) {
		obj.Build(Acts{"layer1": in[0]})
	})
	if err == nil || !strings.Contains(err.Error(), `"mine:w"`) {
		t.Errorf("Build without the input: err = %v, want one naming it", err)
	}
}
