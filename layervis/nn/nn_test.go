package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
)

func randTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// relDiff is the max absolute difference scaled by the max magnitude of want.
func relDiff(got, want []float32) float64 {
	var maxErr, maxMag float64
	for i := range want {
		maxErr = math.Max(maxErr, math.Abs(float64(got[i]-want[i])))
		maxMag = math.Max(maxMag, math.Abs(float64(want[i])))
	}
	return maxErr / math.Max(maxMag, 1e-12)
}

// runBoth runs f in both forms and returns (value, input-gradient) for each.
func runBoth(t *testing.T, b compute.Backend, f func(form Form, x, w *Node) *Node, x, w *tensors.Tensor, grad bool) (std, col [2][]float32) {
	t.Helper()
	for _, form := range []Form{Standard, Im2col} {
		exec := MustNewExec(b, func(x, w *Node) []*Node {
			y := f(form, x, w)
			outs := []*Node{y}
			if grad {
				// A non-uniform weighting makes the gradient test position-sensitive.
				wts := Sin(Iota(x.Graph(), y.Shape(), y.Rank()-1))
				loss := ReduceAllSum(Mul(y, wts))
				outs = append(outs, Gradient(loss, x)[0])
			}
			return outs
		})
		res := exec.MustExec(x, w)
		var out [2][]float32
		out[0] = tensors.MustCopyFlatData[float32](res[0])
		if grad {
			out[1] = tensors.MustCopyFlatData[float32](res[1])
		}
		if form == Standard {
			std = out
		} else {
			col = out
		}
	}
	return
}

func TestConvFormsAgree(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name      string
		h, w, cin int
		k, cout   int
		conv      Conv2D
		noStdGrad bool
	}{
		{"1x1", 6, 5, 4, 1, 3, Conv2D{}, false},
		{"1x1/2", 7, 7, 4, 1, 3, Conv2D{Stride: [2]int{2, 2}}, false},
		{"3x3 pad1", 8, 6, 3, 3, 5, Conv2D{Pad: SymmetricPad(1)}, false},
		{"3x3/2 pad1", 9, 8, 3, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}, false},
		{"7x7/2 pad3", 16, 16, 3, 7, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(3)}, false},
		{"3x3/2 SAME asym", 8, 8, 2, 3, 3, Conv2D{Stride: [2]int{2, 2}, Pad: [2][2]int{SamePad(8, 3, 2), SamePad(8, 3, 2)}}, false},
		{"3x3 dil2", 9, 9, 2, 3, 3, Conv2D{Pad: SymmetricPad(2), Dilation: [2]int{2, 2}}, false},
		{"depthwise 3x3", 7, 7, 4, 3, 4, Conv2D{Pad: SymmetricPad(1), Groups: 4}, true},
		{"grouped 3x3", 6, 6, 4, 3, 6, Conv2D{Pad: SymmetricPad(1), Groups: 2}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			groups := orOne(tc.conv.Groups)
			x := randTensor(rng, 2, tc.h, tc.w, tc.cin)
			w := randTensor(rng, tc.k, tc.k, tc.cin/groups, tc.cout)
			std, col := runBoth(t, b, tc.conv.Apply, x, w, !tc.noStdGrad)
			if d := relDiff(col[0], std[0]); d > 1e-5 {
				t.Errorf("forward: im2col vs standard rel diff %.3g > 1e-5", d)
			}
			if !tc.noStdGrad {
				if d := relDiff(col[1], std[1]); d > 1e-5 {
					t.Errorf("input gradient: im2col vs standard rel diff %.3g > 1e-5", d)
				}
			}
		})
	}
}

func TestMaxPoolFormsAgree(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []Pool2D{
		{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: SymmetricPad(1)},
		{Kernel: [2]int{2, 2}},
		{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, CeilMode: true},
		{Kernel: [2]int{3, 3}, Stride: [2]int{1, 1}, Pad: SymmetricPad(1)},
	}
	for i, p := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			x := randTensor(rng, 2, 9, 8, 3)
			w := randTensor(rng, 1)
			std, col := runBoth(t, b, func(form Form, x, _ *Node) *Node { return p.Max(form, x) }, x, w, true)
			if len(std[0]) != len(col[0]) {
				t.Fatalf("output sizes differ: %d vs %d", len(std[0]), len(col[0]))
			}
			if d := relDiff(col[0], std[0]); d != 0 {
				t.Errorf("forward differs: %.3g", d)
			}
			if d := relDiff(col[1], std[1]); d > 1e-6 {
				t.Errorf("gradient differs: %.3g", d)
			}
		})
	}
}

