package nn

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
)

// spaceToDepth builds dense's convolution at a stride s > 1 (dilation 1) of
// x [B,H,W,C] with the kernel matrix w [k0·k1·C, N], plus the bias b (nil:
// none), from x's space-to-depth form: x padded and cut into s0×s1 blocks,
// each block one pixel of s0·s1·C values, on a grid of G0×G1 blocks. Tap
// (ky, kx) of the strided window is then tap (ky/s0, kx/s1) of a stride-1
// window of ceil(k/s) taps over the grid, reading the block values at
// (ky%s0, kx%s1): the patches are taken shifted (shiftGrid), as whole-block
// copies, instead of k0·k1 strided slices of C channels, which the pure-Go
// backend copies element by element and concatenates a few values at a
// time. The patches keep the im2col form's value order (ky, kx, c), so the
// same kernel matrix multiplies them and the sums are the same: per block
// row ky%s0, a concatenation of the ceil(k1/s1) column taps (the last one
// cut to the block columns the window reads), shifted down by the row taps.
// The input gradient is col2im on the shifted grid with channel-first taps
// (see shiftGrid.gridGrad), which one transpose turns back into x's layout.
func (c Conv2D) spaceToDepth(x, w, b *Node, k, stride [2]int) *Node {
	d := newDepthLayout(x.Shape(), k, stride, c.Pad)
	g, _ := newShiftGrid(shapes.Make(x.DType(), d.b, d.grid[0], d.grid[1], 1), d.kq, [2]int{1, 1}, [2][2]int{})
	return withInputGradient(x, func(x *Node) *Node {
		return g.crop(DotGeneral(d.patches(g, x), []int{1}, nil, w, []int{0}, nil), false)
	}, b, func(v *Node) *Node {
		return d.inputGrad(g, v, w)
	})
}

// depthPays reports whether spaceToDepth's form of a convolution of C
// input channels with the window k at the stride s costs less than
// sliced taps: for blocks of few values (C·s0·s1 ≤ 16), where the window
// has enough taps (k0·k1 ≥ 4·s0·s1) to pay for the transposes to and from
// blocks and the crop of the output. Measured (scripts/opprof.sh) on
// ResNet's 7×7/2 stem over 3 channels, 49 taps: 4–6 ms less of a 33–35 ms
// step of the stem alone at 224² (2 cores); on MobileNetV3's 3×3/2 one
// (TF.js demo, 16 outputs), 9 taps: slower than sliced taps.
var depthPays = func(c int, k, stride [2]int) bool {
	blocks := stride[0] * stride[1]
	return c*blocks <= 16 && k[0] > stride[0] && k[1] > stride[1] && k[0]*k[1] >= 4*blocks
}

// depthLayout is the space-to-depth form of a convolution with the window
// k at the stride s over an input [B,H,W,C] (n = [H,W]) padded by pad: kq
// taps per axis over a grid of G0×G1 blocks of s0×s1 pixels, which span the
// input's first keep pixels per axis, padded by before and end.
type depthLayout struct {
	b, c              int
	n, k, stride      [2]int
	kq, grid          [2]int
	keep, before, end [2]int
}

func newDepthLayout(xShape shapes.Shape, k, stride [2]int, pad [2][2]int) depthLayout {
	d := depthLayout{b: xShape.Dim(0), c: xShape.Dim(3), n: [2]int{xShape.Dim(1), xShape.Dim(2)}, k: k, stride: stride}
	for i := range 2 {
		d.kq[i] = (k[i] + stride[i] - 1) / stride[i]
		d.grid[i] = OutSize(d.n[i], k[i], stride[i], 1, pad[i]) + d.kq[i] - 1
		// The grid spans grid·s padded pixels: pad after up to there, or
		// drop the input's trailing pixels no window reads.
		end := d.grid[i]*stride[i] - pad[i][0] - d.n[i]
		d.keep[i] = d.n[i] + min(end, 0)
		d.before[i], d.end[i] = pad[i][0], max(end, 0)
	}
	return d
}

// width returns the block columns column tap q reads: s1, or fewer for the
// last tap of a window that is not a multiple of s1.
func (d depthLayout) width(q int) int { return min(d.stride[1], d.k[1]-d.stride[1]*q) }

