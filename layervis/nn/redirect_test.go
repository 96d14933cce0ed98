package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/internal/pyref"
)

// TestRedirectReLUs checks ReLU and ReLU6, in both forms (activationForm),
// in a graph marked by RedirectReLUs against lucid's redirected gradient
// written in PyTorch, and the same functions in an unmarked graph against
// PyTorch's true gradient, on a batch of four images: one with live units,
// one all negative, one all above 6 and one mixing both (no live unit for
// ReLU6).
func TestRedirectReLUs(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	dims := []int{4, 2, 3, 3}
	const per = 2 * 3 * 3
	x, v := make([]float32, 4*per), make([]float32, 4*per)
	for i := range per {
		n := float32(math.Abs(rng.NormFloat64())) + 0.1
		x[i] = float32(2 * rng.NormFloat64())
		x[per+i] = -n
		x[2*per+i] = 6 + n
		x[3*per+i] = [2]float32{-n, 6 + n}[i%2]
	}
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	type tcase struct {
		X      []float32 `json:"x"`
		Shape  []int     `json:"shape"`
		V      []float32 `json:"v"`
		Capped bool      `json:"capped"`
	}
	var in struct {
		Cases []tcase `json:"cases"`
	}
	for _, capped := range []bool{false, true} {
		in.Cases = append(in.Cases, tcase{X: x, Shape: dims, V: v, Capped: capped})
	}
	var out struct {
		Cases []struct {
			Y          []float32 `json:"y"`
			DX         []float32 `json:"dx"`
			Redirected []float32 `json:"redirected"`
		} `json:"cases"`
	}
	pyref.JSON(t, []string{"torch"}, filepath.Join("testdata", "conv_ref.py"), "redirect", in, &out)
	b := backend.MustGet()
	for i, capped := range []bool{false, true} {
		ref := out.Cases[i]
		for _, c := range []struct{ redirected, xla bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			redirected := c.redirected
			name := fmt.Sprintf("%s (XLA's form %v)", [2]string{"ReLU", "ReLU6"}[i], c.xla)
			exec := MustNewExec(b, func(x, v *Node) (*Node, *Node) {
				if redirected {
					RedirectReLUs(x.Graph())
				}
				y := activationForm(x, capped, c.xla)
				return y, Gradient(ReduceAllSum(Mul(y, v)), x)[0]
			})
			res := exec.MustExec(tensors.FromFlatDataAndDimensions(x, dims...), tensors.FromFlatDataAndDimensions(v, dims...))
			y, dx := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
			want := ref.DX
			if redirected {
				want = ref.Redirected
			}
			if !slices.Equal(y, ref.Y) {
				t.Errorf("%s (redirected %v): values differ from PyTorch's", name, redirected)
			}
			if !slices.Equal(dx, want) {
				t.Errorf("%s (redirected %v): gradient differs from PyTorch's:\n got %v\nwant %v", name, redirected, dx, want)
			}
			exec.Finalize()
		}
		// The redirect must matter here (images 1–3 have no live unit),
		// and leave image 0 (live units) its true gradient.
		if slices.Equal(ref.DX, ref.Redirected) || !slices.Equal(ref.DX[:per], ref.Redirected[:per]) {
			t.Errorf("capped %v: the test inputs do not exercise the redirect", capped)
		}
	}
}

// TestRedirectFormsAgree checks the pure-Go backend's redirected gradient
// (integer passes on the bits) against XLA's (selects) at the edges: units
// at −0, 0 and 6 (and just inside), gradients of both signs, ±0 and ±Inf,
// in a stuck image and a live one, and a rank-1 tensor (one image). They
// differ only in the sign of a zero (−0 == 0).
func TestRedirectFormsAgree(t *testing.T) {
	b := backend.MustGet()
	negZero := math.Copysign(0, -1)
	below6 := float64(math.Nextafter32(6, 0))
	// Four images of four values: stuck for both, stuck for ReLU6 only
	// (units at 6 and above), live for both, stuck for ReLU6 only (mixed).
	xs := []float64{-2, negZero, 0, -1, 6, 7, 6.5, 8, -3, 1e-45, 3, below6, -1, 8, 0, 6}
	vs := []float64{1, -1, negZero, math.Inf(-1), 2, -3, negZero, math.Inf(1), -2, 0.5, 1, 2, -0.5, 0.5, 3, -3}
	for _, capped := range []bool{false, true} {
		for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
			for _, dims := range [][]int{{4, 2, 2}, {16}} {
				var got [2][]float64
				for i, xla := range []bool{false, true} {
					exec := MustNewExec(b, func(x, v *Node) *Node {
						RedirectReLUs(x.Graph())
						y := activationForm(Reshape(x, dims...), capped, xla)
						return Gradient(ReduceAllSum(Mul(y, Reshape(v, dims...))), x)[0]
					})
					res := exec.MustExec(tensors.MustFromAnyValue(castTo(xs, dt)), tensors.MustFromAnyValue(castTo(vs, dt)))
					got[i] = float64sOf(res[0])
					exec.Finalize()
				}
				if !slices.Equal(got[0], got[1]) {
					t.Errorf("capped %v, %s, dims %v: pure-Go form %v, XLA's %v", capped, dt, dims, got[0], got[1])
				}
			}
		}
	}
}
