package nn

import (
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
)

// shiftedDepthwise builds the stride-1 depthwise convolution c of x with
// the kernel matrix w [k², C], plus the bias b (nil: none), from shifted
// taps (see shiftGrid.patches), which cost less than sliced ones whatever
// the waste (there is no product to waste), with its input gradient written
// out as the transposed convolution, from shifted taps too: autodiff
// through shifted taps would slice each. ok is false (and nothing built)
// where the stride is not 1 or a layout does not exist.
func (c Conv2D) shiftedDepthwise(x, w, b *Node, k, stride, dil [2]int) (_ *Node, ok bool) {
	if stride != [2]int{1, 1} || k[0]*k[1] == 1 {
		return nil, false
	}
	g, ok := newShiftGrid(x.Shape(), k, dil, c.Pad)
	if !ok {
		return nil, false
	}
	d := x.Shape().Dimensions
	tpad, ok := transposedPad([2]int{d[1], d[2]}, k, dil, c.Pad)
	if !ok {
		return nil, false
	}
	gt, ok := newShiftGrid(shapes.Make(x.DType(), d[0], g.ho, g.wo, d[3]), k, dil, tpad)
	if !ok {
		return nil, false
	}
	var ws []*Node // the repeated weights, for the gradient too where the grids match
	return withInputGradient(x, func(x *Node) *Node {
		cols := g.taps(x, k, dil)
		for i, col := range cols { // stopped tap by tap: autodiff builds nothing for them
			cols[i] = StopGradient(col)
		}
		ws = tapWeights(cols, w)
		return g.crop(sumOfProducts(cols, ws), false)
	}, b, func(v *Node) *Node {
		cols := gt.taps(v, k, dil)
		slices.Reverse(cols) // the window of tap t meets the kernel's tap k²-1-t
		if gt.m != g.m {
			return gt.crop(weightedSum(cols, w), true)
		}
		return gt.crop(sumOfProducts(cols, ws), true)
	}), true
}

// transposedPad returns the padding of dL/dy for the transposed
// convolution that is the input gradient of a stride-1 window k (dilation
// dil) over n pixels padded by pad: the window's span less pad before, the
// rest after. ok is false where one is negative.
func transposedPad(n, k, dil [2]int, pad [2][2]int) (tpad [2][2]int, ok bool) {
	for i := range 2 {
		span := (k[i] - 1) * dil[i]
		out := OutSize(n[i], k[i], 1, dil[i], pad[i])
		tpad[i] = [2]int{span - pad[i][0], n[i] - out + pad[i][0]}
		if tpad[i][0] < 0 || tpad[i][1] < 0 {
			return tpad, false
		}
	}
	return tpad, true
}

// shiftGrid is the layout of shifted patches (shiftGrid.patches) for a
// stride-1 window k (dilation dil) over an input [B,H,W,C] padded by pad:
// the input gets ph zero columns after each row and pv zero rows after
// each image, a grid of pitch wq, and its pixels flattened to rows; the
// output at (b, i, j) is computed at row b·(H+pv)·wq + (i+ai)·wq + j+aj of
// a product of m patch rows, tap (ky, kx) reading the flattened grid
// shifted by off(ky, kx).
type shiftGrid struct {
	b, h, ho, wo int
	pv, ph, wq   int
	ai, aj       int
	span         [2]int
	m            int
}

// newShiftGrid returns the layout of shifted patches, or false where the
// padding before the window exceeds its span on an axis.
func newShiftGrid(xShape shapes.Shape, k, dil [2]int, pad [2][2]int) (shiftGrid, bool) {
	b, h, w := xShape.Dim(0), xShape.Dim(1), xShape.Dim(2)
	span := [2]int{(k[0] - 1) * dil[0], (k[1] - 1) * dil[1]}
	if pad[0][0] > span[0] || pad[1][0] > span[1] {
		return shiftGrid{}, false
	}
	g := shiftGrid{b: b, h: h, span: span,
		ho: OutSize(h, k[0], 1, dil[0], pad[0]), wo: OutSize(w, k[1], 1, dil[1], pad[1])}
	// A read past a row's end or before its start must land on zeros: the
	// row's own padding or the previous row's.
	g.ph = max(pad[1][0], pad[1][1], g.wo-w)
	g.wq = w + g.ph
	if b > 1 {
		g.pv = max(pad[0][0], pad[0][1], g.ho-h)
	}
	g.ai, g.aj = span[0]-pad[0][0], span[1]-pad[1][0]
	g.m = b*(h+g.pv)*g.wq + span[0]*g.wq + span[1]
	if b == 1 {
		// Whole grid rows, so that crop need not pad the product to them
		// (a copy of the output); at most a row more to multiply.
		g.m = max((g.m+g.wq-1)/g.wq, g.ai+g.ho) * g.wq
	}
	return g, g.ho > 0 && g.wo > 0
}

