package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
)

// TestBands checks window ops built band by band against the same op on the
// whole input, in both forms: the output, the bands' heights and the input
// gradient of Σ y·v, for convolutions and max-pools whose windows cross the
// bands' edges (one row or several, from one neighbour or two), strides that
// leave rows unread, dilation, padding wider than the window's reach, and
// more bands than the output has rows.
func TestBands(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	conv := func(c Conv2D) func(Form, Bands, *Node) Bands {
		return func(form Form, x Bands, w *Node) Bands { return c.ApplyBands(form, x, w, nil) }
	}
	pool := func(p Pool2D) func(Form, Bands, *Node) Bands {
		return func(form Form, x Bands, _ *Node) Bands { return p.MaxBands(form, x) }
	}
	cases := []struct {
		name    string
		h, k    int // input rows, kernel size (convolutions)
		bands   int
		op      func(Form, Bands, *Node) Bands
		outRows []int // the output bands' heights
	}{
		{"3x3", 12, 3, 2, conv(Conv2D{Pad: SymmetricPad(1), Window: [2]int{3, 3}}), []int{6, 6}},
		{"3x3 three bands", 11, 3, 3, conv(Conv2D{Pad: SymmetricPad(1), Window: [2]int{3, 3}}), []int{3, 4, 4}},
		{"3x3/2", 12, 3, 2, conv(Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1), Window: [2]int{3, 3}}), []int{3, 3}},
		{"3x3/2 odd rows", 13, 3, 3, conv(Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1), Window: [2]int{3, 3}}), []int{2, 2, 3}},
		{"1x1/2", 12, 1, 2, conv(Conv2D{Stride: [2]int{2, 2}, Window: [2]int{1, 1}}), []int{3, 3}},
		{"1x1/2 odd band", 14, 1, 2, conv(Conv2D{Stride: [2]int{2, 2}, Window: [2]int{1, 1}}), []int{4, 3}},
		{"7x7/2 pad 3", 16, 7, 2, conv(Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(3), Window: [2]int{7, 7}}), []int{4, 4}},
		{"7x7/2 halo past a neighbour", 16, 7, 4, conv(Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(3), Window: [2]int{7, 7}}), []int{2, 2, 2, 2}},
		{"3x3 dilation 2", 12, 3, 2, conv(Conv2D{Pad: SymmetricPad(2), Dilation: [2]int{2, 2}, Window: [2]int{3, 3}}), []int{6, 6}},
		{"3x3 valid", 12, 3, 2, conv(Conv2D{Window: [2]int{3, 3}}), []int{5, 5}},
		{"3x3 pad 2", 8, 3, 2, conv(Conv2D{Pad: SymmetricPad(2), Window: [2]int{3, 3}}), []int{5, 5}},
		{"3x3/2 SAME", 9, 3, 2, conv(Conv2D{Stride: [2]int{2, 2}, Pad: [2][2]int{SamePad(9, 3, 2), SamePad(9, 3, 2)}, Window: [2]int{3, 3}}), []int{2, 3}},
		{"more bands than output rows", 6, 3, 6, conv(Conv2D{Stride: [2]int{3, 3}, Window: [2]int{3, 3}}), []int{1, 1}},
		{"max 3x3/2", 12, 0, 2, pool(Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}), []int{3, 3}},
		{"max 2x2", 14, 0, 2, pool(Pool2D{Kernel: [2]int{2, 2}}), []int{4, 3}},
		{"max 3x3/2 ceil", 12, 0, 3, pool(Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, CeilMode: true}), []int{2, 2, 2}},
	}
	b := backend.MustGet()
	// Channels for which a stride-1 convolution's input gradient is the
	// transposed convolution, and for which it is col2im (transposedPays).
	channels := [][2]int{{4, 6}, {2, 16}}
	for _, tc := range cases {
		for i, form := range []Form{Im2col, Standard, Im2col} {
			cin, cout := channels[i/2][0], channels[i/2][1]
			t.Run(fmt.Sprintf("%s/%s/%d→%d", tc.name, form, cin, cout), func(t *testing.T) {
				const w = 5
				x := randTensor(rng, 1, tc.h, w, cin)
				k := max(tc.k, 1)
				kernel := randTensor(rng, k*k*cin, cout)
				var heights []int
				exec := MustNewExec(b, func(x, kernel *Node) []*Node {
					run := func(n int) (*Node, *Node) {
						y := tc.op(form, SplitRows(x, n), kernel)
						if n > 1 {
							heights = heights[:0]
							for _, band := range y {
								heights = append(heights, band.Shape().Dim(1))
							}
						}
						yy := y.Join()
						v := Sin(Iota(x.Graph(), yy.Shape(), 1)) // a weight per row
						return yy, Gradient(ReduceAllSum(Mul(yy, v)), x)[0]
					}
					y1, g1 := run(1)
					yn, gn := run(tc.bands)
					return []*Node{y1, g1, yn, gn}
				})
				out := exec.MustExec(x, kernel)
				if fmt.Sprint(heights) != fmt.Sprint(tc.outRows) {
					t.Errorf("output bands %v rows, want %v", heights, tc.outRows)
				}
				if !out[0].Shape().Equal(out[2].Shape()) {
					t.Fatalf("banded output %s, whole %s", out[2].Shape(), out[0].Shape())
				}
				for i, what := range []string{"output", "input gradient"} {
					if d := relDiff(tensors.MustCopyFlatData[float32](out[2+i]), tensors.MustCopyFlatData[float32](out[i])); d > 1e-6 {
						t.Errorf("%s differs from the whole op's by %g", what, d)
					}
				}
			})
		}
	}
}

// TestBandGradientCalls checks the banded input gradient of a stride-1
// convolution when a graph takes two gradients, the second of a loss that
// reads one band only (the others' dL/dy are then zero, not the first
// loss's), against the same gradients of the whole convolution.
func TestBandGradientCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := Conv2D{Pad: SymmetricPad(1), Window: [2]int{3, 3}}
	x, w := randTensor(rng, 1, 12, 6, 4), randTensor(rng, 9*4, 6)
	exec := MustNewExec(backend.MustGet(), func(x, w *Node) []*Node {
		bands := c.ApplyBands(Im2col, SplitRows(x, 3), w, nil)
		if len(bands) != 3 {
			t.Fatalf("%d bands, want 3", len(bands))
		}
		whole := c.Apply(Im2col, x, w)
		v := Cos(Iota(x.Graph(), whole.Shape(), 1))
		rows := bands[0].Shape().Dim(1)
		return []*Node{
			Gradient(ReduceAllSum(Mul(bands.Join(), v)), x)[0],
			Gradient(ReduceAllSum(Mul(whole, v)), x)[0],
			Gradient(ReduceAllSum(bands[0]), x)[0],
			Gradient(ReduceAllSum(Slice(whole, AxisRange(), AxisRange(0, rows))), x)[0],
		}
	})
	out := exec.MustExec(x, w)
	for i, loss := range []string{"all bands", "the first band"} {
		got, want := tensors.MustCopyFlatData[float32](out[2*i]), tensors.MustCopyFlatData[float32](out[2*i+1])
		if d := relDiff(got, want); d > 1e-6 {
			t.Errorf("gradient of a loss over %s differs from the whole convolution's by %g", loss, d)
		}
	}
}
