package optvis

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/pyref"
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
	_, err := Render(t.Context(), backend.MustGet(), m, Sum(Channel("layer1", 0), obj)).Size(32).Steps(1).Done()
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

// TestNesterov checks the masked update against torch.optim.SGD with
// Nesterov momentum over three steps (the mask applied to the gradient).
func TestNesterov(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	n := Nesterov{Momentum: 0.9}
	const lr = 0.3
	p, mask := randn(rng, 10), randn(rng, 10)
	grads := [][]float32{randn(rng, 10), randn(rng, 10), randn(rng, 10)}
	var want struct{ Out []float64 }
	pyref.JSON(t, []string{"torch"}, refScript, "nesterov", map[string]any{"p": p, "mask": mask, "grads": grads,
		"lr": lr, "momentum": n.Momentum}, &want)
	first := MustNewExec(backend.MustGet(), func(p, g, m, lr *Node) (*Node, *Node) {
		return n.Update(p, g, m, nil, lr)
	})
	defer first.Finalize()
	next := MustNewExec(backend.MustGet(), func(p, g, m, buf, lr *Node) (*Node, *Node) {
		return n.Update(p, g, m, buf, lr)
	})
	defer next.Finalize()
	pt, mt := tensors.FromFlatDataAndDimensions(p, 10), tensors.FromFlatDataAndDimensions(mask, 10)
	var buf *tensors.Tensor
	for i, g := range grads {
		gt := tensors.FromFlatDataAndDimensions(g, 10)
		var out []*tensors.Tensor
		if i == 0 {
			out = first.MustExec(pt, gt, mt, float32(lr))
		} else {
			out = next.MustExec(pt, gt, mt, buf, float32(lr))
		}
		pt, buf = out[0], out[1]
	}
	if e := pyref.RelErr(flat(t, pt), f32(want.Out)); e > 1e-6 {
		t.Errorf("relative error %.2g against torch.optim.SGD(nesterov=True) after 3 steps", e)
	}
}

// TestLevels checks that 8-bit levels survive the step space and the
// quantization unchanged (with and without the channel swap), that the
// step space is the convention's normalization of the levels, and that
// Quantize8 rounds half to even and clips.
func TestLevels(t *testing.T) {
	in := cnn.Input{Range: [2]float32{0, 1}, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}
	lv := make([]float32, 2*3*3*3)
	for i := range lv {
		lv[i] = float32((i * 37) % 256)
	}
	for _, swap := range []bool{false, true} {
		l := Levels{Space: in, Swap: swap}
		out := MustExecOnceN(backend.MustGet(), func(x *Node) []*Node {
			z := l.ToSpace(x)
			return []*Node{z, l.Quantize(z)}
		}, tensors.FromFlatDataAndDimensions(lv, 2, 3, 3, 3))
		z, back := flat(t, out[0]), flat(t, out[1])
		for i, v := range lv {
			if back[i] != v {
				t.Fatalf("swap %v: level %v came back as %v", swap, v, back[i])
			}
		}
		// z[b, c, y, x] against the level of pixel (b, y, x), channel c (or 2−c).
		for b := range 2 {
			for c := range 3 {
				src := c
				if swap {
					src = 2 - c
				}
				for p := range 9 {
					want := (float64(lv[(b*9+p)*3+src])/255 - float64(in.Mean[c])) / float64(in.Std[c])
					if got := float64(z[(b*3+c)*9+p]); math.Abs(got-want) > 1e-5 {
						t.Fatalf("swap %v: step space %v at image %d channel %d pixel %d, want %v", swap, got, b, c, p, want)
					}
				}
			}
		}
	}
	got := flat(t, MustExecOnce(backend.MustGet(), Quantize8,
		tensors.FromFlatDataAndDimensions([]float32{-0.5, 0.5 / 255, 1.5 / 255, 2.5 / 255, 1.2}, 5)))
	if want := []float32{0, 0, 2, 2, 255}; !slices.Equal(got, want) {
		t.Errorf("Quantize8 = %v, want %v (clipped, half to even)", got, want)
	}
}
