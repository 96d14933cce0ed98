package nn

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/backend"
)

// TestConvMatrixKernelBias checks ApplyBias with the kernel given as a
// matrix (Window set), in both forms, against graph.Convolve of the HWIO
// kernel followed by AddBias: the value and the gradients with respect to
// the input, the kernel and the bias.
func TestConvMatrixKernelBias(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(7, 8))
	cases := []convCase{
		{"1x1", 6, 5, 4, 1, 3, Conv2D{}},
		{"1x1/2", 7, 7, 4, 1, 3, Conv2D{Stride: [2]int{2, 2}}},
		{"3x3 pad1", 8, 6, 3, 3, 5, Conv2D{Pad: SymmetricPad(1)}},
		{"3x3/2 pad1", 9, 7, 3, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}},
		{"7x7/2 pad3", 16, 15, 3, 7, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(3)}},
		{"depthwise 3x3", 7, 7, 4, 3, 4, Conv2D{Pad: SymmetricPad(1), Groups: 4}},
		{"grouped 3x3", 6, 6, 4, 3, 6, Conv2D{Pad: SymmetricPad(1), Groups: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cinG := tc.cin / orOne(tc.conv.Groups)
			x := randTensor(rng, 2, tc.h, tc.w, tc.cin)
			hwio := randTensor(rng, tc.k, tc.k, cinG, tc.cout)
			mat := tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](hwio), tc.k*tc.k*cinG, tc.cout)
			bias := randTensor(rng, tc.cout)
			run := func(form Form, w *tensors.Tensor) [][]float32 {
				conv := tc.conv
				conv.Window = [2]int{tc.k, tc.k}
				exec := MustNewExec(b, func(x, w, bias *Node) []*Node {
					var y *Node
					if w.Rank() == 4 {
						y = AddBias(conv.Apply(form, x, w), bias)
					} else {
						y = conv.ApplyBias(form, x, w, bias)
					}
					loss := ReduceAllSum(Mul(y, Sin(IotaFull(x.Graph(), y.Shape()))))
					return append([]*Node{y}, Gradient(loss, x, w, bias)...)
				})
				var out [][]float32
				for _, r := range exec.MustExec(x, w, bias) {
					out = append(out, tensors.MustCopyFlatData[float32](r))
				}
				return out
			}
			want := run(Standard, hwio)
			for _, form := range []Form{Standard, Im2col} {
				got := run(form, mat)
				for i, what := range []string{"value", "input gradient", "kernel gradient", "bias gradient"} {
					if len(got[i]) != len(want[i]) {
						t.Fatalf("%s, %s: %d values, want %d", form, what, len(got[i]), len(want[i]))
					}
					if d := relDiff(got[i], want[i]); d > 1e-5 {
						t.Errorf("%s, %s: rel diff %.3g > 1e-5 from the HWIO kernel's", form, what, d)
					}
				}
			}
		})
	}
}

// TestConvKernelErrors checks that kernels and biases that do not fit are
// reported with their shapes.
func TestConvKernelErrors(t *testing.T) {
	b := backend.MustGet()
	cases := []struct {
		name  string
		conv  Conv2D
		kdims []int
		bias  int // bias length, 0 for none
		want  string
	}{
		{"matrix without Window", Conv2D{}, []int{27, 4}, 0, "Window [0 0]"},
		{"matrix of the wrong height", Conv2D{Window: [2]int{3, 3}}, []int{18, 4}, 0, "does not fit 3 input channels"},
		{"rank-3 kernel", Conv2D{}, []int{3, 3, 12}, 0, "HWIO or matrix kernel"},
		{"bias of the wrong length", Conv2D{}, []int{3, 3, 3, 4}, 5, "bias (Float32)[5] does not fit 4 output channels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, form := range []Form{Standard, Im2col} {
				err := exceptions.TryCatch[error](func() {
					g := NewGraph(b, "kernel")
					x := Zeros(g, shapes.Make(dtypes.Float32, 1, 5, 5, 3))
					w := Zeros(g, shapes.Make(dtypes.Float32, tc.kdims...))
					var bias *Node
					if tc.bias > 0 {
						bias = Zeros(g, shapes.Make(dtypes.Float32, tc.bias))
					}
					tc.conv.ApplyBias(form, x, w, bias)
				})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: got error %v, want one containing %q", form, err, tc.want)
				}
			}
		})
	}
}
