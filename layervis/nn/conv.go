package nn

import (
	"runtime"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	timage "github.com/gomlx/gomlx/core/tensors/images"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/backend"
)

// Conv2D describes a 2-D convolution over an NHWC input with an HWIO kernel
// ([kh, kw, cin/groups, cout]), or the same numbers as the matrix
// [kh·kw·cin/groups, cout] that the im2col form multiplies by (see Window).
type Conv2D struct {
	Stride   [2]int
	Pad      [2][2]int // [[top, bottom], [left, right]]
	Dilation [2]int    // zero values mean 1
	Groups   int       // zero means 1; Groups == cin is a depthwise convolution
	// Window is the kernel's [kh, kw] when the kernel is given as a matrix
	// [kh·kw·cin/groups, cout] (HWIO with its first three axes merged);
	// unused for an HWIO kernel. Models should store their kernels as
	// matrices: the pure-Go backend copies a weight it reshapes at every
	// run, and the standard form's reshape back to HWIO is free on XLA.
	Window [2]int
	// phase is the parity, within the whole image, of the first row a
	// band's convolution computes: of its output (ApplyBands) or of its
	// input gradient (bandsInputGrad). F(2×2, 3×3) tiles start on the
	// whole image's even rows, so that a band rounds as the whole does.
	phase int
}

func orOne(v int) int {
	if v <= 0 {
		return 1
	}
	return v
}

// SymmetricPad returns a padding of p pixels on every side.
func SymmetricPad(p int) [2][2]int { return [2][2]int{{p, p}, {p, p}} }

// SamePad returns TensorFlow's SAME padding for a k-tap window with stride s
// over n pixels: the total padding max((ceil(n/s)-1)·s+k-n, 0), the smaller
// half before (asymmetric at stride 2).
func SamePad(n, k, s int) [2]int {
	out := (n + s - 1) / s
	total := max((out-1)*s+k-n, 0)
	return [2]int{total / 2, total - total/2}
}

// OutSize returns the output length of a window of k taps (dilation d) with
// stride s over n pixels padded by pad.
// It is 0 when the window does not fit in the padded input.
func OutSize(n, k, s, d int, pad [2]int) int {
	ek := (k-1)*orOne(d) + 1
	span := n + pad[0] + pad[1] - ek
	if span < 0 {
		return 0
	}
	return span/orOne(s) + 1
}

// Apply builds the convolution of x [B,H,W,Cin] with the kernel w (HWIO
// [kh,kw,Cin/groups,Cout], or a matrix [kh·kw·Cin/groups, Cout] with
// c.Window set) in the given form and returns [B,Ho,Wo,Cout].
func (c Conv2D) Apply(form Form, x, w *Node) *Node { return c.ApplyBias(form, x, w, nil) }

// ApplyBias is [Conv2D.Apply] followed by adding the per-channel bias b
// [Cout] (nil: none). The im2col form of an ungrouped or a stride-1
// depthwise convolution adds it in the same pass as the zero that ties its
// custom input gradient to x.
func (c Conv2D) ApplyBias(form Form, x, w, b *Node) *Node {
	k, cinG, cout := c.kernel(x, w)
	if b != nil && (b.Rank() != 1 || b.Shape().Dim(0) != cout) {
		exceptions.Panicf("nn.Conv2D: bias %s does not fit %d output channels", b.Shape(), cout)
	}
	if form == Im2col {
		if w.Rank() == 4 {
			w = Reshape(w, k[0]*k[1]*cinG, cout)
		}
		return c.im2col(x, w, k, b)
	}
	if w.Rank() == 2 {
		w = Reshape(w, k[0], k[1], cinG, cout)
	}
	y := c.standard(x, w)
	if b != nil {
		y = AddBias(y, b)
	}
	return y
}

// kernel checks the kernel w against x and returns its window, input
// channels per group and output channels.
func (c Conv2D) kernel(x, w *Node) (k [2]int, cinG, cout int) {
	if x.Rank() != 4 || (w.Rank() != 4 && w.Rank() != 2) {
		exceptions.Panicf("nn.Conv2D: want an NHWC input and an HWIO or matrix kernel, got %s and %s", x.Shape(), w.Shape())
	}
	groups := orOne(c.Groups)
	cin := x.Shape().Dim(3)
	cinG, cout = cin/groups, w.Shape().Dim(w.Rank()-1)
	if w.Rank() == 2 {
		k = c.Window
		if k[0] <= 0 || k[1] <= 0 || cin%groups != 0 || w.Shape().Dim(0) != k[0]*k[1]*cinG {
			exceptions.Panicf("nn.Conv2D: matrix kernel %s with Window %v and %d group(s) does not fit %d input channels (want [kh·kw·cin/groups, cout])",
				w.Shape(), k, groups, cin)
		}
		return k, cinG, cout
	}
	if w.Shape().Dim(2)*groups != cin {
		exceptions.Panicf("nn.Conv2D: kernel %s with %d group(s) does not fit %d input channels", w.Shape(), groups, cin)
	}
	return [2]int{w.Shape().Dim(0), w.Shape().Dim(1)}, cinG, cout
}

