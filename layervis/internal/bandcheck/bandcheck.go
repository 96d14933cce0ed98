// Package bandcheck holds the test that compares a model built in
// horizontal bands (layervis/nn's Bands) with the same model built whole,
// for the model packages that build images in bands.
package bandcheck

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/pyref"
)

// Probe is a model whose Build records how many bands it splits an image
// into.
type Probe struct {
	cnn.Model
	count func(x *Node) int // the model's band count for input x
	Bands []int             // per Build
}

// NewProbe returns a Probe of m, whose band count for an input x is
// count(x).
func NewProbe(m cnn.Model, count func(x *Node) int) *Probe { return &Probe{Model: m, count: count} }

// Build records the band count and builds m.
func (p *Probe) Build(x *Node, layers ...string) []*Node {
	p.Bands = append(p.Bands, p.count(x))
	return p.Model.Build(x, layers...)
}

// Separable is the model's, so that cnn.Build splits batches as for the
// model.
func (p *Probe) Separable(layers ...string) bool {
	s, ok := p.Model.(cnn.Separable)
	return ok && s.Separable(layers...)
}

// Compare builds the layers of p's model on the NCHW batch x through
// cnn.Build with GOMAXPROCS cores (in bands where there are more cores than
// images) and whole, and checks the bands of each part against bands, and
// that the activations, and the input gradients of a loss of all the layers
// but those in noGrad (ops without a gradient; all: no gradient), agree to
// 1e-5.
func Compare(t *testing.T, p *Probe, x *tensors.Tensor, cores int, bands []int, noGrad []string, layers ...string) {
	t.Helper()
	b := backend.MustGet()
	if backend.Branches(b) < 2 {
		t.Skip("the backend builds no branches:", backend.Describe(b))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cores))
	p.Bands = nil
	exec, err := model.NewExec(b, p.Store(), func(_ *model.Scope, x *Node) []*Node {
		banded := cnn.Build(p, x, layers...)
		whole := p.Model.Build(x, layers...)
		grad := func(as []*Node) *Node {
			var loss *Node
			for i, a := range as {
				if slices.Contains(noGrad, layers[i]) {
					continue
				}
				v := ScalarOne(x.Graph(), a.DType())
				if a.Rank() > 0 {
					v = Cos(Iota(x.Graph(), a.Shape(), a.Rank()-1)) // a weight per channel
				}
				l := ReduceAllSum(Mul(a, v))
				if loss != nil {
					l = Add(loss, l)
				}
				loss = l
			}
			return Gradient(loss, x)[0]
		}
		if len(noGrad) == len(layers) {
			return append(banded, whole...)
		}
		return append(append(banded, whole...), grad(banded), grad(whole))
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(x)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Bands) != fmt.Sprint(bands) {
		t.Errorf("bands per part %v, want %v", p.Bands, bands)
	}
	n := len(layers)
	names := slices.Clone(layers)
	if len(out) > 2*n {
		names = append(names, "input gradient")
	}
	for i, l := range names {
		got, want := out[i], out[n+i]
		if i == n {
			got, want = out[2*n], out[2*n+1]
		}
		if !got.Shape().Equal(want.Shape()) {
			t.Errorf("%s: %s in bands, %s whole", l, got.Shape(), want.Shape())
			continue
		}
		if d := pyref.RelErr(tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)); d > 1e-5 {
			t.Errorf("%s: relative difference %g", l, d)
		}
	}
}
