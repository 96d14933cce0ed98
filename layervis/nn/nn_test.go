package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
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

// convRun builds conv in the given form (Standard: with its padding applied
// to x beforehand, and strides with dilation as a subsampled output) and
// returns its value and the gradients of a
// position-weighted sum of it with respect to x and w.
func convRun(t *testing.T, b compute.Backend, form Form, conv Conv2D, x, w *tensors.Tensor) (out [3][]float32) {
	t.Helper()
	exec := MustNewExec(b, func(x, w *Node) []*Node {
		c := conv
		xp := x
		if form == Standard {
			// Pad explicitly: graph.Convolve's gradient rejects padding wider
			// than the kernel.
			xp = Pad(x, ScalarZero(x.Graph(), x.DType()), compute.PadAxis{},
				compute.PadAxis{Start: c.Pad[0][0], End: c.Pad[0][1]},
				compute.PadAxis{Start: c.Pad[1][0], End: c.Pad[1][1]}, compute.PadAxis{})
			c.Pad = [2][2]int{}
		}
		subsample := form == Standard && orOne(c.Dilation[0])*orOne(c.Dilation[1]) > 1 && c.Stride != [2]int{}
		if subsample {
			// graph.Convolve takes strides or dilations, not both.
			c.Stride = [2]int{}
		}
		y := c.Apply(form, xp, w)
		if subsample {
			y = Slice(y, AxisRange(), AxisRange().Stride(orOne(conv.Stride[0])), AxisRange().Stride(orOne(conv.Stride[1])), AxisRange())
		}
		// A non-uniform weighting makes the gradients position-sensitive.
		loss := ReduceAllSum(Mul(y, Sin(IotaFull(x.Graph(), y.Shape()))))
		return append([]*Node{y}, Gradient(loss, x, w)...)
	})
	for i, r := range exec.MustExec(x, w) {
		out[i] = tensors.MustCopyFlatData[float32](r)
	}
	return out
}

// denseKernel returns the groups == 1 kernel [kh,kw,cin,cout] equivalent to
// the grouped kernel w [kh,kw,cin/groups,cout]: zero outside each group's
// block. blockOf maps an index of w to the index of the same weight in it.
func denseKernel(w []float32, kh, kw, cinG, cout, groups int) (dense []float32, blockOf func(int) int) {
	cin, coutG := cinG*groups, cout/groups
	blockOf = func(i int) int {
		co := i % cout
		ci := (i/cout)%cinG + co/coutG*cinG
		tap := i / (cout * cinG)
		return (tap*cin+ci)*cout + co
	}
	dense = make([]float32, kh*kw*cin*cout)
	for i, v := range w {
		dense[blockOf(i)] = v
	}
	return dense, blockOf
}

// convCase is a convolution test case: an input of h×w×cin and a k×k
// kernel with cout outputs.
type convCase struct {
	name      string
	h, w, cin int
	k, cout   int
	conv      Conv2D
}

// TestConvFormsAgree checks the im2col form's value and its gradients with
// respect to input and kernel against graph.Convolve's: grouped and depthwise
// convolutions against the equivalent dense (block-diagonal) kernel.
func TestConvFormsAgree(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(1, 2))
	same := func(n, k, s int) [2][2]int { return [2][2]int{SamePad(n, k, s), SamePad(n, k, s)} }
	cases := []convCase{
		{"1x1", 6, 5, 4, 1, 3, Conv2D{}},
		{"1x1/2 odd", 7, 7, 4, 1, 3, Conv2D{Stride: [2]int{2, 2}}},
		{"1x1/2 even", 8, 6, 4, 1, 3, Conv2D{Stride: [2]int{2, 2}}},
		{"1x1 pad1", 4, 5, 3, 1, 2, Conv2D{Pad: SymmetricPad(1)}},
		{"3x3 pad1", 8, 6, 3, 3, 5, Conv2D{Pad: SymmetricPad(1)}},
		{"3x3 valid", 7, 6, 3, 3, 4, Conv2D{}},
		{"3x3/2 pad1 odd", 9, 7, 3, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}},
		{"3x3/2 pad1 even", 8, 10, 3, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}},
		{"3x3/2 valid even", 8, 8, 2, 3, 3, Conv2D{Stride: [2]int{2, 2}}},
		{"7x7/2 pad3", 16, 15, 3, 7, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(3)}},
		{"3x3/2 SAME asym", 8, 8, 2, 3, 3, Conv2D{Stride: [2]int{2, 2}, Pad: same(8, 3, 2)}},
		{"5x5/2 SAME asym", 9, 9, 2, 5, 3, Conv2D{Stride: [2]int{2, 2}, Pad: same(9, 5, 2)}},
		{"3x2 asym pad", 7, 6, 2, 3, 3, Conv2D{Pad: [2][2]int{{0, 2}, {2, 1}}}},
		{"3x3/(2,1) pad1", 9, 8, 2, 3, 3, Conv2D{Stride: [2]int{2, 1}, Pad: SymmetricPad(1)}},
		{"3x3 dil2", 9, 9, 2, 3, 3, Conv2D{Pad: SymmetricPad(2), Dilation: [2]int{2, 2}}},
		{"3x3/2 dil2", 11, 10, 2, 3, 3, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1), Dilation: [2]int{2, 2}}},
		{"3x3 pad larger than kernel", 4, 4, 2, 3, 2, Conv2D{Pad: SymmetricPad(3)}},
		{"depthwise 3x3", 7, 7, 4, 3, 4, Conv2D{Pad: SymmetricPad(1), Groups: 4}},
		{"depthwise 3x3/2", 8, 7, 4, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1), Groups: 4}},
		{"depthwise 5x5/2 SAME", 9, 9, 3, 5, 3, Conv2D{Stride: [2]int{2, 2}, Pad: same(9, 5, 2), Groups: 3}},
		{"depthwise 3x3/2 SAME even", 8, 10, 6, 3, 6, Conv2D{Stride: [2]int{2, 2}, Pad: same(8, 3, 2), Groups: 6}},
		{"depthwise 3x3/2 dil2", 11, 9, 4, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(2), Dilation: [2]int{2, 2}, Groups: 4}},
		{"depthwise 3x3 pad3 sliced", 6, 7, 4, 3, 4, Conv2D{Pad: SymmetricPad(3), Groups: 4}},
		{"depthwise 3x3/(1,2)", 7, 8, 2, 3, 2, Conv2D{Stride: [2]int{1, 2}, Pad: SymmetricPad(1), Groups: 2}},
		{"grouped 3x3", 6, 6, 4, 3, 6, Conv2D{Pad: SymmetricPad(1), Groups: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			groups := orOne(tc.conv.Groups)
			x := randTensor(rng, 2, tc.h, tc.w, tc.cin)
			w := randTensor(rng, tc.k, tc.k, tc.cin/groups, tc.cout)
			ref, blockOf := denseKernel(tensors.MustCopyFlatData[float32](w), tc.k, tc.k, tc.cin/groups, tc.cout, groups)
			dense := tc.conv
			dense.Groups = 1
			want := convRun(t, b, Standard, dense, x, tensors.FromFlatDataAndDimensions(ref, tc.k, tc.k, tc.cin, tc.cout))
			wantW := make([]float32, w.Shape().Size())
			for i := range wantW {
				wantW[i] = want[2][blockOf(i)]
			}
			want[2] = wantW
			got := convRun(t, b, Im2col, tc.conv, x, w)
			for i, what := range []string{"value", "input gradient", "kernel gradient"} {
				if len(got[i]) != len(want[i]) {
					t.Fatalf("%s: %d values, want %d", what, len(got[i]), len(want[i]))
				}
				if d := relDiff(got[i], want[i]); d > 1e-5 {
					t.Errorf("%s: im2col vs standard rel diff %.3g > 1e-5", what, d)
				}
			}
		})
	}
}