// standard builds the convolution with graph.Convolve. A grouped one gets
// its input gradient from groupedInputGrad: GoMLX's own splits it into one
// convolution per group, hundreds for a depthwise layer. So does one with an
// even kernel size: GoMLX v0.28.8's gradient of those is wrong (2×2, 3×2)
// or fails to build (asymmetric padding).
func (c Conv2D) standard(x, w *Node) *Node {
	groups := orOne(c.Groups)
	conv := func(x *Node) *Node {
		b := Convolve(x, w).ChannelsAxis(timage.ChannelsLast).
			StridePerAxis(orOne(c.Stride[0]), orOne(c.Stride[1])).
			PaddingPerDim([][2]int{c.Pad[0], c.Pad[1]})
		if d0, d1 := orOne(c.Dilation[0]), orOne(c.Dilation[1]); d0 != 1 || d1 != 1 {
			b = b.DilationPerAxis(d0, d1)
		}
		if groups != 1 {
			b = b.ChannelGroupCount(groups)
		}
		return b.Done()
	}
	if kh, kw := w.Shape().Dim(0), w.Shape().Dim(1); groups == 1 && kh%2 == 1 && kw%2 == 1 {
		return conv(x)
	}
	return withInputGradient(x, func(x *Node) *Node { return conv(StopGradient(x)) },
		nil, func(v *Node) *Node { return c.groupedInputGrad(v, w, x.Shape()) })
}

// nhwc is the axes configuration of an NHWC input, an HWIO kernel and an
// NHWC output.
var nhwc = compute.ConvolveAxesConfig{
	InputBatch: 0, InputSpatial: []int{1, 2}, InputChannels: 3,
	KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
	OutputBatch: 0, OutputSpatial: []int{1, 2}, OutputChannels: 3,
}

// groupedInputGrad returns dL/dx [B,H,W,Cin] (the shape xShape) of the
// grouped convolution c of x with w [kh,kw,Cin/G,Cout] from v = dL/dy
// [B,Ho,Wo,Cout], as one grouped transposed convolution: v dilated by the
// stride, padded by the window span less c's padding, convolved in G groups
// with w reversed in space and with each group's input and output channels
// swapped ([kh,kw,Cout/G,Cin]).
func (c Conv2D) groupedInputGrad(v, w *Node, xShape shapes.Shape) *Node {
	kh, kw, cinG, cout := w.Shape().Dim(0), w.Shape().Dim(1), w.Shape().Dim(2), w.Shape().Dim(3)
	groups := orOne(c.Groups)
	coutG := cout / groups
	k := Reshape(w, kh, kw, cinG, groups, coutG)
	k = Reshape(TransposeAllAxes(k, 0, 1, 4, 3, 2), kh, kw, coutG, groups*cinG)
	k = Reverse(k, 0, 1)
	stride := [2]int{orOne(c.Stride[0]), orOne(c.Stride[1])}
	dil := [2]int{orOne(c.Dilation[0]), orOne(c.Dilation[1])}
	pad := make([][2]int, 2)
	var crop [2][2]int // output rows/columns to drop where the padding would be negative
	for i, n := range [2]int{xShape.Dim(1), xShape.Dim(2)} {
		o := v.Shape().Dim(1 + i)
		span := ([2]int{kh, kw}[i] - 1) * dil[i]
		lo, hi := span-c.Pad[i][0], n+c.Pad[i][0]-1-(o-1)*stride[i]
		pad[i] = [2]int{max(lo, 0), max(hi, 0)}
		crop[i] = [2]int{max(-lo, 0), max(-hi, 0)}
	}
	var inDil []int
	if stride != [2]int{1, 1} {
		inDil = stride[:]
	}
	g := ConvGeneral(v, k, nhwc, nil, pad, inDil, dil[:], groups, 1)
	if crop != ([2][2]int{}) {
		g = Slice(g, AxisRange(),
			AxisRange(crop[0][0], g.Shape().Dim(1)-crop[0][1]),
			AxisRange(crop[1][0], g.Shape().Dim(2)-crop[1][1]), AxisRange())
	}
	return g
}

// taps returns the k[0]·k[1] strided windows of the padded x, each
// [B,Ho,Wo,C], in (ky, kx) row-major order; a single window that spans the
// whole of x is x itself.
func taps(x *Node, k, stride, dil [2]int, pad [2][2]int, fill float64) []*Node {
	return windows(padded(x, pad, fill), k, stride, dil)
}

