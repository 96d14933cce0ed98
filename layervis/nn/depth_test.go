package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/layervis/layervis/layervis/backend"
)

// TestSpaceToDepth checks strided convolutions built as stride-1
// convolutions of the space-to-depth input (forced) against graph.Convolve:
// value and gradients with respect to input and kernel, at even and odd
// sizes, symmetric, asymmetric (SAME) and no padding, windows that are and
// are not multiples of the stride (then the input's last pixels are read by
// no window), unequal strides, and batches of 1 and 3.
func TestSpaceToDepth(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(11, 12))
	same := func(h, w, kh, kw, s0, s1 int) [2][2]int {
		return [2][2]int{SamePad(h, kh, s0), SamePad(w, kw, s1)}
	}
	cases := []struct {
		name            string
		batch, h, w, ci int
		kh, kw, co      int
		conv            Conv2D
	}{
		{"7x7/2 pad3 even b1", 1, 16, 14, 3, 7, 7, 5, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(3)}},
		{"7x7/2 pad3 64 b1", 1, 64, 64, 3, 7, 7, 64, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(3)}},
		{"7x7/2 pad3 odd b3", 3, 15, 13, 3, 7, 7, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(3)}},
		{"3x3/2 SAME odd b2", 2, 11, 9, 3, 3, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: same(11, 9, 3, 3, 2, 2)}},
		{"3x3/2 SAME even b1", 1, 10, 12, 2, 3, 3, 3, Conv2D{Stride: [2]int{2, 2}, Pad: same(10, 12, 3, 3, 2, 2)}},
		{"4x4/2 valid odd b2", 2, 9, 11, 3, 4, 4, 3, Conv2D{Stride: [2]int{2, 2}}},
		{"4x4/2 pad1 b1", 1, 9, 8, 1, 4, 4, 2, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}},
		{"5x3/(2,1) asym b2", 2, 9, 7, 3, 5, 3, 3, Conv2D{Stride: [2]int{2, 1}, Pad: [2][2]int{{1, 3}, {0, 2}}}},
		{"3x5/(1,2) pad1 b2", 2, 8, 9, 2, 3, 5, 3, Conv2D{Stride: [2]int{1, 2}, Pad: SymmetricPad(1)}},
		{"5x5/3 pad2 b1", 1, 13, 14, 1, 5, 5, 3, Conv2D{Stride: [2]int{3, 3}, Pad: SymmetricPad(2)}},
		{"3x3/2 bottom-heavy b2", 2, 7, 8, 3, 3, 3, 2, Conv2D{Stride: [2]int{2, 2}, Pad: [2][2]int{{0, 4}, {1, 3}}}},
	}
	used := 0
	defer func(f func(int, [2]int, [2]int) bool) { depthPays = f }(depthPays)
	depthPays = func(int, [2]int, [2]int) bool { used++; return true }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := randTensor(rng, tc.batch, tc.h, tc.w, tc.ci)
			w := randTensor(rng, tc.kh, tc.kw, tc.ci, tc.co)
			want := convRun(t, b, Standard, tc.conv, x, w)
			used = 0
			got := convRun(t, b, Im2col, tc.conv, x, w)
			if used == 0 {
				t.Fatal("the space-to-depth form was not considered")
			}
			for i, what := range []string{"value", "input gradient", "kernel gradient"} {
				if len(got[i]) != len(want[i]) {
					t.Fatalf("%s: %d values, want %d", what, len(got[i]), len(want[i]))
				}
				if d := relDiff(got[i], want[i]); d > 1e-5 {
					t.Errorf("%s: space-to-depth vs standard rel diff %.3g > 1e-5", what, d)
				}
			}
		})
	}
}