// TestConvGradientEdgeCases checks the im2col convolution's custom gradient
// where autodiff reaches it unusually: two gradients of one graph, outputs
// and inputs that also feed other paths, chained convolutions, and losses
// that do not depend on the convolution.
func TestConvGradientEdgeCases(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(5, 6))
	x := randTensor(rng, 1, 7, 6, 3)
	w1 := randTensor(rng, 3, 3, 3, 4)
	w2 := randTensor(rng, 3, 3, 4, 3)
	c1 := Conv2D{Pad: SymmetricPad(1)}
	c2 := Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}
	weights := func(y *Node, phase float64) *Node {
		return Sin(AddScalar(IotaFull(y.Graph(), y.Shape()), phase))
	}
	// Each case returns a list of gradients.
	cases := map[string]func(form Form, x, w1, w2 *Node) []*Node{
		"two losses": func(form Form, x, w1, w2 *Node) []*Node {
			y := c1.Apply(form, x, w1)
			g1 := Gradient(ReduceAllSum(Mul(y, weights(y, 0))), x, w1)
			g2 := Gradient(ReduceAllSum(Mul(y, weights(y, 1))), x, w1)
			return append(g1, g2...)
		},
		"same convolution built twice": func(form Form, x, w1, w2 *Node) []*Node {
			y := c1.Apply(form, x, w1)
			z := c1.Apply(form, x, w1) // the same convolution built twice
			return Gradient(Add(ReduceAllSum(Mul(y, weights(y, 0))), ReduceAllSum(Mul(z, weights(z, 2)))), x)
		},
		"output and input reused": func(form Form, x, w1, w2 *Node) []*Node {
			y := c1.Apply(form, x, w1)
			loss := Add(ReduceAllSum(Mul(y, weights(y, 0))), ReduceAllSum(Mul(Square(y), weights(y, 3))))
			loss = Add(loss, ReduceAllSum(Mul(x, weights(x, 1))))
			return Gradient(loss, x, w1)
		},
		"chained": func(form Form, x, w1, w2 *Node) []*Node {
			y := c2.Apply(form, Tanh(c1.Apply(form, x, w1)), w2)
			return Gradient(ReduceAllSum(Mul(y, weights(y, 0))), x, w1, w2)
		},
		"loss without the convolution": func(form Form, x, w1, w2 *Node) []*Node {
			y := c1.Apply(form, x, w1)
			return append(Gradient(ReduceAllSum(Mul(x, weights(x, 0))), x), ReduceAllSum(y))
		},
		"kernel gradient only": func(form Form, x, w1, w2 *Node) []*Node {
			y := c1.Apply(form, x, w1)
			return Gradient(ReduceAllSum(Mul(y, weights(y, 0))), w1)
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			var res [2][][]float32
			for i, form := range []Form{Standard, Im2col} {
				exec := MustNewExec(b, func(x, w1, w2 *Node) []*Node { return f(form, x, w1, w2) })
				for _, r := range exec.MustExec(x, w1, w2) {
					res[i] = append(res[i], tensors.MustCopyFlatData[float32](r))
				}
			}
			for j := range res[0] {
				if d := relDiff(res[1][j], res[0][j]); d > 1e-5 {
					t.Errorf("output %d: im2col vs standard rel diff %.3g > 1e-5", j, d)
				}
			}
		})
	}
}