// padded returns x [B,H,W,C] padded by pad with fill.
func padded(x *Node, pad [2][2]int, fill float64) *Node {
	if pad == ([2][2]int{}) {
		return x
	}
	return Pad(x, Scalar(x.Graph(), x.DType(), fill),
		compute.PadAxis{}, compute.PadAxis{Start: pad[0][0], End: pad[0][1]},
		compute.PadAxis{Start: pad[1][0], End: pad[1][1]}, compute.PadAxis{})
}

// windows returns the taps of the unpadded x (see taps).
func windows(x *Node, k, stride, dil [2]int) []*Node {
	h, w := x.Shape().Dim(1), x.Shape().Dim(2)
	ho := OutSize(h, k[0], stride[0], dil[0], [2]int{})
	wo := OutSize(w, k[1], stride[1], dil[1], [2]int{})
	if ho <= 0 || wo <= 0 {
		exceptions.Panicf("nn: window %v (dilation %v) larger than padded input %dx%d", k, dil, h, w)
	}
	if ho == h && wo == w { // one tap, the whole input: a slice would copy it
		return []*Node{x}
	}
	out := make([]*Node, 0, k[0]*k[1])
	for ky := range k[0] {
		for kx := range k[1] {
			y0, x0 := ky*dil[0], kx*dil[1]
			out = append(out, Slice(x, AxisRange(),
				AxisRange(y0, y0+(ho-1)*stride[0]+1).Stride(stride[0]),
				AxisRange(x0, x0+(wo-1)*stride[1]+1).Stride(stride[1]),
				AxisRange()))
		}
	}
	return out
}

// pack returns x [..., C], float32 with an even C, as pairs of channels
// [..., C/2] of uint64 (a copy), which the pure-Go backend slices at about
// the same cost per element as float32, so at about half the cost per
// channel. ok is false (x returned) for other inputs. Nothing may
// differentiate through it.
func pack(x *Node) (_ *Node, ok bool) {
	d := x.Shape().Dimensions
	c := d[len(d)-1]
	if x.DType() != dtypes.Float32 || c%2 != 0 {
		return x, false
	}
	return Bitcast(Reshape(x, append(slices.Clone(d[:len(d)-1]), c/2, 2)...), dtypes.Uint64), true
}

// unpack is the inverse of pack.
func unpack(x *Node) *Node {
	d := slices.Clone(x.Shape().Dimensions)
	d[len(d)-1] *= 2
	return Reshape(Bitcast(x, dtypes.Float32), d...)
}

// im2col builds the convolution of x with the kernel matrix w
// [k[0]·k[1]·Cin/groups, Cout], plus the bias b (nil: none).
func (c Conv2D) im2col(x, w *Node, k [2]int, b *Node) *Node {
	cout := w.Shape().Dim(1)
	cinG := w.Shape().Dim(0) / (k[0] * k[1])
	groups := orOne(c.Groups)
	stride := [2]int{orOne(c.Stride[0]), orOne(c.Stride[1])}
	dil := [2]int{orOne(c.Dilation[0]), orOne(c.Dilation[1])}
	if groups == 1 {
		return c.dense(x, w, b, k, stride, dil)
	}
	if cinG == 1 && cout == groups {
		// Depthwise: a weighted sum of the taps, channel by channel.
		if y, ok := c.shiftedDepthwise(x, w, b, k, stride, dil); ok {
			return y
		}
		return c.slicedDepthwise(x, w, b, k, stride, dil)
	}
	cols := taps(x, k, stride, dil, c.Pad, 0)
	// General grouped convolution: one im2col product per group.
	coutG := cout / groups
	outs := make([]*Node, groups)
	for g := range groups {
		gcols := make([]*Node, len(cols))
		for i, col := range cols {
			gcols[i] = Slice(col, AxisRange(), AxisRange(), AxisRange(), AxisRange(g*cinG, (g+1)*cinG))
		}
		outs[g] = matmulLast(Concatenate(gcols, 3), Slice(w, AxisRange(), AxisRange(g*coutG, (g+1)*coutG)))
	}
	y := Concatenate(outs, 3)
	if b != nil {
		y = AddBias(y, b)
	}
	return y
}

