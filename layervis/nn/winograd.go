package nn

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, 2016): each
// 2×2 tile of a stride-1 3×3 convolution's output is Aᵀ[(G g Gᵀ) ⊙
// (Bᵀ d B)]A, d the tile's 4×4 input window and g the kernel. Summed over
// the input channels, the ⊙ is one product per element of the 4×4, which
// compute v0.1.6 runs as one batched product ([16, tiles, Cin] ×
// [16, Cin, Cout]) as fast per multiply-add as im2col's one large product:
// 16 multiply-adds per tile of 4 output values and channel pair instead of
// 36. The transforms of the windows and of the tiles are products too, by
// the 16×16 matrix Bᵀ⊗Bᵀ and the 4×16 Aᵀ⊗Aᵀ.
var (
	winogradBT = [][4]float32{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}
	winogradG  = [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	winogradAT = [][4]float32{{1, 1, 1, 0}, {0, 1, -1, -1}}
)

// The layouts kept of a 3×3 kernel matrix [9·Cin, Cout] for F(2×2, 3×3):
// G g Gᵀ, [16, Cin, Cout], and that of the transposed convolution's kernel
// (the window flipped, Cin and Cout swapped), [16, Cout, Cin].
const (
	winogradLayout           = "winograd"
	winogradTransposedLayout = "winograd-transposed"
)

// winogradFill returns the fill of G g Gᵀ ([16, Cin, Cout]; transposed:
// of the transposed convolution's kernel, [16, Cout, Cin]) from the kernel
// matrix w [9·Cin, Cout], in float64 and then rounded.
func winogradFill(cin, cout int, transposed bool) func(w, dst []float32) {
	return func(w, dst []float32) {
		for e := range 16 {
			i, j := e/4, e%4
			for c := range cin {
				for n := range cout {
					var s float64
					for ky := range 3 {
						for kx := range 3 {
							gy, gx := ky, kx
							if transposed {
								gy, gx = 2-ky, 2-kx
							}
							s += winogradG[i][ky] * winogradG[j][kx] * float64(w[((gy*3+gx)*cin+c)*cout+n])
						}
					}
					if transposed {
						dst[(e*cout+n)*cin+c] = float32(s)
					} else {
						dst[(e*cin+c)*cout+n] = float32(s)
					}
				}
			}
		}
	}
}

// winogradPays reports whether F(2×2, 3×3) costs less than im2col on the
// pure-Go backend for the given number of tiles, Cin input and Cout output
// channels. Measured on ResNet-50's step at 224², 2 cores
// (alternating BenchmarkStep runs, 4 each, fast state): with at least 128
// channels each way (layer2–4), 161–166 ms against 172–177 with im2col;
// from 64 (layer1 too) no faster; without layer4's bands of 8 tiles,
// 168–174.
func winogradPays(tiles, cin, cout int) bool {
	return tiles >= 1 && cin >= 128 && cout >= 128
}

// winogradFits reports whether a convolution with the window k, stride and
// dilation dil, of an input of shape xShape padded by pad, Cin input and
// Cout output channels, is built by F(2×2, 3×3) (where its model keeps
// copies): stride 1, 3×3, no dilation, at least 3 output rows, and
// winogradPays. Thinner bands (on many cores) would compute as many rows
// again as they keep, in as many ops as thick ones: scripts/opprof.sh
// -span predicts ResNet-50's step at 224² on 16 cores (bands of 1–2 rows
// in layer2–4) at 84 ms with this bound, 91 from 2 rows, 110 from 1 (one
// run each, back to back).
func winogradFits(k, stride, dil [2]int, xShape shapes.Shape, pad [2][2]int, cin, cout int) bool {
	if k != [2]int{3, 3} || stride != [2]int{1, 1} || dil != [2]int{1, 1} {
		return false
	}
	ho, wo := OutSize(xShape.Dim(1), 3, 1, 1, pad[0]), OutSize(xShape.Dim(2), 3, 1, 1, pad[1])
	return ho >= 3 && winogradPays(xShape.Dim(0)*((ho+1)/2)*((wo+1)/2), cin, cout)
}

// winograd builds dense's stride-1 3×3 convolution (dilation 1) of x with
// the kernel matrix w [9·Cin, Cout], plus the bias b (nil: none), by
// F(2×2, 3×3) from the kernel's transform that w's model keeps
// (SetKeeper); its input gradient is inputGrad's (F(2×2, 3×3) too, from
// the transposed convolution's kept transform). ok is false (nothing
// built) where w's model keeps no copies.
func (c Conv2D) winograd(x, w, b *Node) (_ *Node, ok bool) {
	cin, cout := w.Shape().Dim(0)/9, w.Shape().Dim(1)
	u := kept(w, winogradLayout, []int{16, cin, cout}, winogradFill(cin, cout, false))
	if u == nil {
		return nil, false
	}
	k, one := [2]int{3, 3}, [2]int{1, 1}
	// The kernel's values reach y through its kept transform only: its
	// gradient, which models that keep copies (frozen weights) never take,
	// is refused. The tie costs one value: an identity of the whole kernel
	// would copy it at every run.
	frozen := IdentityWithCustomGradient(firstElem(w), func(_, _ *Node) *Node {
		exceptions.Panicf("nn: no gradient for the kernel %s of a 3×3 convolution built by F(2×2, 3×3) from the copies its "+
			"model keeps (SetKeeper): such a model's weights are frozen", w.Shape())
		return nil
	})
	return withInputGradient(x, func(x *Node) *Node {
		return winogradConv(x, c.Pad, u, c.phase)
	}, b, func(v *Node) *Node {
		return c.inputGrad(v, w, k, x.Shape(), one, one)
	}, frozen), true
}

// winogradConv returns the stride-1 3×3 convolution of x [B,H,W,C] padded
// by pad with zeros, by F(2×2, 3×3) with the kernel's transform u
// [16, C, N]: [B,Ho,Wo,N]. Its tiles start one row above x's first output
// row where phase is 1 (that row computed from zeros, then dropped): a
// band's tiles are then the whole output's, whose values they round to
// exactly (a tile's second row does not read the first row of its window,
// whose values only enter the first). Nothing differentiates through it.
func winogradConv(x *Node, pad [2][2]int, u *Node, phase int) *Node {
	g := x.Graph()
	dims := x.Shape().Dimensions
	bsz, c, n := dims[0], dims[3], u.Shape().Dim(2)
	pad[0][0] += phase
	ho, wo := OutSize(dims[1], 3, 1, 1, pad[0]), OutSize(dims[2], 3, 1, 1, pad[1])
	th, tw := (ho+1)/2, (wo+1)/2
	tiles := bsz * th * tw
	xp := Pad(x, ScalarZero(g, x.DType()), compute.PadAxis{},
		compute.PadAxis{Start: pad[0][0], End: 2*th + 2 - dims[1] - pad[0][0]},
		compute.PadAxis{Start: pad[1][0], End: 2*tw + 2 - dims[2] - pad[1][0]}, compute.PadAxis{})
	xq, packed := pack(xp)
	// The tiles' 4×4 input windows at stride 2, value (p, q) of each (the
	// window's taps), stacked on the batch axis: [16·B, th, tw, C], which is
	// [16, tiles, C].
	d := Concatenate(windows(xq, [2]int{4, 4}, [2]int{2, 2}, [2]int{1, 1}), 0)
	if packed {
		d = unpack(d)
	}
	// Bᵀ d B, each window's 16 values at once, then the 16 products.
	vals := DotGeneral(winogradMatrix(g, winogradBT), []int{1}, nil, Reshape(d, 16, tiles*c), []int{0}, nil)
	m := DotGeneral(Reshape(vals, 16, tiles, c), []int{2}, []int{0}, u, []int{1}, []int{0})
	// Aᵀ M A: the tiles' 2×2 outputs, [a, b, B, th, tw, N], interleaved.
	y := DotGeneral(winogradMatrix(g, winogradAT), []int{1}, nil, Reshape(m, 16, tiles*n), []int{0}, nil)
	y = TransposeAllAxes(Reshape(y, 2, 2, bsz, th, tw, n), 2, 3, 0, 4, 1, 5)
	y = Reshape(y, bsz, 2*th, 2*tw, n)
	if phase != 0 || 2*th != ho || 2*tw != wo {
		yq, packed := pack(y)
		yq = Slice(yq, AxisRange(), AxisRange(phase, ho), AxisRange(0, wo), AxisRange())
		if packed {
			yq = unpack(yq)
		}
		y = yq
	}
	return StopGradient(y)
}

// winogradMatrix returns the Kronecker product t⊗t of the rows t (Bᵀ or
// Aᵀ), [r², 16], as a constant: row (i, j), column (p, q) is
// t[i][p]·t[j][q].
func winogradMatrix(g *Graph, t [][4]float32) *Node {
	r := len(t)
	m := make([]float32, r*r*16)
	for i := range r {
		for j := range r {
			for p := range 4 {
				for q := range 4 {
					m[(i*r+j)*16+p*4+q] = t[i][p] * t[j][q]
				}
			}
		}
	}
	return Const(g, tensors.FromFlatDataAndDimensions(m, r*r, 16))
}