// patches returns the patches [g.m, k0·k1·C] of x [B,H,W,C], laid out as the
// stride-1 shifted grid g over the blocks says, values in (ky, kx, c) order.
func (d depthLayout) patches(g shiftGrid, x *Node) *Node {
	if d.keep != d.n {
		x = Slice(x, AxisRange(), AxisRange(0, d.keep[0]), AxisRange(0, d.keep[1]), AxisRange())
	}
	if d.before != [2]int{} || d.end != [2]int{} {
		x = Pad(x, ScalarZero(x.Graph(), x.DType()), compute.PadAxis{},
			compute.PadAxis{Start: d.before[0], End: d.end[0]}, compute.PadAxis{Start: d.before[1], End: d.end[1]},
			compute.PadAxis{})
	}
	s0, s1, c := d.stride[0], d.stride[1], d.c
	n := d.b * d.grid[0] * d.grid[1] // blocks
	// Block row a of every block, [s0, blocks, s1·C].
	z := Reshape(x, d.b, d.grid[0], s0, d.grid[1], s1*c)
	z = Reshape(TransposeAllAxes(z, 2, 0, 1, 3, 4), s0, n, s1*c)
	span := [2]int{d.kq[0] - 1, d.kq[1] - 1}
	rows := make([]*Node, s0) // per block row, its column taps shifted: [blocks+span1, k1·C]
	for a := range s0 {
		var row *Node // block row a of every block, [blocks, s1·C]
		if s0 > 1 {
			row = Reshape(Slice(z, AxisElem(a)), n, s1*c)
		} else {
			row = Reshape(z, n, s1*c) // the only one: no slice (a copy)
		}
		var cut *Node // the block's first columns, for the last tap
		cols := make([]*Node, d.kq[1])
		for q := range d.kq[1] {
			vals := row
			if wd := d.width(q); wd < s1 {
				if cut == nil {
					cut = Slice(row, AxisRange(), AxisRange(0, wd*c))
				}
				vals = cut
			}
			lead := span[1] - q
			cols[q] = shiftRows(vals, lead, n+span[1])
		}
		rows[a] = cols[0]
		if len(cols) > 1 {
			rows[a] = Concatenate(cols, 1)
		}
	}
	parts := make([]*Node, d.k[0])
	for ky := range d.k[0] {
		r := rows[ky%s0]
		lead := (span[0] - ky/s0) * g.wq
		parts[ky] = shiftRows(r, lead, g.m)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return Concatenate(parts, 1)
}

// inputGrad returns dL/dx [B,H,W,C] of spaceToDepth's convolution with the
// kernel matrix w from v = dL/dy [B,Ho,Wo,N]: v on the grid g multiplied
// by w into u [k0·k1·C, rows]; each tap's values, read from the column its
// tap was shifted down by, added per block row (and block columns read),
// then stacked into the blocks' values, channel first [s0·s1·C, blocks],
// which one transpose turns into x's layout; a crop of the padding, and
// zeros for the pixels no window reads.
func (d depthLayout) inputGrad(g shiftGrid, v, w *Node) *Node {
	s0, s1, c := d.stride[0], d.stride[1], d.c
	u := DotGeneral(w, []int{1}, nil, g.onGrid(v), []int{1}, nil)
	n := d.b * d.grid[0] * d.grid[1]
	// Per block row, the sums of the taps that read all s1 block columns
	// and of those that read fewer (the last column tap's, cut).
	full, cut := make([]*Node, s0), make([]*Node, s0)
	for ky := range d.k[0] {
		a := ky % s0
		for q := range d.kq[1] {
			wd := d.width(q)
			first := (ky*d.k[1] + q*s1) * c
			lead := -g.off(ky/s0, q, [2]int{1, 1})
			part := Slice(u, AxisRange(first, first+wd*c), AxisRange(lead, lead+n))
			sum := &full[a]
			if wd < s1 {
				sum = &cut[a]
			}
			if *sum == nil {
				*sum = part
			} else {
				*sum = Add(*sum, part)
			}
		}
	}
	rows := full
	for a, sum := range cut {
		if sum == nil {
			continue
		}
		sum = Concatenate([]*Node{sum, Zeros(u.Graph(), shapes.Make(u.DType(), s1*c-sum.Shape().Dim(0), n))}, 0)
		if rows[a] == nil {
			rows[a] = sum
		} else {
			rows[a] = Add(rows[a], sum)
		}
	}
	gz := rows[0]
	if s0 > 1 {
		gz = Concatenate(rows, 0)
	}
	gz = Reshape(gz, s0, s1, c, d.b, d.grid[0], d.grid[1])
	gz = Reshape(TransposeAllAxes(gz, 3, 4, 0, 5, 1, 2), d.b, d.grid[0]*s0, d.grid[1]*s1, c)
	if d.before != [2]int{} || d.end != [2]int{} {
		gz = Slice(gz, AxisRange(), AxisRange(d.before[0], d.before[0]+d.keep[0]),
			AxisRange(d.before[1], d.before[1]+d.keep[1]), AxisRange())
	}
	if d.keep != d.n {
		gz = Pad(gz, ScalarZero(gz.Graph(), gz.DType()), compute.PadAxis{},
			compute.PadAxis{End: d.n[0] - d.keep[0]}, compute.PadAxis{End: d.n[1] - d.keep[1]}, compute.PadAxis{})
	}
	return gz
}
