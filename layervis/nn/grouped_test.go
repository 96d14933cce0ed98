package nn

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/internal/pyref"
)

// groupedCase is a grouped convolution with its input, kernel and dL/dy.
type groupedCase struct {
	name      string
	h, w, cin int
	k, cout   int
	conv      Conv2D
}

var groupedCases = []groupedCase{
	{"depthwise 3x3", 7, 7, 4, 3, 4, Conv2D{Pad: SymmetricPad(1), Groups: 4}},
	{"depthwise 3x3/2 odd", 9, 7, 4, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1), Groups: 4}},
	{"depthwise 3x3/2 even", 8, 10, 3, 3, 3, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1), Groups: 3}},
	{"depthwise 5x5/2 SAME asym", 9, 9, 3, 5, 3, Conv2D{Stride: [2]int{2, 2}, Pad: [2][2]int{SamePad(9, 5, 2), SamePad(9, 5, 2)}, Groups: 3}},
	{"depthwise 3x3/2 valid", 8, 8, 2, 3, 2, Conv2D{Stride: [2]int{2, 2}, Groups: 2}},
	{"depthwise multiplier 2", 6, 5, 3, 3, 6, Conv2D{Pad: SymmetricPad(1), Groups: 3}},
	{"depthwise 3x3 dilation 2", 9, 8, 3, 3, 3, Conv2D{Pad: SymmetricPad(2), Dilation: [2]int{2, 2}, Groups: 3}},
	{"depthwise pad wider than window", 4, 5, 2, 3, 2, Conv2D{Pad: SymmetricPad(3), Groups: 2}},
	{"grouped 3x3", 6, 6, 4, 3, 6, Conv2D{Pad: SymmetricPad(1), Groups: 2}},
	{"grouped 3x3/2 asym pad", 8, 7, 6, 3, 9, Conv2D{Stride: [2]int{2, 1}, Pad: [2][2]int{{0, 2}, {2, 1}}, Groups: 3}},
	{"grouped 1x1/2", 8, 6, 4, 1, 4, Conv2D{Stride: [2]int{2, 2}, Groups: 2}},
	// Ungrouped with an even kernel: GoMLX v0.28.8's input gradient of
	// these is wrong, so the standard form takes the same custom one.
	{"dense 2x2/2", 8, 8, 3, 2, 4, Conv2D{Stride: [2]int{2, 2}, Groups: 1}},
	{"dense 4x4/4 patchify", 8, 8, 3, 4, 5, Conv2D{Stride: [2]int{4, 4}, Groups: 1}},
	{"dense 2x2 asym pad", 7, 6, 2, 2, 3, Conv2D{Pad: [2][2]int{{0, 1}, {1, 0}}, Groups: 1}},
	{"depthwise 2x2", 6, 6, 3, 2, 3, Conv2D{Groups: 3}},
}

// groupedRun returns the value of conv in the given form and the gradient
// of Σ y·v with respect to x.
func groupedRun(t *testing.T, form Form, conv Conv2D, x, w, v *tensors.Tensor) (y, dx []float32) {
	t.Helper()
	exec := MustNewExec(backend.MustGet(), func(x, w, v *Node) (*Node, *Node) {
		y := conv.Apply(form, x, w)
		return y, Gradient(ReduceAllSum(Mul(y, v)), x)[0]
	})
	res := exec.MustExec(x, w, v)
	return tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
}