func TestPoolOutputSizes(t *testing.T) {
	// PyTorch: MaxPool2d(3, 2, ceil_mode=True) on 9 → 4, on 8 → 4 (last window
	// starts at 6, inside the input); with padding 1 on 112 → 56.
	b := backend.MustGet()
	cases := []struct {
		p      Pool2D
		n, out int
	}{
		{Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, CeilMode: true}, 9, 4},
		{Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, CeilMode: true}, 8, 4},
		{Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}}, 8, 3},
		{Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}, 112, 56},
		{Pool2D{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}, CeilMode: true}, 7, 4},
	}
	for _, tc := range cases {
		exec := MustNewExec(b, func(x *Node) *Node { return tc.p.Max(Im2col, x) })
		x := tensors.FromShape(tensors.FromScalarAndDimensions(float32(0), 1, tc.n, tc.n, 1).Shape())
		got := exec.MustExec(x)[0].Shape().Dim(1)
		if got != tc.out {
			t.Errorf("%+v on %d: got %d, want %d", tc.p, tc.n, got, tc.out)
		}
	}
}

func TestAvgPoolCounts(t *testing.T) {
	b := backend.MustGet()
	// 3x3 ones, avg pool 3x3 stride 1 pad 1: corners see 4 real pixels of 9.
	x := tensors.FromScalarAndDimensions(float32(1), 1, 3, 3, 1)
	for _, tc := range []struct {
		countPad bool
		corner   float32
	}{{false, 1}, {true, 4.0 / 9}} {
		p := Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{1, 1}, Pad: SymmetricPad(1), CountPad: tc.countPad}
		exec := MustNewExec(b, func(x *Node) *Node { return p.Avg(x) })
		got := tensors.MustCopyFlatData[float32](exec.MustExec(x)[0])
		if math.Abs(float64(got[0]-tc.corner)) > 1e-6 || math.Abs(float64(got[4]-1)) > 1e-6 {
			t.Errorf("countPad=%v: corner %v centre %v, want %v and 1", tc.countPad, got[0], got[4], tc.corner)
		}
	}
}

func TestSamePad(t *testing.T) {
	for _, tc := range []struct{ n, k, s, before, after int }{
		{512, 3, 2, 0, 1}, {512, 3, 1, 1, 1}, {511, 3, 2, 1, 1}, {32, 5, 2, 1, 2}, {7, 1, 1, 0, 0},
	} {
		if got := SamePad(tc.n, tc.k, tc.s); got != [2]int{tc.before, tc.after} {
			t.Errorf("SamePad(%d,%d,%d) = %v, want [%d %d]", tc.n, tc.k, tc.s, got, tc.before, tc.after)
		}
	}
}

func TestReLUGradientAtZero(t *testing.T) {
	b := backend.MustGet()
	exec := MustNewExec(b, func(x *Node) (*Node, *Node) {
		y := ReLU(x)
		return y, Gradient(ReduceAllSum(y), x)[0]
	})
	x := tensors.FromFlatDataAndDimensions([]float32{-1, 0, 2}, 3)
	res := exec.MustExec(x)
	y, g := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
	if y[0] != 0 || y[1] != 0 || y[2] != 2 {
		t.Errorf("ReLU(-1,0,2) = %v", y)
	}
	if g[0] != 0 || g[1] != 0 || g[2] != 1 {
		t.Errorf("ReLU gradient at (-1,0,2) = %v, want PyTorch's (0,0,1)", g)
	}
}

func TestOutSize(t *testing.T) {
	for _, tc := range []struct{ n, k, s, d, out int }{
		{224, 7, 2, 1, 109}, {1, 2, 2, 1, 0}, {1, 2, 1, 1, 0}, {5, 3, 1, 2, 1}, {4, 3, 1, 2, 0},
	} {
		if got := OutSize(tc.n, tc.k, tc.s, tc.d, [2]int{}); got != tc.out {
			t.Errorf("OutSize(n=%d,k=%d,s=%d,d=%d) = %d, want %d", tc.n, tc.k, tc.s, tc.d, got, tc.out)
		}
	}
}
