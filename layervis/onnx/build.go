package onnx

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute-onnx/support/protos"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/nn"
)

// value is an ONNX tensor during one Build: a constant known while building
// (st), an initializer (vr, whose static value is read only if an op needs
// it), or a graph node. Rank-4 graph values from convolutions and pooling are
// kept transposed to NHWC (nhwc), the layout package nn works in; consumers
// that need ONNX's NCHW get a transposed node, made once and cached. Where
// the builder splits images into bands (see builder.bands), such values are
// held as NHWC bands instead, node their join, made for the first consumer
// that takes the value whole.
type value struct {
	st     *static
	vr     *model.Variable
	window [2]int // vr holds a Conv kernel with this window as a matrix (see Model.kernelsToMatrices)
	node   *Node  // in NHWC if nhwc, else in ONNX's layout
	nhwc   bool
	lazy   func() *Node // builds node on first use (outputs of Split)
	bands  nn.Bands     // the value in NHWC bands, or nil

	logical, physical *Node // cached NCHW / NHWC forms
}

// builder converts the nodes needed for some outputs, each at most once.
type builder struct {
	m     *Model
	g     *Graph
	form  nn.Form
	vals  map[string]*value
	input *value
	// split is how many bands the images are built in (1: whole).
	split int
}

// newBuilder returns a builder of the network on the NCHW input x, which
// splits images into the given number of bands.
func newBuilder(m *Model, x *Node, bands int) *builder {
	b := &builder{m: m, g: x.Graph(), form: nn.FormFor(x.Graph().Backend()), vals: map[string]*value{},
		input: &value{node: x}, split: bands}
	b.vals[m.input] = b.input
	return b
}

// bands returns v in horizontal bands (see [nn.Bands]), or nil where it is
// not held so. A model splits each image into bands where there are more
// cores than images (see [cnn.Bands]): the network input, and then the
// outputs of the ops that take their input in bands (per-pixel ops,
// convolutions, max-pools, batch norms, channel concatenations); global
// pools join the bands' sums or maxima, and any other op takes its input
// whole, its bands joined. The input's bands are made here, for an op that
// will use them, so that no unused node enters the graph.
func (b *builder) bands(v *value) nn.Bands {
	if v == b.input && v.bands == nil && b.split > 1 {
		v.bands = nn.SplitRows(b.nhwcNode(v), b.split)
	}
	return v.bands
}

// banded reports whether v is held in bands or would be ([builder.bands]).
func (b *builder) banded(v *value) bool { return v.bands != nil || v == b.input && b.split > 1 }

// inBands returns a value held in the NHWC bands bs.
func inBands(bs nn.Bands) []*value { return []*value{{bands: bs, nhwc: true}} }

// outputs builds the named tensors, in ONNX's layout.
func (b *builder) outputs(names []string) []*Node {
	out := make([]*Node, len(names))
	for i, n := range names {
		out[i] = b.node(b.resolve(n))
	}
	return out
}

// nodeError is a conversion failure with the node it happened in.
type nodeError struct {
	node, op string
	err      any
}

func (e *nodeError) Error() string { return fmt.Sprintf("node %q (%s): %v", e.node, e.op, e.err) }

// resolve returns the value of a tensor, converting its producer (and,
// recursively, what that needs) on first use.
func (b *builder) resolve(name string) *value {
	if v, ok := b.vals[name]; ok {
		return v
	}
	if i, ok := b.m.tensors[name]; ok {
		v := &value{vr: b.m.store.GetVariable(variablePath(i)), window: b.m.window[i]}
		b.vals[name] = v
		return v
	}
	ni, ok := b.m.producer[name]
	if !ok {
		exceptions.Panicf("no tensor %q in the model", name)
	}
	n := b.m.nodes[ni]
	b.store(n, b.convert(n))
	v, ok := b.vals[name]
	if !ok {
		exceptions.Panicf("node %q (%s): output %q is not supported", n.GetName(), n.GetOpType(), name)
	}
	return v
}

// tryResolve is resolve for node outputs that a converter may not compute
// (the mask of Dropout, the indices of MaxPool): it returns nil for those.
func (b *builder) tryResolve(name string) *value {
	if _, ok := b.vals[name]; !ok {
		n := b.m.nodes[b.m.producer[name]]
		b.store(n, b.convert(n))
	}
	return b.vals[name]
}

// store records the values a converter returned for n's outputs.
func (b *builder) store(n *protos.NodeProto, outs []*value) {
	for j, o := range n.GetOutput() {
		if o != "" && j < len(outs) && outs[j] != nil {
			b.vals[o] = outs[j]
		}
	}
}

// convert runs the op's converter; its inputs are resolved as it asks for
// them, so inputs it ignores build nothing.
func (b *builder) convert(n *protos.NodeProto) []*value {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(*nodeError); ok {
				panic(r)
			}
			panic(&nodeError{node: n.GetName(), op: n.GetOpType(), err: r})
		}
	}()
	return ops[n.GetOpType()](&call{b: b, n: n})
}

// raw returns v's graph node in its own layout, creating it if needed.
func (b *builder) raw(v *value) *Node {
	if v.node == nil {
		switch {
		case v.bands != nil:
			v.node = v.bands.Join()
		case v.lazy != nil:
			v.node, v.lazy = v.lazy(), nil
		case v.vr != nil:
			v.node = v.vr.NodeValue(b.g)
		default:
			v.node = v.st.constNode(b.g)
		}
	}
	return v.node
}

// node returns v in ONNX's layout.
func (b *builder) node(v *value) *Node {
	if v.logical == nil {
		n := b.raw(v)
		if v.nhwc {
			n = permute(n, 0, 3, 1, 2)
		}
		v.logical = n
	}
	return v.logical
}

