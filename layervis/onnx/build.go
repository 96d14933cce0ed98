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
// that need ONNX's NCHW get a transposed node, made once and cached.
type value struct {
	st     *static
	vr     *model.Variable
	window [2]int // vr holds a Conv kernel with this window as a matrix (see Model.kernelsToMatrices)
	node   *Node  // in NHWC if nhwc, else in ONNX's layout
	nhwc   bool
	lazy   func() *Node // builds node on first use (outputs of Split)

	logical, physical *Node // cached NCHW / NHWC forms
}

// builder converts the nodes needed for some outputs, each at most once.
type builder struct {
	m    *Model
	g    *Graph
	form nn.Form
	vals map[string]*value
}

func newBuilder(m *Model, x *Node) *builder {
	b := &builder{m: m, g: x.Graph(), form: nn.FormFor(x.Graph().Backend()), vals: map[string]*value{}}
	b.vals[m.input] = &value{node: x}
	return b
}

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

// elementwise applies f to v in v's own layout.
func (b *builder) elementwise(v *value, f func(*Node) *Node) []*value {
	n := b.raw(v)
	return []*value{{node: f(n), nhwc: v.nhwc}}
}

// binary applies f with ONNX (numpy) broadcasting; if a rank-4 operand is in
// NHWC, so is the result, and the other operands are brought to NHWC.
func (b *builder) binary(x, y *value, f func(a, b *Node) *Node) *value {
	r := max(len(b.dims(x)), len(b.dims(y)))
	if r == 4 && (x.nhwc || y.nhwc) {
		return &value{node: f(b.broadcastNHWC(x), b.broadcastNHWC(y)), nhwc: true}
	}
	return &value{node: f(b.expandRank(x, r), b.expandRank(y, r))}
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