// maxPools are the max-pools the tests build: ResNet's, VGG's, ceil mode,
// stride 1, unequal strides and padding, TensorFlow's SAME, a 5×3 window.
var maxPools = []Pool2D{
	{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: SymmetricPad(1)},
	{Kernel: [2]int{2, 2}},
	{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, CeilMode: true},
	{Kernel: [2]int{3, 3}, Stride: [2]int{1, 1}, Pad: SymmetricPad(1)},
	{Kernel: [2]int{3, 2}, Stride: [2]int{3, 1}, Pad: [2][2]int{{1, 0}, {0, 1}}},
	{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2][2]int{{0, 1}, {0, 1}}},
	{Kernel: [2]int{5, 3}, Stride: [2]int{2, 2}, Pad: [2][2]int{{2, 2}, {1, 1}}},
}

func TestMaxPoolFormsAgree(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(3, 4))
	// 9×8×3: the tap form where a stride does not divide the size; 10×8×4:
	// the separable form, its slices as pairs of channels.
	for i, p := range maxPools {
		for _, dims := range [][]int{{2, 9, 8, 3}, {2, 10, 8, 4}} {
			t.Run(fmt.Sprint(i, dims), func(t *testing.T) {
				x := randTensor(rng, dims...)
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
}

// TestMaxPoolGradientTies checks the im2col max-pool's gradient where
// windows hold their maximum more than once (as after a ReLU) against a
// direct loop: PyTorch gives each window's gradient to the first maximum in
// row-major order.
func TestMaxPoolGradientTies(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(7, 8))
	// 9×8×3: the tap form where a stride does not divide the size; 12×8×4:
	// the separable form, its slices as pairs of channels.
	for i, p := range maxPools {
		for _, dims := range [][]int{{2, 9, 8, 3}, {2, 12, 8, 4}} {
			t.Run(fmt.Sprint(i, dims), func(t *testing.T) {
				n, h, w, c := dims[0], dims[1], dims[2], dims[3]
				x := make([]float32, n*h*w*c)
				for j := range x {
					x[j] = float32(rng.IntN(2)) // half the pixels tie at 0, half at 1
				}
				exec := MustNewExec(b, func(x *Node) []*Node {
					y := p.Max(Im2col, x)
					loss := ReduceAllSum(Mul(y, Sin(IotaFull(x.Graph(), y.Shape()))))
					return []*Node{y, Gradient(loss, x)[0]}
				})
				res := exec.MustExec(tensors.FromFlatDataAndDimensions(x, n, h, w, c))
				y, got := res[0].Shape(), tensors.MustCopyFlatData[float32](res[1])
				k, s, pad := p.Kernel, p.Stride, p.Pad
				for a := range 2 {
					if s[a] == 0 {
						s[a] = k[a]
					}
				}
				want := make([]float32, len(x))
				ho, wo := y.Dim(1), y.Dim(2)
				for bi := range n {
					for oy := range ho {
						for ox := range wo {
							for ci := range c {
								best, at := float32(math.Inf(-1)), -1
								for ky := range k[0] {
									for kx := range k[1] {
										iy, ix := oy*s[0]-pad[0][0]+ky, ox*s[1]-pad[1][0]+kx
										if iy < 0 || iy >= h || ix < 0 || ix >= w {
											continue
										}
										if j := ((bi*h+iy)*w+ix)*c + ci; x[j] > best {
											best, at = x[j], j
										}
									}
								}
								f := ((bi*ho+oy)*wo+ox)*c + ci
								want[at] += float32(math.Sin(float64(f)))
							}
						}
					}
				}
				if d := relDiff(got, want); d > 1e-6 {
					t.Errorf("gradient differs from the first-maximum rule: %.3g", d)
				}
			})
		}
	}
}

// TestSeparableMaxMatchesTaps checks the pure-Go backend's separable
// max-pool (stride phases, a max over rows then columns) against the max of
// the windows' taps, values and gradients, on inputs that tie in most
// windows and hold ±0, −Inf and NaN, with small integer gradients (so that
// their sums are exact in any order).
func TestSeparableMaxMatchesTaps(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(11, 12))
	specials := []float64{math.Copysign(0, -1), 0, math.Inf(-1), math.NaN(), 1, 2}
	for i, p := range maxPools {
		for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
			for _, dims := range [][]int{{2, 12, 8, 4}, {1, 6, 12, 3}} {
				t.Run(fmt.Sprint(i, dt, dims), func(t *testing.T) {
					n := dims[0] * dims[1] * dims[2] * dims[3]
					x := make([]float64, n)
					for j := range x {
						x[j] = specials[rng.IntN(len(specials))]
					}
					var got [2][2][]float64
					for f, separable := range []bool{false, true} {
						exec := MustNewExec(b, func(flat *Node) []*Node {
							x := Reshape(flat, dims...)
							k, s, pad := p.norm(x.Shape().Dim(1), x.Shape().Dim(2))
							var y *Node
							if separable {
								var ok bool
								if y, ok = separableMax(x, k, s, pad); !ok {
									t.Fatalf("%+v on %v: no separable form", p, dims)
								}
							} else {
								y = tapMax(x, k, s, pad)
							}
							v := ConvertDType(AddScalar(Mod(IotaFull(x.Graph(), shapes.Make(dtypes.Int32, y.Shape().Dimensions...)),
								Const(x.Graph(), int32(7))), -3), x.DType())
							loss := ReduceAllSum(Mul(y, v))
							return []*Node{Reshape(y, y.Shape().Size()), Gradient(loss, flat)[0]}
						})
						res := exec.MustExec(tensors.MustFromAnyValue(castTo(x, dt)))
						got[f] = [2][]float64{float64sOf(res[0]), float64sOf(res[1])}
						exec.Finalize()
					}
					for o, name := range []string{"value", "gradient"} {
						for j := range got[0][o] {
							a, c := got[0][o][j], got[1][o][j]
							if a != c && !(math.IsNaN(a) && math.IsNaN(c)) {
								t.Fatalf("%s %d: taps %g, separable %g", name, j, a, c)
							}
						}
					}
				})
			}
		}
	}
}