// nhwcNode returns a rank-4 v transposed to NHWC.
func (b *builder) nhwcNode(v *value) *Node {
	if v.physical == nil {
		n := b.raw(v)
		if !v.nhwc {
			if n.Rank() != 4 {
				exceptions.Panicf("want a 4-D NCHW tensor, got shape %s", n.Shape())
			}
			n = permute(n, 0, 2, 3, 1)
		}
		v.physical = n
	}
	return v.physical
}

// static returns v's value if it is known while building, else nil.
func (b *builder) static(v *value) *static {
	if v.st == nil && v.vr != nil {
		t, err := v.vr.Value()
		if err == nil {
			v.st, err = staticFromTensor(t)
		}
		if err != nil {
			panic(err)
		}
	}
	return v.st
}

// maxFoldElems bounds the float constants that ops evaluate while building;
// larger ones (weights) are computed in the graph.
const maxFoldElems = 16

// foldable reports whether ops on v are evaluated while building: v is a
// constant holding integers (shape arithmetic) or a few floats. It does not
// read v's value.
func (b *builder) foldable(v *value) bool {
	switch {
	case v.st != nil:
		return !v.st.isFloat() || v.st.size() <= maxFoldElems
	case v.vr != nil:
		return !v.vr.DType().IsFloat() || v.vr.Shape().Size() <= maxFoldElems
	}
	return false
}

// dims returns v's shape in ONNX's layout.
func (b *builder) dims(v *value) []int {
	switch {
	case v.st != nil:
		return v.st.dims
	case v.vr != nil && v.node == nil:
		return v.vr.Shape().Dimensions
	case v.bands != nil && v.node == nil:
		d := v.bands[0].Shape().Dimensions
		return []int{d[0], d[3], v.bands.Height(), d[2]}
	}
	d := b.raw(v).Shape().Dimensions
	if v.nhwc {
		return []int{d[0], d[3], d[1], d[2]}
	}
	return d
}

// permute transposes x; when only axes of size 1 move it is a reshape.
func permute(x *Node, perm ...int) *Node {
	d := x.Shape().Dimensions
	out := make([]int, len(perm))
	var moved []int
	for i, p := range perm {
		out[i] = d[p]
		if d[p] != 1 {
			moved = append(moved, p)
		}
	}
	if slices.IsSorted(moved) {
		return Reshape(x, out...)
	}
	return TransposeAllAxes(x, perm...)
}

// nhwcAxis maps an NCHW axis to its NHWC position.
var nhwcAxis = [4]int{0, 3, 1, 2}

func phys(n *Node) []*value  { return []*value{{node: n, nhwc: true}} }
func plain(n *Node) []*value { return []*value{{node: n}} }
func constant(s *static) []*value {
	return []*value{{st: s}}
}

// elementwise applies f to v in v's own layout (band by band where v is in
// bands).
func (b *builder) elementwise(v *value, f func(*Node) *Node) []*value {
	if b.banded(v) {
		return inBands(b.bands(v).Map(f))
	}
	n := b.raw(v)
	return []*value{{node: f(n), nhwc: v.nhwc}}
}

// binary applies f with ONNX (numpy) broadcasting; if a rank-4 operand is in
// NHWC, so is the result, and the other operands are brought to NHWC. Where
// an operand is in bands, so is the result: the other is in bands alike, or
// broadcasts along the rows.
func (b *builder) binary(x, y *value, f func(a, b *Node) *Node) *value {
	r := max(len(b.dims(x)), len(b.dims(y)))
	if r == 4 && (b.banded(x) || b.banded(y)) {
		switch {
		case b.banded(x) && b.banded(y):
			if slices.Equal(b.rows(x), b.rows(y)) {
				return inBands(nn.Zip(b.bands(x), b.bands(y), f))[0]
			}
		case b.banded(x) && rowless(b.dims(y)):
			yn := b.broadcastNHWC(y)
			return inBands(b.bands(x).Map(func(x *Node) *Node { return f(x, yn) }))[0]
		case b.banded(y) && rowless(b.dims(x)):
			xn := b.broadcastNHWC(x)
			return inBands(b.bands(y).Map(func(y *Node) *Node { return f(xn, y) }))[0]
		}
	}
	if r == 4 && (x.nhwc || y.nhwc) {
		return &value{node: f(b.broadcastNHWC(x), b.broadcastNHWC(y)), nhwc: true}
	}
	return &value{node: f(b.expandRank(x, r), b.expandRank(y, r))}
}

// rowless reports whether a value of ONNX dims d broadcasts along the rows
// of an NCHW activation: its axis aligned with them (the second to last),
// if any, is 1.
func rowless(d []int) bool { return len(d) < 2 || d[len(d)-2] == 1 }

// rows returns the rows of each band of v, held or would-be
// ([builder.banded]), without making the bands.
func (b *builder) rows(v *value) []int {
	if v.bands != nil {
		return v.bands.Heights()
	}
	return nn.SplitHeights(b.dims(v)[2], b.split)
}

// expandRank returns v in ONNX's layout with 1s prepended up to rank r.
func (b *builder) expandRank(v *value, r int) *Node {
	n := b.node(v)
	if n.Rank() < r {
		d := make([]int, r-n.Rank(), r)
		for i := range d {
			d[i] = 1
		}
		n = Reshape(n, append(d, n.Shape().Dimensions...)...)
	}
	return n
}

func (b *builder) broadcastNHWC(v *value) *Node {
	if len(b.dims(v)) == 4 {
		return b.nhwcNode(v)
	}
	return permute(b.expandRank(v, 4), 0, 2, 3, 1)
}