// TestGroupedStandardGradient checks the standard form's custom input
// gradient of grouped and depthwise convolutions (one grouped transposed
// convolution) against PyTorch in float64 and against the im2col form.
func TestGroupedStandardGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	type tcase struct {
		X      []float32 `json:"x"`
		XShape []int     `json:"xshape"`
		W      []float32 `json:"w"`
		WShape []int     `json:"wshape"`
		Stride [2]int    `json:"stride"`
		Pad    [2][2]int `json:"pad"`
		Dil    [2]int    `json:"dilation"`
		Groups int       `json:"groups"`
		V      []float32 `json:"v"`
	}
	var in struct {
		Cases []tcase `json:"cases"`
	}
	type result struct{ std, col [2][]float32 }
	results := make([]result, len(groupedCases))
	for i, tc := range groupedCases {
		c := tc.conv
		x := randTensor(rng, 2, tc.h, tc.w, tc.cin)
		w := randTensor(rng, tc.k, tc.k, tc.cin/c.Groups, tc.cout)
		ho := OutSize(tc.h, tc.k, orOne(c.Stride[0]), orOne(c.Dilation[0]), c.Pad[0])
		wo := OutSize(tc.w, tc.k, orOne(c.Stride[1]), orOne(c.Dilation[1]), c.Pad[1])
		v := randTensor(rng, 2, ho, wo, tc.cout)
		var r result
		r.std[0], r.std[1] = groupedRun(t, Standard, c, x, w, v)
		r.col[0], r.col[1] = groupedRun(t, Im2col, c, x, w, v)
		results[i] = r
		in.Cases = append(in.Cases, tcase{
			X: tensors.MustCopyFlatData[float32](x), XShape: x.Shape().Dimensions,
			W: tensors.MustCopyFlatData[float32](w), WShape: w.Shape().Dimensions,
			Stride: [2]int{orOne(c.Stride[0]), orOne(c.Stride[1])}, Pad: c.Pad,
			Dil: [2]int{orOne(c.Dilation[0]), orOne(c.Dilation[1])}, Groups: c.Groups,
			V: tensors.MustCopyFlatData[float32](v),
		})
	}
	var out struct {
		Cases []struct {
			Y  []float32 `json:"y"`
			DX []float32 `json:"dx"`
		} `json:"cases"`
	}
	pyref.JSON(t, []string{"torch"}, filepath.Join("testdata", "conv_ref.py"), "grouped", in, &out)
	for i, tc := range groupedCases {
		t.Run(tc.name, func(t *testing.T) {
			r, ref := results[i], out.Cases[i]
			for j, want := range [][]float32{ref.Y, ref.DX} {
				what := [2]string{"value", "input gradient"}[j]
				for _, got := range []struct {
					form string
					v    []float32
				}{{"standard", r.std[j]}, {"im2col", r.col[j]}} {
					if len(got.v) != len(want) {
						t.Fatalf("%s %s: %d values, PyTorch has %d", got.form, what, len(got.v), len(want))
					}
					if d := pyref.RelErr(got.v, want); d > 1e-5 {
						t.Errorf("%s %s: rel err vs PyTorch %.3g > 1e-5", got.form, what, d)
					}
				}
				if d := relDiff(r.std[j], r.col[j]); d > 1e-5 {
					t.Errorf("%s: standard vs im2col rel diff %.3g > 1e-5", what, d)
				}
			}
		})
	}
}

// TestGroupedKernelGradient checks that the standard form of a grouped
// convolution still has a kernel gradient (GoMLX's own: nn replaces only the
// input gradient). The tfjs tests count the convolutions of the gradient.
func TestGroupedKernelGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	conv := Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1), Groups: 16}
	x, w := randTensor(rng, 1, 8, 8, 16), randTensor(rng, 3, 3, 1, 16)
	var grads [2][]float32
	for i, form := range []Form{Standard, Im2col} {
		exec := MustNewExec(backend.MustGet(), func(x, w *Node) *Node {
			y := conv.Apply(form, x, w)
			return Gradient(ReduceAllSum(Mul(y, Sin(IotaFull(y.Graph(), y.Shape())))), w)[0]
		})
		grads[i] = tensors.MustCopyFlatData[float32](exec.MustExec(x, w)[0])
	}
	if d := relDiff(grads[0], grads[1]); d > 1e-5 {
		t.Errorf("kernel gradient: standard vs im2col rel diff %.3g", d)
	}
}

func TestFormFor(t *testing.T) {
	b := backend.MustGet() // pure Go in tests
	for _, tc := range []struct {
		env  string
		want Form
	}{{"", Im2col}, {"standard", Standard}, {"im2col", Im2col}} {
		t.Setenv(FormEnvVar, tc.env)
		if got := FormFor(b); got != tc.want {
			t.Errorf("%s=%q: FormFor = %s, want %s", FormEnvVar, tc.env, got, tc.want)
		}
	}
	t.Setenv(FormEnvVar, "fast")
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), FormEnvVar) {
			t.Errorf("%s=fast: recovered %v, want a panic naming the variable", FormEnvVar, r)
		}
	}()
	FormFor(b)
}