// slicedDepthwise builds the depthwise convolution c of x with the kernel
// matrix w [k², C], plus the bias b (nil: none), as the weighted sum of its
// sliced taps (not packed: unpacking each tap costs more than it saves),
// with its input gradient written out: each tap's share of
// dL/dy, v times the tap's weights, added back into place by stride phase
// (untap). Autodiff would pad every tap's share to the whole padded input
// (with interior padding at stride > 1, s² times the elements) and slice
// the padding off.
func (c Conv2D) slicedDepthwise(x, w, b *Node, k, stride, dil [2]int) *Node {
	var ws []*Node
	ho := OutSize(x.Shape().Dim(1), k[0], stride[0], dil[0], c.Pad[0])
	wo := OutSize(x.Shape().Dim(2), k[1], stride[1], dil[1], c.Pad[1])
	return withInputGradient(x, func(x *Node) *Node {
		cols := taps(x, k, stride, dil, c.Pad, 0)
		for i, col := range cols {
			cols[i] = StopGradient(col) // autodiff builds nothing for the taps
		}
		ws = tapWeights(cols, w)
		return sumOfProducts(cols, ws)
	}, b, func(v *Node) *Node {
		return untap(v.Graph(), func(t int, rows, cols [2]int) *Node {
			share := Mul(v, ws[t])
			if rows == [2]int{0, ho} && cols == [2]int{0, wo} {
				return share
			}
			return Slice(share, AxisRange(), AxisRange(rows[0], rows[1]), AxisRange(cols[0], cols[1]), AxisRange())
		}, x.Shape(), k, stride, dil, c.Pad)
	})
}

// weightedSum returns the sum of the taps cols, each multiplied channel by
// channel by its tap of the depthwise kernel matrix w [k², C].
func weightedSum(cols []*Node, w *Node) *Node {
	return sumOfProducts(cols, tapWeights(cols, w))
}

// tapWeights returns the taps (rows) of the depthwise kernel matrix w
// [k², C], each repeated to the shape of the tap of cols it multiplies.
func tapWeights(cols []*Node, w *Node) []*Node {
	c := w.Shape().Dim(1)
	ws := make([]*Node, len(cols))
	for i, col := range cols {
		ws[i] = channelwise(Reshape(Slice(w, AxisElem(i)), c), col)
	}
	return ws
}

// sumOfProducts returns the sum of a[i]·b[i].
func sumOfProducts(a, b []*Node) *Node {
	sum := Mul(a[0], b[0])
	for i := 1; i < len(a); i++ {
		sum = Add(sum, Mul(a[i], b[i]))
	}
	return sum
}

// dense builds a groups == 1 convolution as one product of the patches
// [B,Ho,Wo,k²·Cin] (or, shifted, [m, k²·Cin]) and the kernel matrix w
// [k²·Cin, Cout], plus the bias b (nil for none; added with
// withInputGradient's zero), with the input gradient written out
// (inputGrad's) instead of derived by autodiff, which copies dL/dpatches
// once more (GoMLX's DotGeneral gradient ends with a transpose, identity or
// not, that the pure-Go backend executes as a copy), then pads every tap's
// block to the padded input, sums them and crops. The kernel and bias keep
// autodiff's gradients. Convolutions that winogradFits are built by
// F(2×2, 3×3) instead, where w's model keeps copies (winograd).
func (c Conv2D) dense(x, w, b *Node, k, stride, dil [2]int) *Node {
	if stride != [2]int{1, 1} && dil == [2]int{1, 1} && depthPays(x.Shape().Dim(3), k, stride) {
		return c.spaceToDepth(x, w, b, k, stride)
	}
	if winogradFits(k, stride, dil, x.Shape(), c.Pad, w.Shape().Dim(0)/9, w.Shape().Dim(1)) {
		if y, ok := c.winograd(x, w, b); ok {
			return y
		}
	}
	return withInputGradient(x, func(x *Node) *Node {
		p := patchesOf(x, k, stride, dil, c.Pad, w.Shape().Dim(1), false)
		return p.out(DotGeneral(p.rows, []int{p.rows.Rank() - 1}, nil, w, []int{0}, nil))
	}, b, func(v *Node) *Node {
		return c.inputGrad(v, w, k, x.Shape(), stride, dil)
	})
}

// patches are im2col patches: rows, k²·C tap values per position they are
// computed at ([B,Ho,Wo,k²·C], or [m, k²·C] when shifted), and out, which
// turns a product of rows (its last axis N) into the convolution's output
// [B,Ho,Wo,N].
type patches struct {
	rows *Node
	out  func(y *Node) *Node
}