// TestFirstMaxGradsFormsAgree checks the max-pool gradient's pure-Go form
// (uint8 chains, bits products) bit for bit against XLA's (selects) on taps
// that tie often, with gradients of both signs, ±0 and ±Inf.
func TestFirstMaxGradsFormsAgree(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(9, 10))
	const taps, n = 5, 64
	specials := []float64{math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1)}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		cols := make([]float64, taps*n)
		for i := range cols {
			cols[i] = float64(rng.IntN(3)) // ties in most windows
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64()
			if i < len(specials) {
				v[i] = specials[i]
			}
		}
		var got [2][]float64
		for f, xla := range []bool{false, true} {
			exec := MustNewExec(b, func(c, v *Node) *Node {
				c = Reshape(c, taps, n)
				cols := make([]*Node, taps)
				out := Reshape(Slice(c, AxisElem(0)), n)
				for i := range cols {
					cols[i] = Reshape(Slice(c, AxisElem(i)), n)
					out = Max(out, cols[i])
				}
				return Reshape(Stack(firstMaxGrads(cols, out, v, xla), 0), taps*n)
			})
			res := exec.MustExec(tensors.MustFromAnyValue(castTo(cols, dt)), tensors.MustFromAnyValue(castTo(v, dt)))
			got[f] = float64sOf(res[0])
			exec.Finalize()
		}
		for i := range got[0] {
			if math.Float64bits(got[0][i]) != math.Float64bits(got[1][i]) {
				t.Fatalf("%s: tap %d, window %d: pure-Go form %g, XLA's %g", dt, i/n, i%n, got[0][i], got[1][i])
			}
		}
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

func TestOutSize(t *testing.T) {
	for _, tc := range []struct{ n, k, s, d, out int }{
		{224, 7, 2, 1, 109}, {1, 2, 2, 1, 0}, {1, 2, 1, 1, 0}, {5, 3, 1, 2, 1}, {4, 3, 1, 2, 0},
	} {
		if got := OutSize(tc.n, tc.k, tc.s, tc.d, [2]int{}); got != tc.out {
			t.Errorf("OutSize(n=%d,k=%d,s=%d,d=%d) = %d, want %d", tc.n, tc.k, tc.s, tc.d, got, tc.out)
		}
	}
}

// TestRepeatRowsMatchesBroadcast checks channelwise's concatenated copies,
// value and gradient, against graph.BroadcastPrefix for counts around the
// powers of its base.
func TestRepeatRowsMatchesBroadcast(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2, 7, 8, 9, 63, 64, 65, 521} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			v := randTensor(rng, 3)
			var res [2][2][]float32
			for i, rep := range []func(v *Node) *Node{
				func(v *Node) *Node { return repeatRows(Reshape(v, 1, 3), n) },
				func(v *Node) *Node { return BroadcastPrefix(v, n) },
			} {
				exec := MustNewExec(b, func(v *Node) (*Node, *Node) {
					y := rep(v)
					loss := ReduceAllSum(Mul(y, Sin(IotaFull(v.Graph(), y.Shape()))))
					return y, Gradient(loss, v)[0]
				})
				out := exec.MustExec(v)
				res[i] = [2][]float32{tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])}
			}
			if len(res[0][0]) != len(res[1][0]) || relDiff(res[0][0], res[1][0]) != 0 {
				t.Errorf("value: %d values, want %d, or different", len(res[0][0]), len(res[1][0]))
			}
			if d := relDiff(res[0][1], res[1][1]); d > 1e-5 { // summed in another order
				t.Errorf("gradient: rel diff %.3g", d)
			}
		})
	}
}