// off returns the flattened-grid offset tap (ky, kx) reads at, relative to
// the row its window's output is computed at: at most 0, the last tap's.
func (g shiftGrid) off(ky, kx int, dil [2]int) int {
	return (ky*dil[0]-g.span[0])*g.wq + kx*dil[1] - g.span[1]
}

// shiftPays reports whether shifted patches of the layout g, kc values per
// row, multiplied into n channels, cost less than sliced taps, by the
// pure-Go backend's measured costs per element (ns): a slice 1.7, a block
// copy 0.15, a concatenation 0.33, a multiply-add 0.03. The shifted patches
// have more rows (g.m rather than B·Ho·Wo), whose products are wasted, and
// the output is cropped by one slice, from the product padded to whole
// images (a copy) where the batch is larger than 1.
var shiftPays = func(g shiftGrid, kc, n int) bool {
	out, m := float64(g.b*g.ho*g.wo), float64(g.m)
	sliced := float64(kc) * out * (1.7 + 0.33)
	shifted := float64(kc)*m*(0.15+0.33) + (m-out)*float64(kc*n)*0.03 + out*float64(n)*1.7
	if g.b > 1 {
		shifted += m * float64(n) * 0.15
	}
	return shifted < sliced
}

// patches returns the patches of the stride-1 windows k (dilation dil) of
// x [B,H,W,C] laid out as g says (see patchesOf for transposed) without
// slicing x: the pure-Go backend slices element by element but
// concatenates whole blocks. Every tap of every window is the flattened
// grid shifted by a fixed number of rows, which concatenating zeros before
// and after it does; the rows are computed at every grid position (those
// outside the output wasted), and out crops the output with one slice.
func (g shiftGrid) patches(x *Node, k, dil [2]int, transposed bool) patches {
	cols := g.taps(x, k, dil)
	if transposed {
		slices.Reverse(cols)
	}
	return patches{rows: Concatenate(cols, 1), out: func(y *Node) *Node { return g.crop(y, transposed) }}
}

// taps returns the k[0]·k[1] taps [m, C] of the stride-1 windows k
// (dilation dil) of x [B,H,W,C] laid out as g says, in (ky, kx) row-major
// order.
func (g shiftGrid) taps(x *Node, k, dil [2]int) []*Node {
	c := x.Shape().Dim(3)
	if g.pv > 0 || g.ph > 0 {
		x = Pad(x, ScalarZero(x.Graph(), x.DType()), compute.PadAxis{}, compute.PadAxis{End: g.pv},
			compute.PadAxis{End: g.ph}, compute.PadAxis{})
	}
	flat := Reshape(x, -1, c)
	cols := make([]*Node, 0, k[0]*k[1])
	for ky := range k[0] {
		for kx := range k[1] {
			// Row r of the tap is row r+off of flat: lead zero rows, then flat.
			lead := -g.off(ky, kx, dil)
			cols = append(cols, shiftRows(flat, lead, g.m))
		}
	}
	return cols
}

// crop returns the output [B,Ho,Wo,N] computed at the rows of y [m, N],
// sliced in packed pairs of channels if packed (then y may not be
// differentiated).
func (g shiftGrid) crop(y *Node, packed bool) *Node {
	if packed {
		y, packed = pack(y)
	}
	n := y.Shape().Dim(1)
	imgs, hy := g.rows()
	y = shiftRows(y, 0, imgs*hy*g.wq)
	y = Reshape(y, imgs, hy, g.wq, n)
	y = Slice(y, AxisRange(0, g.b), AxisRange(g.ai, g.ai+g.ho), AxisRange(g.aj, g.aj+g.wo), AxisRange())
	if packed {
		y = unpack(y)
	}
	return y
}