// patchesOf returns the patches of the windows k (stride, dilation dil) of
// x [B,H,W,C] padded by pad with zeros, their taps in (ky, kx) row-major
// order; n is the number of output channels the rows will be multiplied
// into. For the transposed convolution of an input gradient (transposed),
// the taps are in reverse order and the output is not differentiated. At
// stride 1, where shifting pays, they are shifted (shiftGrid.patches),
// otherwise the taps' strided slices.
func patchesOf(x *Node, k, stride, dil [2]int, pad [2][2]int, n int, transposed bool) patches {
	if stride == [2]int{1, 1} && k[0]*k[1] > 1 {
		if g, ok := newShiftGrid(x.Shape(), k, dil, pad); ok && shiftPays(g, k[0]*k[1]*x.Shape().Dim(3), n) {
			return g.patches(x, k, dil, transposed)
		}
	}
	xp := padded(x, pad, 0)
	// Packed, the slices cost about half, for a copy of the padded input
	// and one of the patches: worth it unless the input is much larger.
	ho := OutSize(x.Shape().Dim(1), k[0], stride[0], dil[0], pad[0])
	wo := OutSize(x.Shape().Dim(2), k[1], stride[1], dil[1], pad[1])
	packed := false
	if k[0]*k[1] > 1 && xp.Shape().Size() <= 2*k[0]*k[1]*x.Shape().Dim(0)*ho*wo*x.Shape().Dim(3) {
		xp, packed = pack(xp)
	}
	cols := windows(xp, k, stride, dil)
	if transposed {
		slices.Reverse(cols)
	}
	rows := cols[0]
	if len(cols) > 1 {
		rows = Concatenate(cols, 3)
	}
	if packed {
		// GoMLX has no gradient for the casts: autodiff stops here (its
		// part is discarded anyway, see withInputGradient).
		rows = StopGradient(unpack(rows))
	}
	// Rank 4, as they are: a reshape of an input with other uses (the
	// single tap of a 1×1 convolution is its input) copies it on the
	// pure-Go backend.
	return patches{rows: rows, out: func(y *Node) *Node { return y }}
}

// withInputGradient returns y = f(x) + b (b a per-channel bias, nil for
// none) whose gradient with respect to x is grad(v), v = dL/dy, instead of
// autodiff's through f. Other nodes f uses get autodiff's gradients as
// usual. What autodiff derives for x through f is discarded, so never
// computed: f need not stop it (a StopGradient of x would copy x on the
// pure-Go backend wherever x has other uses).
//
// GoMLX attaches custom gradients only to identities, so the ones on y and
// on x share v: y's records dL/dy, which x's turns into its gradient. y
// depends on x through an exactly-zero scalar (zeroOf), added to f(x), or to
// b where there is one (which saves an add over the whole output), so that
// autodiff reaches x from y even where f stops it; reverse autodiff visits
// y and f's nodes (later nodes) before x, so each Gradient call records its
// dL/dy before x's reads it. (On the pure-Go backend an identity copies its
// input unless it is the input's last use; these two are.) y depends on
// the nodes ties through exact zeros as well, so that autodiff reaches
// them.
func withInputGradient(x *Node, f func(x *Node) *Node, b *Node, grad func(v *Node) *Node, ties ...*Node) *Node {
	return withGradient(x, func(x *Node) *Node {
		y, zero := f(x), zeroOf(x)
		for _, t := range ties {
			zero = Add(zero, zeroOf(t))
		}
		if b == nil {
			return Add(y, zero)
		}
		return Add(y, channelwise(Add(b, zero), y))
	}, grad)
}

// WithInputGradient returns y = f(x) whose gradient with respect to x is
// grad(v), v = dL/dy, instead of autodiff's through f. Other nodes f uses
// get autodiff's gradients as usual. f must stop x's gradient
// (StopGradient) before any op autodiff cannot differentiate, such as a
// backend gather without a gradient rule: autodiff still reaches x from y
// (through an exactly-zero term), but only through grad.
func WithInputGradient(x *Node, f func(x *Node) *Node, grad func(v *Node) *Node) *Node {
	return withInputGradient(x, f, nil, grad)
}

// withGradient is withInputGradient for an f whose result autodiff can
// trace back to its argument: it adds no zero. Autodiff's own gradient of
// f is built but never run (the backend skips nodes no output needs).
func withGradient(x *Node, f func(x *Node) *Node, grad func(v *Node) *Node) *Node {
	var v *Node
	held := IdentityWithCustomGradient(x, func(_, _ *Node) *Node { return grad(v) })
	return IdentityWithCustomGradient(f(held), func(_, g *Node) *Node {
		v = g
		return g
	})
}