// TestActivationEdgeValues checks ReLU and ReLU6, value and gradient bit
// for bit, in both forms (XLA's selects and the pure-Go backend's Max with
// a hand-set gradient) and in float32 and float64, at the edges: x < 0,
// −0, +0, the smallest magnitudes, around 6 and the infinities, with
// incoming gradients of both signs, −0 and infinite ones (a blocked one
// must come out +0, as PyTorch's select gives). Want: PyTorch's relu
// (gradient 1 where x > 0), TensorFlow's relu6 (1 where 0 < x < 6).
func TestActivationEdgeValues(t *testing.T) {
	b := backend.MustGet()
	below6 := math.Nextafter32(6, 0)
	xs := []float64{-3, -1e-45, math.Copysign(0, -1), 0, 1e-45, 0.5, float64(below6), 6,
		float64(math.Nextafter32(6, 7)), 7, math.Inf(1), math.Inf(-1), -2, 3}
	vs := []float64{-1.5, 2, -0.25, math.Copysign(0, -1), -4, 1, -3, -2, 5, -7, -0.5, math.Inf(-1), math.Inf(1), -1}
	for _, capped := range []bool{false, true} {
		for _, xla := range []bool{true, false} {
			for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
				name := fmt.Sprintf("capped=%v/xla=%v/%s", capped, xla, dt)
				t.Run(name, func(t *testing.T) {
					exec := MustNewExec(b, func(x, v *Node) (*Node, *Node) {
						y := activationForm(x, capped, xla)
						return y, Gradient(ReduceAllSum(Mul(y, v)), x)[0]
					})
					defer exec.Finalize()
					res := exec.MustExec(tensors.MustFromAnyValue(castTo(xs, dt)), tensors.MustFromAnyValue(castTo(vs, dt)))
					y, g := float64sOf(res[0]), float64sOf(res[1])
					for i, x := range xs {
						wantY, wantG := math.Max(x, 0), vs[i]
						if x <= 0 {
							wantY, wantG = 0, 0 // +0, also for x = −0
						}
						if capped && x >= 6 {
							wantY, wantG = 6, 0
						}
						if dt == dtypes.Float32 {
							wantY, wantG = float64(float32(wantY)), float64(float32(wantG))
						}
						if math.Float64bits(y[i]) != math.Float64bits(wantY) || math.Float64bits(g[i]) != math.Float64bits(wantG) {
							t.Errorf("x=%g, v=%g: value %g, gradient %g; want %g, %g", x, vs[i], y[i], g[i], wantY, wantG)
						}
					}
				})
			}
		}
	}
	// NaN, on the pure-Go backend's form: NaN as PyTorch's relu, and the
	// gradient of x > 0 (0; PyTorch's backward tests NaN ≤ 0 and passes it).
	exec := MustNewExec(b, func(x, v *Node) (*Node, *Node) {
		y := activationForm(x, false, false)
		return y, Gradient(ReduceAllSum(Mul(y, v)), x)[0]
	})
	defer exec.Finalize()
	res := exec.MustExec(tensors.FromValue([]float32{float32(math.NaN())}), tensors.FromValue([]float32{-2}))
	if y, g := res[0].Value().([]float32), res[1].Value().([]float32); !math.IsNaN(float64(y[0])) || g[0] != 0 {
		t.Errorf("ReLU(NaN) = %g, gradient %g; want NaN, 0", y[0], g[0])
	}
}

func castTo(xs []float64, dt dtypes.DType) any {
	if dt == dtypes.Float64 {
		return xs
	}
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}

func float64sOf(t *tensors.Tensor) []float64 {
	if v, ok := t.Value().([]float64); ok {
		return v
	}
	v := t.Value().([]float32)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestWeightValuesWaitForActivations checks, on the pure-Go backend, that
// the activation-sized values computed from the weights alone (per-channel
// vectors repeated to an activation's shape, the transposed kernel of a
// convolution's input gradient) depend on the activation they meet, so the
// backend's parallel executor does not compute them all as the step starts
// and hold them until used. (Weight-sized copies, such as a kernel
// reshaped, are not checked.)
func TestWeightValuesWaitForActivations(t *testing.T) {
	b := backend.MustGet()
	if !backend.IsGo(b) {
		t.Skip("pure-Go backend only")
	}
	g := NewGraph(b, "after")
	defer g.Finalize()
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 8, 8, 4))
	scale := Parameter(g, "scale", shapes.Make(dtypes.Float32, 4))
	w := Parameter(g, "w", shapes.Make(dtypes.Float32, 3, 3, 4, 4))
	relu := ReLU(Affine(Conv2D{Pad: SymmetricPad(1)}.Apply(Im2col, x, w), scale, scale))
	grad := Gradient(ReduceAllSum(relu), x)[0]
	// reads[n]: which of x and the weights n depends on.
	type deps struct{ x, weights bool }
	reads := map[*Node]deps{}
	var visit func(n *Node) deps
	visit = func(n *Node) deps {
		if d, ok := reads[n]; ok {
			return d
		}
		d := deps{x: n == x, weights: n == scale || n == w}
		for _, in := range n.Inputs() {
			di := visit(in)
			d.x, d.weights = d.x || di.x, d.weights || di.weights
		}
		reads[n] = d
		return d
	}
	visit(relu)
	visit(grad)
	for n, d := range reads {
		if d.weights && !d.x && n.Shape().Size() >= x.Shape().Size() {
			t.Errorf("%s %s depends on the weights alone: computed as the step starts", n.Type(), n.Shape())
		}
	}
}

// autodiffConv returns the value and the gradients with respect to x and w
// of convRun's loss for the stride-1 conv (ungrouped or depthwise) built
// from sliced taps with autodiff's gradients throughout: no custom
// gradient, no shifted patches.
func autodiffConv(t *testing.T, b compute.Backend, conv Conv2D, x, w *tensors.Tensor) (out [3][]float32) {
	t.Helper()
	exec := MustNewExec(b, func(x, w *Node) []*Node {
		k := [2]int{w.Shape().Dim(0), w.Shape().Dim(1)}
		dil := [2]int{orOne(conv.Dilation[0]), orOne(conv.Dilation[1])}
		cols := taps(x, k, [2]int{1, 1}, dil, conv.Pad, 0)
		var y *Node
		if conv.Groups > 1 { // depthwise
			y = weightedSum(cols, Reshape(w, -1, w.Shape().Dim(3)))
		} else {
			d := cols[0].Shape().Dimensions
			p := Reshape(Concatenate(cols, 3), d[0]*d[1]*d[2], -1)
			cout := w.Shape().Dim(3)
			y = Reshape(Dot(p, Reshape(w, -1, cout)).Product(), d[0], d[1], d[2], cout)
		}
		loss := ReduceAllSum(Mul(y, Sin(IotaFull(x.Graph(), y.Shape()))))
		return append([]*Node{y}, Gradient(loss, x, w)...)
	})
	for i, r := range exec.MustExec(x, w) {
		out[i] = tensors.MustCopyFlatData[float32](r)
	}
	return out
}

