package tfjs

import (
	"slices"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.

	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/nn"
)

// A graph model builds each image in horizontal bands, one per core that
// cnn.Build gives it (see [nn.Bands] and [cnn.Bands]), where the pure-Go
// backend has more cores than the batch has images: every op but a matrix
// product runs on one core there, so one image's chain of ops would keep
// one core busy. The ops that compute each output row from nearby input
// rows (per-pixel ops, convolutions, max-pooling, pads, batch norm, and
// sums or means along other axes) run band by band; a reduction along the
// rows (a squeeze-excite's mean) joins the bands' partial results; any
// other op takes its input whole, the bands joined.

// bandsOf returns node i's output in bands, building it and the bands it
// needs, or nil where it is built whole (see opSpec.band). Bands are built
// only on demand, by the ops that take them and by Build for the requested
// layers, so that no unused node enters the graph.
func (b *builder) bandsOf(i int) nn.Bands {
	if b.bands <= 1 || b.m.errs[i] != nil {
		return nil
	}
	if bs, ok := b.banded[i]; ok {
		return bs
	}
	var bs nn.Bands
	if f := opTable[b.m.g.nodes[i].op].band; f != nil {
		bs = f(b, &b.m.g.nodes[i])
	}
	if len(bs) == 0 {
		bs = nil
	}
	b.banded[i] = bs
	return bs
}

// inBands returns data input k of nd in bands, or nil.
func (b *builder) inBands(nd *node, k int) nn.Bands { return b.bandsOf(nd.inputs[k].node) }

// bandCount returns how many bands Build builds each image of the NCHW
// input x in, in the pure-Go backend's form (cnn.Bands): bands of at least
// bandRows input rows.
func (m *Model) bandCount(x *Node) int {
	if nn.FormFor(x.Graph().Backend()) != nn.Im2col {
		return 1
	}
	return cnn.Bands(x, m.name, func(int) int { return bandRows })
}

// bandRows is the least input rows of a band, on any number of cores.
//
// The demo model's ops (MobileNetV3) are small, so a band's fixed costs
// (its ops dispatched one by one, the rows it reads from its neighbours)
// need many rows to pay. Its feature-visualization step to expanded_conv_9
// (BenchmarkDemoStep, batch 1, 2 cores, alternating runs) takes 107–125
// ms whole at 256² against 91–113 in 2 bands of 128 rows, 325–389 against
// 248–322 at 512², and 41–53 against 42–51 at 128² in 2 bands of 64 rows.
// On more cores (scripts/opprof.sh -span, 4 cores, with the executor's
// costs) 4 bands of 64 rows at 256² lose to 2 of 128 (70 ms against 65;
// 105 whole), and at 512² 4 bands of 128 rows gain over 2 of 256 (159
// against 176; 272 whole); at 128², 4 bands of 32 rows lose to the image
// whole (35 against 32).
const bandRows = 128

// binaryBands is an element-wise op f (NumPy broadcasting) on inputs in
// bands: both split alike, or one in bands and the other without rows to
// broadcast along (a per-channel vector, a squeeze-excite's scale, a
// scalar).
func binaryBands(f func(x, y *Node) *Node) func(b *builder, nd *node) nn.Bands {
	return func(b *builder, nd *node) nn.Bands {
		xs, ys := b.inBands(nd, 0), b.inBands(nd, 1)
		switch {
		case xs != nil && ys != nil:
			if !alike(xs, ys) {
				return nil
			}
			return nn.Zip(xs, ys, func(x, y *Node) *Node { return f(broadcastRank(x, y)) })
		case xs != nil:
			if y := b.in(nd, 1); rowless(y) {
				return xs.Map(func(x *Node) *Node { return f(broadcastRank(x, y)) })
			}
		case ys != nil:
			if x := b.in(nd, 0); rowless(x) {
				return ys.Map(func(y *Node) *Node { return f(broadcastRank(x, y)) })
			}
		}
		return nil
	}
}

// rowless reports whether x, the operand of an element-wise op with an
// NHWC activation, broadcasts along its rows: x has fewer than 3 axes, or
// 1 on the axis aligned with the rows.
func rowless(x *Node) bool { r := x.Rank(); return r < 3 || r <= 4 && x.Shape().Dim(r-3) == 1 }

// alike reports whether bands xs and ys have the same rank and rows.
func alike(xs, ys nn.Bands) bool {
	return xs[0].Rank() == ys[0].Rank() && slices.Equal(xs.Heights(), ys.Heights())
}

// concatBands is ConcatV2 on inputs in bands, split alike, along an axis
// other than the batch and the rows.
func concatBands(b *builder, nd *node) nn.Bands {
	n := len(nd.inputs) - 1
	ax := b.m.constant(nd.inputs[n]).ints
	xs := make([]nn.Bands, n)
	for k := range n {
		if xs[k] = b.inBands(nd, k); xs[k] == nil || !alike(xs[0], xs[k]) {
			return nil
		}
	}
	if len(ax) != 1 {
		return nil
	}
	if a := axis(nd, int(ax[0]), xs[0][0].Rank()); a > 1 {
		return nn.Concat(a, xs...)
	}
	return nil
}