// inputGrad returns dL/dx [B,H,W,Cin] of dense's convolution from
// v = dL/dy [B,Ho,Wo,Cout] and the kernel matrix w [k²·Cin, Cout].
//
// Where winogradFits (stride 1, 3×3) and w's model keeps copies, it is
// the transposed convolution by F(2×2, 3×3), its tiles
// aligned with the whole gradient's (c.phase). Otherwise, at stride 1 it is
// one of two forms, whichever transposedPays says costs less. One is the
// transposed convolution: dL/dy padded by the window span
// less x's padding, cut into k² windows taken in reverse order,
// concatenated and multiplied by the kernel as [k²·Cout, Cin] (where that
// padding is not negative; the kernel so arranged is kept by w's model
// (SetKeeper) or, where it keeps none, transposed in the graph, then only
// with at least 4 pixels per output channel, so that transposing costs
// little; col2im on the shifted grid multiplies more rows, twice as many
// in ResNet-50's last stage at 224²). On ResNet-50's first
// stages this beats col2im, which slices as much and also pads and adds k²
// blocks; it copies k²·Cout values per pixel, though, where col2im slices
// k²·Cin: col2im wins where Cout is several times Cin (the stem's
// space-to-depth form, VGG's first layer). The other is col2im of v · wᵀ
// on a shifted grid (shiftGrid.inputGrad), or, where there is none, of the
// taps. At strides > 1 the transposed convolution would multiply zeros:
// col2im of the taps.
func (c Conv2D) inputGrad(v, w *Node, k [2]int, xShape shapes.Shape, stride, dil [2]int) *Node {
	cout := w.Shape().Dim(1)
	cin := w.Shape().Dim(0) / (k[0] * k[1])
	b, h, wd := xShape.Dim(0), xShape.Dim(1), xShape.Dim(2)
	if stride == [2]int{1, 1} && k[0]*k[1] > 1 {
		tpad, ok := transposedPad([2]int{h, wd}, k, dil, c.Pad)
		if ok && winogradFits(k, stride, dil, v.Shape(), tpad, cin, cout) {
			if ut := kept(w, winogradTransposedLayout, []int{16, cout, cin}, winogradFill(cin, cout, true)); ut != nil {
				return winogradConv(v, tpad, ut, c.phase)
			}
		}
		if ok && transposedPays(k, cin, cout) {
			tk := kept(w, tapsTransposedLayout, []int{k[0] * k[1] * cout, cin}, tapsTransposeFill(k[0]*k[1], cin, cout))
			if tk == nil && b*h*wd >= 4*cout {
				tk = transposedKernel(w, v, k)
			}
			if tk != nil {
				p := patchesOf(v, k, stride, dil, tpad, cin, true)
				return p.out(DotGeneral(p.rows, []int{p.rows.Rank() - 1}, nil, tk, []int{0}, nil))
			}
		}
		if g, ok := newShiftGrid(xShape, k, dil, c.Pad); ok {
			return g.inputGrad(v, w, k, dil)
		}
	}
	return col2im(timesT(v, w), xShape, k, stride, dil, c.Pad)
}

// transposedKernel returns the kernel matrix w [k²·Cin, Cout] of a
// convolution as the transposed convolution of its input gradient
// multiplies by, [k²·Cout, Cin]: each tap's [Cin, Cout] block transposed
// (the window of tap t meets the kernel's tap k²-1-t: patchesOf reverses
// the taps). It is computed once v, dL/dy, is (after's copy is the step's
// own, so the reshapes around the transpose do not copy the weight), once
// for the bands of an image (see kernelsKey).
func transposedKernel(w, v *Node, k [2]int) *Node {
	memo, _ := w.Graph().State(kernelsKey{}).(map[*Node]*Node)
	if t := memo[w]; t != nil {
		return t
	}
	cin, cout := w.Shape().Dim(0)/(k[0]*k[1]), w.Shape().Dim(1)
	t := Reshape(TransposeAllAxes(Reshape(after(w, v), k[0]*k[1], cin, cout), 0, 2, 1), k[0]*k[1]*cout, cin)
	if memo != nil {
		memo[w] = t
	}
	return t
}

// kernelsKey is the graph state that, while the gradient of one
// convolution's bands is built (Conv2D.bandsInputGrad), holds the
// transposed kernels built for it, so that its bands share them. Elsewhere
// each gradient builds its own: a kernel shared between independent
// branches of a batch (cnn.Build) would make each branch's gradient wait for
// the first one's.
type kernelsKey struct{}

// timesT returns v [B,Ho,Wo,n] times wᵀ, w [m,n]: [B,Ho,Wo,m]. On the
// pure-Go backend it multiplies by the transpose of w that its model
// keeps (SetKeeper), where it keeps one; otherwise, where
// weightsFirstPays, it is w·vᵀ [m,B,Ho,Wo] transposed: the same product,
// with its rows split between cores.
func timesT(v, w *Node) *Node {
	d := v.Shape().Dimensions
	rows, m, n := d[0]*d[1]*d[2], w.Shape().Dim(0), w.Shape().Dim(1)
	if !backend.IsGo(v.Graph().Backend()) {
		return DotGeneral(v, []int{3}, nil, w, []int{1}, nil)
	}
	if t := kept(w, transposedLayout, []int{n, m}, transposeFill(m, n)); t != nil {
		return DotGeneral(v, []int{3}, nil, t, []int{0}, nil)
	}
	if !weightsFirstPays(rows, m, n) {
		return DotGeneral(v, []int{3}, nil, w, []int{1}, nil)
	}
	return TransposeAllAxes(DotGeneral(w, []int{1}, nil, v, []int{3}, nil), 1, 2, 3, 0)
}