// TestShiftedPatches checks stride-1 convolutions built from shifted
// patches (forced where their layout allows) against autodiff through
// sliced taps and, for square kernels, graph.Convolve: value and gradients
// with respect to input (forced both ways: the transposed convolution,
// itself shifted patches, and col2im on the shifted grid, where the layout
// allows) and kernel, at odd sizes, asymmetric and
// bottom-heavy padding, dilation, and batches of 1 and 3. (GoMLX v0.28.8's
// Convolve input gradient is wrong for a 3×2 kernel: PyTorch agrees with
// the other two.)
func TestShiftedPatches(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		name            string
		batch, h, w, ci int
		kh, kw, co      int
		conv            Conv2D
		uses            int // shifted patch sets built: forward, and the transposed input gradient
	}{
		{"3x3 same b1", 1, 7, 5, 3, 3, 3, 4, Conv2D{Pad: SymmetricPad(1)}, 2},
		{"3x3 same b3", 3, 6, 7, 2, 3, 3, 3, Conv2D{Pad: SymmetricPad(1)}, 2},
		{"3x3 valid b1", 1, 7, 6, 3, 3, 3, 2, Conv2D{}, 2},
		{"3x3 valid b3", 3, 5, 6, 2, 3, 3, 2, Conv2D{}, 2},
		{"3x2 asym", 3, 7, 6, 2, 3, 2, 3, Conv2D{Pad: [2][2]int{{0, 2}, {1, 0}}}, 2},
		{"1x3", 1, 4, 9, 3, 1, 3, 2, Conv2D{Pad: [2][2]int{{0, 0}, {1, 1}}}, 2},
		{"3x1 b3", 3, 9, 4, 3, 3, 1, 2, Conv2D{Pad: [2][2]int{{1, 1}, {0, 0}}}, 2},
		{"5x5 dil2 asym b1", 1, 11, 10, 2, 5, 5, 3, Conv2D{Pad: [2][2]int{{3, 5}, {4, 2}}, Dilation: [2]int{2, 2}}, 2},
		{"3x3 dil(1,2) b3", 3, 8, 9, 2, 3, 3, 2, Conv2D{Pad: [2][2]int{{1, 1}, {2, 2}}, Dilation: [2]int{1, 2}}, 2},
		// Padding past the window's span after the input: more outputs
		// than inputs, a col2im input gradient.
		{"bottom-heavy b1", 1, 5, 6, 2, 3, 3, 2, Conv2D{Pad: [2][2]int{{1, 3}, {0, 4}}}, 1},
		{"bottom-heavy b3", 3, 5, 6, 2, 3, 3, 2, Conv2D{Pad: [2][2]int{{1, 3}, {0, 4}}}, 1},
		// Padding past the span before the input: sliced taps.
		{"pad larger than kernel", 2, 4, 4, 2, 3, 3, 2, Conv2D{Pad: SymmetricPad(3)}, 0},
	}
	used := 0
	defer func(f func(shiftGrid, int, int) bool) { shiftPays = f }(shiftPays)
	shiftPays = func(shiftGrid, int, int) bool { used++; return true }
	defer func(f func([2]int, int, int) bool) { transposedPays = f }(transposedPays)
	for _, tc := range cases {
		x := randTensor(rng, tc.batch, tc.h, tc.w, tc.ci)
		w := randTensor(rng, tc.kh, tc.kw, tc.ci, tc.co)
		refs := map[string][3][]float32{"autodiff": autodiffConv(t, b, tc.conv, x, w)}
		if tc.kh == tc.kw {
			refs["standard"] = convRun(t, b, Standard, tc.conv, x, w)
		}
		// The input gradient as the transposed convolution where it can
		// be, or as col2im on the shifted grid.
		for _, transposed := range []bool{true, false} {
			uses := tc.uses
			if !transposed && uses == 2 {
				uses = 1
			}
			t.Run(fmt.Sprintf("%s transposed=%v", tc.name, transposed), func(t *testing.T) {
				transposedPays = func([2]int, int, int) bool { return transposed }
				used = 0
				got := convRun(t, b, Im2col, tc.conv, x, w)
				if used != uses {
					t.Errorf("built %d sets of shifted patches, want %d", used, uses)
				}
				for ref, want := range refs {
					for i, what := range []string{"value", "input gradient", "kernel gradient"} {
						if len(got[i]) != len(want[i]) {
							t.Fatalf("%s: %d values, want %d", what, len(got[i]), len(want[i]))
						}
						if d := relDiff(got[i], want[i]); d > 1e-5 {
							t.Errorf("%s: shifted im2col vs %s rel diff %.3g > 1e-5", what, ref, d)
						}
					}
				}
			})
		}
	}
}