// inputGrad returns dL/dx [B,H,W,C] of the stride-1 convolution over the
// layout g with the kernel matrix w [k²·C, N] from v = dL/dy [B,Ho,Wo,N]:
// col2im on the grid (gridGrad), transposed to NHWC and cropped.
func (g shiftGrid) inputGrad(v, w *Node, k, dil [2]int) *Node {
	c := w.Shape().Dim(0) / (k[0] * k[1])
	dx := TransposeAllAxes(Reshape(g.gridGrad(v, w, k, dil), c, g.b, g.h+g.pv, g.wq), 1, 2, 3, 0)
	if g.pv > 0 || g.ph > 0 {
		dx = Slice(dx, AxisRange(), AxisRange(0, g.h), AxisRange(0, g.wq-g.ph), AxisRange())
	}
	return dx
}

// gridGrad returns dL/dx of the stride-1 convolution over the layout g
// with the kernel matrix w [k²·C, N], from v = dL/dy [B,Ho,Wo,N], on the
// padded input's flattened grid, channel first: [C, B·(H+pv)·wq]. It is
// col2im with channel-first taps: v padded into place (crop's adjoint) and
// multiplied by w into u [k²·C, rows]; tap t's C rows, read from the column
// its tap was shifted down by, add onto the grid (taps' adjoint). The
// pure-Go backend slices element by element, but a slice of whole runs of
// pixels costs less than one of a few channels of every pixel, and needs
// no padding.
func (g shiftGrid) gridGrad(v, w *Node, k, dil [2]int) *Node {
	c := w.Shape().Dim(0) / (k[0] * k[1])
	u := DotGeneral(w, []int{1}, nil, g.onGrid(v), []int{1}, nil) // [k²·C, rows]
	nf := g.b * (g.h + g.pv) * g.wq
	var sum *Node
	for ky := range k[0] {
		for kx := range k[1] {
			t, lead := ky*k[1]+kx, -g.off(ky, kx, dil)
			part := Slice(u, AxisRange(t*c, (t+1)*c), AxisRange(lead, lead+nf))
			if sum == nil {
				sum = part
			} else {
				sum = Add(sum, part)
			}
		}
	}
	return sum
}

// onGrid returns v [B,Ho,Wo,N] at the rows of the product crop takes it
// from, zeros in the other rows of the patches: [g.m, N], crop's adjoint
// (whose whole images past the batch would be more rows to multiply).
func (g shiftGrid) onGrid(v *Node) *Node {
	_, hy := g.rows()
	n := v.Shape().Dim(3)
	v = Pad(v, ScalarZero(v.Graph(), v.DType()), compute.PadAxis{},
		compute.PadAxis{Start: g.ai, End: hy - g.ai - g.ho},
		compute.PadAxis{Start: g.aj, End: g.wq - g.aj - g.wo}, compute.PadAxis{})
	v = Reshape(v, g.b*hy*g.wq, n)
	return shiftRows(v, 0, g.m)
}

// rows returns the shape of the grid crop views the product's rows as:
// imgs images of hy rows of g.wq pixels, at least g.m rows in all.
func (g shiftGrid) rows() (imgs, hy int) {
	if g.b == 1 {
		return 1, g.m / g.wq // newShiftGrid made g.m whole rows, past the output's last
	}
	hy = g.h + g.pv
	return (g.m + hy*g.wq - 1) / (hy * g.wq), hy
}

// shiftRows returns x [n, c] moved down by lead rows of zeros and followed
// by zeros to rows rows in all, [rows, c]: a concatenation, which the
// pure-Go backend copies by whole blocks (a slice would copy element by
// element).
func shiftRows(x *Node, lead, rows int) *Node {
	n, c := x.Shape().Dim(0), x.Shape().Dim(1)
	zeros := func(n int) *Node { return Zeros(x.Graph(), shapes.Make(x.DType(), n, c)) }
	parts := []*Node{x}
	if lead != 0 {
		parts = append([]*Node{zeros(lead)}, parts...)
	}
	if tail := rows - lead - n; tail != 0 {
		parts = append(parts, zeros(tail))
	}
	if len(parts) == 1 {
		return x
	}
	return Concatenate(parts, 0)
}