// weightsFirstPays reports whether a product of rows×n by n×m costs less
// on the pure-Go backend computed the other way round (m×n by n×rows) and
// transposed, by compute v0.1.6's matmul and its measured costs: it splits
// a product between cores by rows only where it has more rows than columns
// (in blocks of 24), by columns only in blocks of 512, and otherwise runs
// it on one core, at 26–45 multiply-adds per ns with the weight contracted
// on its last axis as here, against about 70 on two; a transpose costs
// 3.8 ns per value.
var weightsFirstPays = func(rows, m, n int) bool {
	oneCore := rows <= m && m < 1024
	twoCores := m > rows && m >= 48
	if !oneCore || !twoCores || runtime.GOMAXPROCS(0) < 2 {
		return false
	}
	saved := float64(rows*m*n) * (1.0/40 - 1.0/70)
	return saved > float64(rows*m)*3.8
}

// transposedPays reports whether the transposed convolution costs less
// than col2im on the shifted grid as the input gradient of a stride-1
// convolution with a k-tap window, cin input and cout output channels, by
// the pure-Go backend's measured costs per value (ns): both multiply as
// much; the transposed convolution copies k²·cout values per pixel twice
// (0.15 + 0.35); col2im slices k²·cin (1.3) and adds them (0.4), then
// transposes cin (3.5) and crops them (1.8).
var transposedPays = func(k [2]int, cin, cout int) bool {
	taps := float64(k[0] * k[1])
	return taps*float64(cout)*0.5 < float64(cin)*(taps*1.7+3.5+1.8)
}

// zeroOf returns a scalar that is exactly 0, even for an infinite or NaN x,
// but computed from x's first element, so that what it is added to depends
// on x for autodiff.
func zeroOf(x *Node) *Node {
	e := firstElem(x)
	return Where(GreaterThan(e, e), e, ScalarZero(x.Graph(), x.DType()))
}

// firstElem returns x's first element as a scalar.
func firstElem(x *Node) *Node {
	first := make([]SliceAxisSpec, x.Rank())
	for i := range first {
		first[i] = AxisElem(0)
	}
	return Reshape(Slice(x, first...))
}

// col2im is the adjoint of taps followed by concatenation: it adds each
// k[0]·k[1] channel block of u [B·Ho·Wo, k²·C] (or [B,Ho,Wo,k²·C]) onto the
// pixels of an input of shape xShape [B,H,W,C] that its tap read, skipping
// those in the padding.
func col2im(u *Node, xShape shapes.Shape, k, stride, dil [2]int, pad [2][2]int) *Node {
	ho := OutSize(xShape.Dim(1), k[0], stride[0], dil[0], pad[0])
	wo := OutSize(xShape.Dim(2), k[1], stride[1], dil[1], pad[1])
	ch := xShape.Dim(3)
	u = Reshape(u, xShape.Dim(0), ho, wo, k[0]*k[1]*ch)
	return untap(u.Graph(), func(t int, rows, cols [2]int) *Node {
		if k[0]*k[1] == 1 && rows == [2]int{0, ho} && cols == [2]int{0, wo} {
			return u
		}
		return Slice(u, AxisRange(), AxisRange(rows[0], rows[1]), AxisRange(cols[0], cols[1]),
			AxisRange(t*ch, (t+1)*ch))
	}, xShape, k, stride, dil, pad)
}