// TestShiftedDepthwise checks stride-1 depthwise convolutions, built from
// shifted taps with the transposed convolution as input gradient, against
// autodiff through sliced taps and, for square kernels, graph.Convolve;
// and that the graph slices only to crop (forward and gradient).
func TestShiftedDepthwise(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(9, 10))
	cases := []struct {
		name           string
		batch, h, w, c int
		kh, kw         int
		pad            [2][2]int
		dil            [2]int
		shifted        bool
	}{
		{"3x3 same b1", 1, 7, 6, 4, 3, 3, SymmetricPad(1), [2]int{}, true},
		{"5x5 same b3", 3, 9, 7, 3, 5, 5, SymmetricPad(2), [2]int{}, true},
		{"3x2 asym b2", 2, 6, 7, 4, 3, 2, [2][2]int{{2, 0}, {0, 1}}, [2]int{}, true},
		{"3x3 dil2 b1", 1, 9, 8, 2, 3, 3, [2][2]int{{2, 1}, {1, 2}}, [2]int{2, 2}, true},
		{"3x3 valid b2", 2, 6, 5, 2, 3, 3, [2][2]int{}, [2]int{}, true},
		// Padding past the span after the input: the transposed
		// convolution's padding would be negative.
		{"bottom-heavy", 2, 5, 5, 2, 3, 3, [2][2]int{{1, 3}, {1, 1}}, [2]int{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conv := Conv2D{Pad: tc.pad, Dilation: tc.dil, Groups: tc.c}
			x := randTensor(rng, tc.batch, tc.h, tc.w, tc.c)
			w := randTensor(rng, tc.kh, tc.kw, 1, tc.c)
			refs := map[string][3][]float32{"autodiff": autodiffConv(t, b, conv, x, w)}
			if tc.kh == tc.kw {
				refs["standard"] = convRun(t, b, Standard, conv, x, w)
			}
			got := convRun(t, b, Im2col, conv, x, w)
			for ref, want := range refs {
				for i, what := range []string{"value", "input gradient", "kernel gradient"} {
					if d := relDiff(got[i], want[i]); d > 1e-5 || len(got[i]) != len(want[i]) {
						t.Errorf("%s: im2col vs %s rel diff %.3g (%d values, want %d)", what, ref, d, len(got[i]), len(want[i]))
					}
				}
			}
			// Count the slices of at least an output's spatial size that the
			// value and gradient need (autodiff leaves dead nodes behind).
			g := NewGraph(b, "depthwise")
			defer g.Finalize()
			xn := Parameter(g, "x", x.Shape())
			y := conv.Apply(Im2col, xn, Parameter(g, "w", w.Shape()))
			big, seen := 0, map[*Node]bool{}
			var visit func(n *Node)
			visit = func(n *Node) {
				if seen[n] {
					return
				}
				seen[n] = true
				if n.Type() == NodeTypeSlice && n.Shape().Size() >= y.Shape().Dim(1)*y.Shape().Dim(2) {
					big++
				}
				for _, in := range n.Inputs() {
					visit(in)
				}
			}
			visit(y)
			visit(Gradient(ReduceAllSum(y), xn)[0])
			if want := 2; tc.shifted && big != want || !tc.shifted && big < tc.kh*tc.kw {
				t.Errorf("%d large slices in the graph (shifted %v)", big, tc.shifted)
			}
		})
	}
}

// TestKeeper checks the values and input gradients built from the copies
// of the kernel that its model keeps (SetKeeper) against graph.Convolve's,
// and that each is asked for once per graph, in the layouts the gradient
// multiplies by: wᵀ at 1×1 and at strides > 1, the transposed
// convolution's kernel at stride 1, also with fewer than 4 pixels per
// output channel (col2im on the shifted grid without a keeper); and, at
// stride 1, 3×3, with at least 128 channels each way, the F(2×2, 3×3)
// transforms of the kernel and of the transposed convolution's, which the
// value multiplies by too: odd and even sizes, the paddings of bands
// (none at one edge) and a padding wider than the window's reach; but not
// for fewer than 3 output rows.
func TestKeeper(t *testing.T) {
	b := backend.MustGet()
	if !backend.IsGo(b) {
		t.Skip("keepers serve the pure-Go backend only")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	winograd := []string{winogradLayout, winogradTransposedLayout}
	cases := []struct {
		convCase
		layouts []string
	}{
		{convCase{"1x1", 5, 6, 7, 1, 3, Conv2D{}}, []string{transposedLayout}},
		{convCase{"1x1/2", 7, 6, 4, 1, 5, Conv2D{Stride: [2]int{2, 2}}}, []string{transposedLayout}},
		{convCase{"3x3/2 pad1", 9, 8, 3, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}}, []string{transposedLayout}},
		{convCase{"3x3 pad1", 9, 8, 3, 3, 4, Conv2D{Pad: SymmetricPad(1)}}, []string{tapsTransposedLayout}},
		{convCase{"3x3 pad1, few pixels per channel", 3, 3, 12, 3, 12, Conv2D{Pad: SymmetricPad(1)}}, []string{tapsTransposedLayout}},
		{convCase{"3x3 pad1, 128 channels", 7, 9, 128, 3, 128, Conv2D{Pad: SymmetricPad(1)}}, winograd},
		{convCase{"3x3 band pads, 130 to 144 channels", 6, 5, 130, 3, 144, Conv2D{Pad: [2][2]int{{0, 1}, {1, 1}}}}, winograd},
		{convCase{"3x3 top band pads, 128 channels", 5, 8, 128, 3, 128, Conv2D{Pad: [2][2]int{{1, 0}, {1, 1}}}}, winograd},
		{convCase{"3x3 no pad, 128 channels", 8, 6, 128, 3, 128, Conv2D{}}, winograd},
		{convCase{"3x3 pad2, 128 channels", 4, 5, 128, 3, 128, Conv2D{Pad: SymmetricPad(2)}}, winograd},
		{convCase{"3x3 pad1, 128 channels, 2 rows", 2, 6, 128, 3, 128, Conv2D{Pad: SymmetricPad(1)}}, []string{tapsTransposedLayout}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := randTensor(rng, 2, tc.h, tc.w, tc.cin)
			w := randTensor(rng, tc.k, tc.k, tc.cin, tc.cout)
			want := convRun(t, b, Standard, tc.conv, x, w)
			wm := tensors.MustCopyFlatData[float32](w)
			asked := map[string]int{}
			exec := MustNewExec(b, func(x, w *Node) []*Node {
				g := x.Graph()
				w = Reshape(w, tc.k*tc.k*tc.cin, tc.cout)
				SetKeeper(w, constKeeper(g, wm, asked))
				c := tc.conv
				c.Window = [2]int{tc.k, tc.k}
				y := c.Apply(Im2col, x, w)
				loss := ReduceAllSum(Mul(y, Sin(IotaFull(g, y.Shape()))))
				// Two gradients of one graph share the kept copy.
				return append([]*Node{y}, Add(Gradient(loss, x)[0], Gradient(ReduceAllSum(Mul(loss, loss)), x)[0]))
			})
			got := exec.MustExec(x, w)
			if d := relDiff(tensors.MustCopyFlatData[float32](got[0]), want[0]); d > 1e-5 {
				t.Errorf("value: rel diff %.3g", d)
			}
			// d(loss²)/dx = 2·loss·dloss/dx.
			lossSum := 0.0
			yv := tensors.MustCopyFlatData[float32](got[0])
			for i, v := range yv {
				lossSum += float64(v) * math.Sin(float64(i%len(yv)))
			}
			wantGrad := make([]float32, len(want[1]))
			for i, v := range want[1] {
				wantGrad[i] = v * float32(1+2*lossSum)
			}
			if d := relDiff(tensors.MustCopyFlatData[float32](got[1]), wantGrad); d > 1e-4 {
				t.Errorf("input gradient: rel diff %.3g", d)
			}
			if len(asked) != len(tc.layouts) || slices.ContainsFunc(tc.layouts, func(l string) bool { return asked[l] != 1 }) {
				t.Errorf("the keeper was asked for %v, want %v once each", asked, tc.layouts)
			}
		})
	}
}