// untap is the adjoint of taps: it adds the k[0]·k[1] blocks [B,Ho,Wo,C],
// one per tap in taps' order, onto the pixels of an input of shape xShape
// [B,H,W,C] that the tap read, skipping those in the padding. block(t, rows,
// cols) returns tap t's block cut to the output rows [rows[0], rows[1]) and
// columns [cols[0], cols[1]).
//
// At stride s the input splits into s² phases, the pixels (s·q+a, s·r+b),
// each read by whole taps; every tap's block is padded to its phase's
// ceil(H/s)×ceil(W/s) grid, the blocks of a phase added, and the phases
// interleaved by concatenation. This pads and adds s² times less than
// padding every block to the whole input.
func untap(g *Graph, block func(t int, rows, cols [2]int) *Node, xShape shapes.Shape, k, stride, dil [2]int, pad [2][2]int) *Node {
	n := [2]int{xShape.Dim(1), xShape.Dim(2)}
	var no, grid [2]int
	for i := range 2 {
		no[i] = OutSize(n[i], k[i], stride[i], dil[i], pad[i])
		grid[i] = (n[i] + stride[i] - 1) / stride[i]
	}
	// where returns the phase of tap j on axis i, the output range it
	// reads inside the grid and the grid row of the first.
	where := func(i, j int) (phase int, o [2]int, q int) {
		off := j*dil[i] - pad[i][0]
		phase = ((off % stride[i]) + stride[i]) % stride[i]
		d := (off - phase) / stride[i]                       // output o reads grid row o+d
		inside := (n[i] - phase + stride[i] - 1) / stride[i] // grid rows inside the input
		o = [2]int{max(0, -d), min(no[i], inside-d)}
		return phase, o, o[0] + d
	}
	zero := ScalarZero(g, xShape.DType)
	if k == [2]int{1, 1} { // one tap: pad it into place
		a, rows, qy := where(0, 0)
		b, cols, qx := where(1, 0)
		if rows[1] <= rows[0] || cols[1] <= cols[0] {
			return Zeros(g, xShape)
		}
		y0, x0 := qy*stride[0]+a, qx*stride[1]+b
		ny, nx := rows[1]-rows[0], cols[1]-cols[0]
		py := compute.PadAxis{Start: y0, End: n[0] - y0 - (ny-1)*stride[0] - 1, Interior: stride[0] - 1}
		px := compute.PadAxis{Start: x0, End: n[1] - x0 - (nx-1)*stride[1] - 1, Interior: stride[1] - 1}
		if py == (compute.PadAxis{}) && px == (compute.PadAxis{}) {
			return block(0, rows, cols) // a pad of nothing would be a copy on the pure-Go backend
		}
		return Pad(block(0, rows, cols), zero, compute.PadAxis{}, py, px, compute.PadAxis{})
	}
	phases := make([]*Node, stride[0]*stride[1])
	for ky := range k[0] {
		a, rows, qy := where(0, ky)
		for kx := range k[1] {
			b, cols, qx := where(1, kx)
			if rows[1] <= rows[0] || cols[1] <= cols[0] {
				continue // reads only padding
			}
			part := block(ky*k[1]+kx, rows, cols)
			part = Pad(part, zero, compute.PadAxis{},
				compute.PadAxis{Start: qy, End: grid[0] - qy - (rows[1] - rows[0])},
				compute.PadAxis{Start: qx, End: grid[1] - qx - (cols[1] - cols[0])}, compute.PadAxis{})
			if i := a*stride[1] + b; phases[i] == nil {
				phases[i] = part
			} else {
				phases[i] = Add(phases[i], part)
			}
		}
	}
	return interleave(g, phases, xShape, grid, stride)
}

// interleave joins the phases [B,G0,G1,C] of an input of shape xShape
// (phase a·s1+b holds the pixels (s0·q+a, s1·r+b); nil for all zeros) into
// [B,H,W,C].
func interleave(g *Graph, phases []*Node, xShape shapes.Shape, grid, stride [2]int) *Node {
	b, ch := xShape.Dim(0), xShape.Dim(3)
	for i, p := range phases {
		if p == nil {
			phases[i] = Zeros(g, shapes.Make(xShape.DType, b, grid[0], grid[1], ch))
		}
	}
	rows := make([]*Node, stride[0])
	for a := range rows {
		row := phases[a*stride[1] : (a+1)*stride[1]]
		if len(row) == 1 {
			rows[a] = row[0]
			continue
		}
		parts := make([]*Node, len(row))
		for i, p := range row {
			parts[i] = Reshape(p, b, grid[0], grid[1], 1, ch)
		}
		rows[a] = Reshape(Concatenate(parts, 3), b, grid[0], grid[1]*stride[1], ch)
	}
	x := rows[0]
	if len(rows) > 1 {
		for i, r := range rows {
			rows[i] = Reshape(r, b, grid[0], 1, grid[1]*stride[1], ch)
		}
		x = Reshape(Concatenate(rows, 2), b, grid[0]*stride[0], grid[1]*stride[1], ch)
	}
	if h, w := xShape.Dim(1), xShape.Dim(2); x.Shape().Dim(1) != h || x.Shape().Dim(2) != w {
		x = Slice(x, AxisRange(), AxisRange(0, h), AxisRange(0, w), AxisRange())
	}
	return x
}

// matmulLast multiplies x [B,H,W,K] by w [K,N] as one [B·H·W,K]×[K,N] product.
func matmulLast(x, w *Node) *Node {
	d := x.Shape().Dimensions
	y := Dot(Reshape(x, d[0]*d[1]*d[2], d[3]), w).Product()
	return Reshape(y, d[0], d[1], d[2], w.Shape().Dim(1))
}