// constKeeper returns a Keeper that fills each copy from the kernel's
// values w as a constant of g, counting the layouts asked for in asked.
func constKeeper(g *Graph, w []float32, asked map[string]int) Keeper {
	return func(layout string, dims []int, fill func(w, dst []float32)) *Node {
		asked[layout]++
		dst := make([]float32, shapes.Make(dtypes.Float32, dims...).Size())
		fill(w, dst)
		return Const(g, tensors.FromFlatDataAndDimensions(dst, dims...))
	}
}

// TestWeightsFirst checks the input gradients built as a product by the
// kernel first (timesT) against graph.Convolve's, with weightsFirstPays
// forced each way (1×1 and strided convolutions take that product), and
// weightsFirstPays's choice on ResNet-50's products at 224², batch 1.
func TestWeightsFirst(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(11, 12))
	pays := weightsFirstPays
	defer func() { weightsFirstPays = pays }()
	cases := []convCase{
		{"1x1", 5, 6, 7, 1, 3, Conv2D{}},
		{"1x1/2", 7, 6, 4, 1, 5, Conv2D{Stride: [2]int{2, 2}}},
		{"3x3/2 pad1", 9, 8, 3, 3, 4, Conv2D{Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}},
	}
	for _, tc := range cases {
		x := randTensor(rng, 2, tc.h, tc.w, tc.cin)
		w := randTensor(rng, tc.k, tc.k, tc.cin, tc.cout)
		want := convRun(t, b, Standard, tc.conv, x, w)
		for _, first := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s first=%v", tc.name, first), func(t *testing.T) {
				asked := 0
				weightsFirstPays = func(int, int, int) bool { asked++; return first }
				got := convRun(t, b, Im2col, tc.conv, x, w)
				if asked == 0 && backend.IsGo(b) {
					t.Error("the input gradient did not ask weightsFirstPays")
				}
				for i, what := range []string{"value", "input gradient", "kernel gradient"} {
					if d := relDiff(got[i], want[i]); d > 1e-5 || len(got[i]) != len(want[i]) {
						t.Errorf("%s: im2col vs standard rel diff %.3g (%d values, want %d)", what, d, len(got[i]), len(want[i]))
					}
				}
			})
		}
	}
	weightsFirstPays = pays
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, tc := range []struct {
		name         string
		rows, m, n   int
		procs        int
		weightsFirst bool
	}{
		{"layer3 conv3 (one core)", 196, 256, 1024, 2, true},
		{"layer4 conv3 (one core)", 49, 512, 2048, 2, true},
		{"one core anyway", 49, 512, 2048, 1, false},
		{"layer1 (rows split already)", 3136, 64, 256, 2, false},
		{"layer4 conv1 (columns split already)", 49, 2048, 512, 2, false},
		{"few channels to add (the transpose costs more)", 196, 256, 64, 2, false},
		{"too few rows to split", 8, 40, 4096, 2, false},
	} {
		runtime.GOMAXPROCS(tc.procs)
		if got := weightsFirstPays(tc.rows, tc.m, tc.n); got != tc.weightsFirst {
			t.Errorf("%s: weightsFirstPays(%d, %d, %d) with %d procs = %v, want %v", tc.name, tc.rows, tc.m, tc.n, tc.procs, got, tc.weightsFirst)
		}
	}
}
