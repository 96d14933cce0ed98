package onnx

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/nn"
)

// opFunc converts one node; it returns the node's output values in order
// (nil for outputs it does not compute) and panics on errors.
type opFunc func(c *call) []*value

// ops are the ONNX ops (default domain) this package converts.
var ops map[string]opFunc

func init() {
	ops = map[string]opFunc{
		// Activations and other elementwise functions.
		"Relu":        unary(nn.ReLU),
		"Sigmoid":     unary(Sigmoid),
		"Tanh":        unary(Tanh),
		"Exp":         unary(Exp),
		"Log":         unary(Log),
		"Sqrt":        unary(Sqrt),
		"Neg":         unary(Neg),
		"Abs":         unary(Abs),
		"Reciprocal":  unary(Inverse),
		"Erf":         unary(Erf),
		"Softplus":    unary(Softplus),
		"HardSwish":   unary(activation.HardSwish),
		"LeakyRelu":   opLeakyRelu,
		"Elu":         opElu,
		"Selu":        opSelu,
		"HardSigmoid": opHardSigmoid,
		"Clip":        opClip,
		"PRelu":       opPRelu,
		"Identity":    opIdentity,
		"Dropout":     opIdentity, // inference: the identity (the mask output is not supported)
		"Cast":        opCast,
		// Elementwise with broadcasting.
		"Add": binaryOp(Add),
		"Sub": binaryOp(Sub),
		"Mul": binaryOp(Mul),
		"Div": binaryOp(Div),
		"Pow": binaryOp(Pow),
		"Max": variadic(Max),
		"Min": variadic(Min),
		"Sum": variadic(Add),
		// Convolution, pooling, normalization.
		"Conv":               opConv,
		"MaxPool":            opMaxPool,
		"AveragePool":        opAveragePool,
		"GlobalAveragePool":  opGlobalPool(false),
		"GlobalMaxPool":      opGlobalPool(true),
		"BatchNormalization": opBatchNorm,
		"LRN":                opLRN,
		// Linear algebra and classifier heads.
		"Gemm":       opGemm,
		"MatMul":     opMatMul,
		"Softmax":    opSoftmax(false),
		"LogSoftmax": opSoftmax(true),
		"ReduceMean": opReduce(ReduceMean),
		"ReduceMax":  opReduce(ReduceMax),
		"ReduceMin":  opReduce(ReduceMin),
		"ReduceSum":  opReduce(ReduceSum),
		// Shapes and constants.
		"Constant":        opConstant,
		"ConstantOfShape": opConstantOfShape,
		"Shape":           opShape,
		"Size":            opSize,
		"Flatten":         opFlatten,
		"Reshape":         opReshape,
		"Squeeze":         opSqueeze,
		"Unsqueeze":       opUnsqueeze,
		"Transpose":       opTranspose,
		"Concat":          opConcat,
		"Gather":          opGather,
		"Slice":           opSlice,
		"Split":           opSplit,
		"Pad":             opPad,
	}
}

// SupportedOps lists the ONNX ops (default domain) that models may use.
func SupportedOps() []string { return slices.Sorted(maps.Keys(ops)) }

// checkNode rejects, when the model is loaded, nodes this package cannot
// convert whatever the input size.
func checkNode(n *protos.NodeProto) error {
	where := fmt.Sprintf("node %q", n.GetName())
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return fmt.Errorf("%s uses op %s of domain %q: only the default ONNX domain is supported; supported ops: %s",
			where, n.GetOpType(), d, strings.Join(SupportedOps(), ", "))
	}
	if _, ok := ops[n.GetOpType()]; !ok {
		return fmt.Errorf("%s uses op %q, which layervis cannot convert; supported ops: %s",
			where, n.GetOpType(), strings.Join(SupportedOps(), ", "))
	}
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil || len(a.GetGraphs()) > 0 || a.GetSparseTensor() != nil || a.GetRefAttrName() != "" {
			return fmt.Errorf("%s (%s): attribute %s (a graph, sparse tensor or function reference) is not supported", where, n.GetOpType(), a.GetName())
		}
	}
	if len(n.GetOutput()) == 0 {
		return fmt.Errorf("%s (%s) has no output", where, n.GetOpType())
	}
	if n.GetOpType() == "Constant" {
		ok := false
		for _, name := range []string{"value", "value_float", "value_floats", "value_int", "value_ints"} {
			ok = ok || attr(n, name) != nil
		}
		if !ok {
			return fmt.Errorf("%s: only Constant nodes with value, value_float(s) or value_int(s) are supported", where)
		}
	}
	return nil
}

// call is one node being converted.
type call struct {
	b *builder
	n *protos.NodeProto
}

func (c *call) has(i int) bool { return i < len(c.n.GetInput()) && c.n.GetInput()[i] != "" }

func (c *call) in(i int) *value {
	if !c.has(i) {
		exceptions.Panicf("input %d is missing", i)
	}
	return c.b.resolve(c.n.GetInput()[i])
}

// static returns input i, which must be known while building.
func (c *call) static(i int) *static {
	s := c.b.static(c.in(i))
	if s == nil {
		exceptions.Panicf("input %d (%q) must be a constant (an initializer, or computed from constants and shapes only)", i, c.n.GetInput()[i])
	}
	return s
}

func attr(n *protos.NodeProto, name string) *protos.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func (c *call) attr(name string, t protos.AttributeProto_AttributeType) *protos.AttributeProto {
	a := attr(c.n, name)
	if a != nil && a.GetType() != t && a.GetType() != protos.AttributeProto_UNDEFINED {
		exceptions.Panicf("attribute %s has type %s, want %s", name, a.GetType(), t)
	}
	return a
}

func (c *call) intAttr(name string, def int64) int64 {
	if a := c.attr(name, protos.AttributeProto_INT); a != nil {
		return a.GetI()
	}
	return def
}

func (c *call) floatAttr(name string, def float64) float64 {
	if a := c.attr(name, protos.AttributeProto_FLOAT); a != nil {
		return float64(a.GetF())
	}
	return def
}

func (c *call) stringAttr(name, def string) string {
	if a := c.attr(name, protos.AttributeProto_STRING); a != nil {
		return string(a.GetS())
	}
	return def
}

// intsAttr returns the attribute as ints, or nil if absent.
func (c *call) intsAttr(name string) []int {
	a := c.attr(name, protos.AttributeProto_INTS)
	if a == nil {
		return nil
	}
	out := make([]int, len(a.GetInts()))
	for i, v := range a.GetInts() {
		if v > math.MaxInt32 || v < math.MinInt32 {
			exceptions.Panicf("attribute %s value %d out of range", name, v)
		}
		out[i] = int(v)
	}
	return out
}

// intsInput returns the ints of input i (opset versions that moved an
// attribute to an input), else of attribute name; ok is false if neither is
// given.
func (c *call) intsInput(i int, name string) (vals []int, ok bool) {
	if c.has(i) {
		return c.static(i).intList(), true
	}
	if v := c.intsAttr(name); v != nil {
		return v, true
	}
	return nil, false
}

func unary(f func(*Node) *Node) opFunc {
	return func(c *call) []*value { return c.b.elementwise(c.in(0), f) }
}

func opIdentity(c *call) []*value { return []*value{c.in(0)} }

func opLeakyRelu(c *call) []*value {
	alpha := c.floatAttr("alpha", 0.01)
	return c.b.elementwise(c.in(0), func(x *Node) *Node { return activation.LeakyReluWith(x, alpha) })
}

// elu returns x for x > 0, else alpha·(eˣ − 1). (GoMLX's Expm1 has no
// gradient.)
func elu(x *Node, alpha float64) *Node {
	return Where(GreaterThan(x, ScalarZero(x.Graph(), x.DType())), x, MulScalar(AddScalar(Exp(x), -1), alpha))
}

func opElu(c *call) []*value {
	alpha := c.floatAttr("alpha", 1)
	return c.b.elementwise(c.in(0), func(x *Node) *Node { return elu(x, alpha) })
}

func opSelu(c *call) []*value {
	alpha := c.floatAttr("alpha", 1.67326319217681884765625)
	gamma := c.floatAttr("gamma", 1.05070102214813232421875)
	return c.b.elementwise(c.in(0), func(x *Node) *Node { return MulScalar(elu(x, alpha), gamma) })
}

func opHardSigmoid(c *call) []*value {
	alpha, beta := c.floatAttr("alpha", 0.2), c.floatAttr("beta", 0.5)
	return c.b.elementwise(c.in(0), func(x *Node) *Node {
		return ClipScalar(AddScalar(MulScalar(x, alpha), beta), 0, 1)
	})
}

// opClip takes min and max from inputs 1 and 2 (opset ≥ 11) or from
// attributes; either may be absent.
func opClip(c *call) []*value {
	lo, hi := math.Inf(-1), math.Inf(1)
	if c.b.m.opset < 11 {
		lo, hi = c.floatAttr("min", lo), c.floatAttr("max", hi)
	} else {
		if c.has(1) {
			lo = c.static(1).float(0)
		}
		if c.has(2) {
			hi = c.static(2).float(0)
		}
	}
	return c.b.elementwise(c.in(0), func(x *Node) *Node {
		if !math.IsInf(lo, -1) {
			x = MaxScalar(x, lo)
		}
		if !math.IsInf(hi, 1) {
			x = MinScalar(x, hi)
		}
		return x
	})
}

// opPRelu is x for x > 0, else slope·x, the slope broadcast to x.
func opPRelu(c *call) []*value {
	return []*value{c.b.binary(c.in(0), c.in(1), func(x, slope *Node) *Node {
		return Where(GreaterThan(x, ScalarZero(x.Graph(), x.DType())), x, Mul(x, slope))
	})}
}

// onnxDType maps the ONNX element types layervis handles.
func onnxDType(t int64) dtypes.DType {
	switch protos.TensorProto_DataType(t) {
	case protos.TensorProto_FLOAT:
		return dtypes.Float32
	case protos.TensorProto_DOUBLE:
		return dtypes.Float64
	case protos.TensorProto_INT64:
		return dtypes.Int64
	case protos.TensorProto_INT32:
		return dtypes.Int32
	case protos.TensorProto_BOOL:
		return dtypes.Bool
	}
	exceptions.Panicf("element type %s is not supported", protos.TensorProto_DataType(t))
	return dtypes.InvalidDType
}

func opCast(c *call) []*value {
	dt := onnxDType(c.intAttr("to", int64(protos.TensorProto_FLOAT)))
	x := c.in(0)
	if c.b.foldable(x) {
		return constant(c.b.static(x).cast(dt))
	}
	return c.b.elementwise(x, func(n *Node) *Node { return ConvertDType(n, dt) })
}

// staticBinary are the ops evaluated while building when both operands are
// foldable.
var staticBinary = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true}

func binaryOp(f func(a, b *Node) *Node) opFunc {
	return func(c *call) []*value {
		x, y := c.in(0), c.in(1)
		if staticBinary[c.n.GetOpType()] && c.b.foldable(x) && c.b.foldable(y) {
			return constant(binaryStatic(c.n.GetOpType(), c.b.static(x), c.b.static(y)))
		}
		return []*value{c.b.binary(x, y, f)}
	}
}

func variadic(f func(a, b *Node) *Node) opFunc {
	return func(c *call) []*value {
		acc := c.in(0)
		for i := 1; i < len(c.n.GetInput()); i++ {
			acc = c.b.binary(acc, c.in(i), f)
		}
		return []*value{acc}
	}
}

// maxWindow bounds the positions of a Conv or pool window (64×64): a file's
// attributes could otherwise ask for millions of graph nodes.
const maxWindow = 64 * 64

// window reads the kernel, strides, dilations and padding of a Conv or pool
// over the spatial dims hw.
func (c *call) window(hw []int, kernel []int) (k, s, d [2]int, pad [2][2]int) {
	if ks := c.intsAttr("kernel_shape"); ks != nil {
		if len(ks) != 2 || (kernel != nil && !slices.Equal(ks, kernel)) {
			exceptions.Panicf("kernel_shape %v does not fit a 2-D window %v", ks, kernel)
		}
		kernel = ks
	}
	if len(kernel) != 2 {
		exceptions.Panicf("kernel_shape is required (2-D windows only)")
	}
	two := func(name string) [2]int {
		v := c.intsAttr(name)
		if v == nil {
			return [2]int{1, 1}
		}
		if len(v) != 2 || v[0] < 1 || v[1] < 1 {
			exceptions.Panicf("attribute %s = %v: want 2 positive values", name, v)
		}
		return [2]int{v[0], v[1]}
	}
	k = [2]int{kernel[0], kernel[1]}
	if k[0] < 1 || k[1] < 1 {
		exceptions.Panicf("kernel %v is empty", k)
	}
	if k[0] > maxWindow || k[1] > maxWindow || k[0]*k[1] > maxWindow {
		// The pure-Go form builds one strided slice per window position.
		exceptions.Panicf("window %dx%d: over %d positions, the most layervis builds (a corrupt kernel_shape or weight?)", k[0], k[1], maxWindow)
	}
	s, d = two("strides"), two("dilations")
	switch ap := c.stringAttr("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
		if p := c.intsAttr("pads"); p != nil {
			if len(p) != 4 || slices.Min(p) < 0 {
				exceptions.Panicf("pads %v: want 4 non-negative values", p)
			}
			pad = [2][2]int{{p[0], p[2]}, {p[1], p[3]}}
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for a := range 2 {
			sp := nn.SamePad(hw[a], (k[a]-1)*d[a]+1, s[a])
			if ap == "SAME_LOWER" {
				sp[0], sp[1] = sp[1], sp[0]
			}
			pad[a] = sp
		}
	default:
		exceptions.Panicf("auto_pad %q is not supported", ap)
	}
	return k, s, d, pad
}

// spatial returns the input's NCHW dims, which must be 4-D.
func (c *call) spatial(x *value) []int {
	d := c.b.dims(x)
	if len(d) != 4 {
		exceptions.Panicf("only 2-D %s (4-D NCHW inputs) is supported, got input shape %v", c.n.GetOpType(), d)
	}
	return d
}

func opConv(c *call) []*value {
	x := c.in(0)
	xd := c.spatial(x)
	wv := c.in(1)
	var w *Node // HWIO [kh, kw, cin/groups, cout], or as the matrix [kh·kw·cin/groups, cout]
	var k [2]int
	if wv.window != [2]int{} {
		w, k = c.b.raw(wv), wv.window
		if wv.vr != nil { // the model keeps the matrix's other layouts
			nn.SetKeeper(w, c.b.m.copies.Keeper(c.b.g, wv.vr))
		}
	} else {
		w = c.b.node(wv) // ONNX: [cout, cin/groups, kh, kw]
		if w.Rank() != 4 {
			exceptions.Panicf("weight of shape %s: only 2-D convolutions are supported", w.Shape())
		}
		w = TransposeAllAxes(w, 2, 3, 1, 0)
		k = [2]int{w.Shape().Dim(0), w.Shape().Dim(1)}
	}
	_, s, d, pad := c.window(xd[2:], k[:])
	groups := c.intAttr("group", 1)
	cout := int64(w.Shape().Dim(w.Rank() - 1))
	if cin, cinG := int64(xd[1]), int64(w.Shape().Size())/(cout*int64(k[0]*k[1])); groups < 1 || cinG*groups != cin || cout%groups != 0 {
		exceptions.Panicf("group %d does not fit %d input channels, %d per group, and %d output channels", groups, cin, cinG, cout)
	}
	conv := nn.Conv2D{Stride: s, Pad: pad, Dilation: d, Groups: int(groups), Window: k}
	var b *Node
	if c.has(2) {
		b = c.b.node(c.in(2))
	}
	if c.b.banded(x) {
		return inBands(conv.ApplyBands(c.b.form, c.b.bands(x), w, b))
	}
	return phys(conv.ApplyBias(c.b.form, c.b.nhwcNode(x), w, b))
}

func (c *call) pool() (x *value, p nn.Pool2D) {
	x = c.in(0)
	xd := c.spatial(x)
	k, s, d, pad := c.window(xd[2:], nil)
	if d != [2]int{1, 1} {
		exceptions.Panicf("dilations %v are not supported for pooling", d)
	}
	return x, nn.Pool2D{Kernel: k, Stride: s, Pad: pad, CeilMode: c.intAttr("ceil_mode", 0) != 0}
}

func opMaxPool(c *call) []*value {
	x, p := c.pool()
	if c.b.banded(x) {
		return inBands(p.MaxBands(c.b.form, c.b.bands(x)))
	}
	return phys(p.Max(c.b.form, c.b.nhwcNode(x)))
}

func opAveragePool(c *call) []*value {
	x, p := c.pool()
	p.CountPad = c.intAttr("count_include_pad", 0) != 0
	return phys(p.Avg(c.b.nhwcNode(x)))
}

func opGlobalPool(isMax bool) opFunc {
	return func(c *call) []*value {
		x := c.in(0)
		d := c.spatial(x)
		var y *Node
		if xs := c.b.bands(x); xs != nil {
			// The bands' maxima or sums, joined.
			if isMax {
				y = xs.Reduce(ReduceMax, Max, 1, 2)
			} else {
				y = MulScalar(xs.Reduce(ReduceSum, Add, 1, 2), 1/float64(d[2]*d[3]))
			}
		} else if n := c.b.nhwcNode(x); isMax {
			y = ReduceMax(n, 1, 2)
		} else {
			y = nn.GlobalAvg(n)
		}
		return phys(Reshape(y, d[0], 1, 1, d[1]))
	}
}

// opBatchNorm is inference batch normalization with constant statistics,
// folded into a per-channel scale and shift.
func opBatchNorm(c *call) []*value {
	if c.intAttr("training_mode", 0) != 0 {
		exceptions.Panicf("training_mode=1 is not supported (export the model in eval mode)")
	}
	f32 := func(i int) []float32 {
		return narrow(c.static(i).flts, func(v float64) float32 { return float32(v) })
	}
	scale, shift, err := nn.BatchNormScaleShift(f32(1), f32(2), f32(3), f32(4), c.floatAttr("epsilon", 1e-5))
	if err != nil {
		panic(err)
	}
	x := c.in(0)
	g := c.b.g
	sc, sh := Const(g, scale), Const(g, shift)
	switch r := len(c.b.dims(x)); {
	case r == 4 && c.b.banded(x):
		return inBands(c.b.bands(x).Map(func(x *Node) *Node { return nn.Affine(x, sc, sh) }))
	case r == 4:
		return phys(nn.Affine(c.b.nhwcNode(x), sc, sh))
	case r == 2:
		return plain(nn.Affine(c.b.node(x), sc, sh))
	default:
		exceptions.Panicf("inputs of rank %d are not supported (2 or 4 only)", r)
		return nil
	}
}

// opLRN is local response normalization across channels:
// x / (bias + alpha/size · Σ x²)^beta over a window of size channels.
func opLRN(c *call) []*value {
	size := int(c.intAttr("size", 0))
	if size < 1 {
		exceptions.Panicf("size %d must be positive", size)
	}
	alpha, beta, bias := c.floatAttr("alpha", 1e-4), c.floatAttr("beta", 0.75), c.floatAttr("bias", 1)
	x := c.in(0)
	ch := c.spatial(x)[1]
	n := c.b.nhwcNode(x)
	front := (size - 1) / 2
	sq := Pad(Mul(n, n), ScalarZero(c.b.g, n.DType()), compute.PadAxis{}, compute.PadAxis{}, compute.PadAxis{},
		compute.PadAxis{Start: front, End: size - 1 - front})
	var sum *Node
	for i := range size {
		t := Slice(sq, AxisRange(), AxisRange(), AxisRange(), AxisRange(i, i+ch))
		if sum == nil {
			sum = t
		} else {
			sum = Add(sum, t)
		}
	}
	den := Pow(AddScalar(MulScalar(sum, alpha/float64(size)), bias), Scalar(c.b.g, n.DType(), beta))
	return phys(Div(n, den))
}

func opGemm(c *call) []*value {
	a, b := c.b.node(c.in(0)), c.b.node(c.in(1))
	if a.Rank() != 2 || b.Rank() != 2 {
		exceptions.Panicf("Gemm takes 2-D operands, got %s and %s", a.Shape(), b.Shape())
	}
	ca, cb := 1, 0
	if c.intAttr("transA", 0) != 0 {
		ca = 0
	}
	if c.intAttr("transB", 0) != 0 {
		cb = 1
	}
	y := DotGeneral(a, []int{ca}, nil, b, []int{cb}, nil)
	if alpha := c.floatAttr("alpha", 1); alpha != 1 {
		y = MulScalar(y, alpha)
	}
	out := &value{node: y}
	if c.has(2) {
		bias := c.in(2)
		if beta := c.floatAttr("beta", 1); beta != 1 {
			bias = &value{node: MulScalar(c.b.node(bias), beta)}
		}
		out = c.b.binary(out, bias, Add)
	}
	return []*value{out}
}

func opMatMul(c *call) []*value {
	return plain(MatMul(c.b.node(c.in(0)), c.b.node(c.in(1))))
}

// opSoftmax: from opset 13 along one axis; before, over the input flattened
// to 2-D at axis.
func opSoftmax(logSoftmax bool) opFunc {
	return func(c *call) []*value {
		x := c.b.node(c.in(0))
		f := Softmax
		if logSoftmax {
			f = LogSoftmax
		}
		if c.b.m.opset >= 13 {
			return plain(f(x, normAxis(int(c.intAttr("axis", -1)), x.Rank())))
		}
		axis := normAxis(int(c.intAttr("axis", 1)), x.Rank())
		d := x.Shape().Dimensions
		y := f(Reshape(x, numElems(d[:axis]), numElems(d[axis:])), 1)
		return plain(Reshape(y, d...))
	}
}

// opReduce reduces over axes (attribute, or input 1 for ReduceSum from
// opset 13 and all reductions from opset 18), working on NHWC values in place.
func opReduce(f func(x *Node, axes ...int) *Node) opFunc {
	return func(c *call) []*value {
		x := c.in(0)
		rank := len(c.b.dims(x))
		axes, ok := c.intsInput(1, "axes")
		if !ok || len(axes) == 0 {
			if c.intAttr("noop_with_empty_axes", 0) != 0 {
				return []*value{x}
			}
			axes = make([]int, rank)
			for i := range axes {
				axes[i] = i
			}
		}
		for i, a := range axes {
			axes[i] = normAxis(a, rank)
		}
		keep := c.intAttr("keepdims", 1) != 0
		var n *Node
		nhwc := x.nhwc
		if nhwc {
			n = c.b.nhwcNode(x)
			for i, a := range axes {
				axes[i] = nhwcAxis[a]
			}
		} else {
			n = c.b.node(x)
		}
		d := n.Shape().Dimensions
		y := f(n, axes...)
		if keep {
			kd := slices.Clone(d)
			for _, a := range axes {
				kd[a] = 1
			}
			return []*value{{node: Reshape(y, kd...), nhwc: nhwc}}
		}
		if !nhwc {
			return plain(y)
		}
		// The remaining NHWC axes, as NCHW axes, in their NHWC order.
		var rem []int
		for p, l := range []int{0, 2, 3, 1} {
			if !slices.Contains(axes, p) {
				rem = append(rem, l)
			}
		}
		perm := make([]int, len(rem))
		for i := range perm {
			perm[i] = i
		}
		slices.SortFunc(perm, func(i, j int) int { return rem[i] - rem[j] })
		return plain(permute(y, perm...))
	}
}

// opConstant handles the scalar and list forms; "value" tensors are decoded
// with the initializers.
func opConstant(c *call) []*value {
	if a := c.attr("value_float", protos.AttributeProto_FLOAT); a != nil {
		return constant(&static{dtype: dtypes.Float32, flts: []float64{float64(a.GetF())}})
	}
	if a := c.attr("value_floats", protos.AttributeProto_FLOATS); a != nil {
		f := narrow(a.GetFloats(), func(v float32) float64 { return float64(v) })
		return constant(&static{dtype: dtypes.Float32, dims: []int{len(f)}, flts: f})
	}
	if a := c.attr("value_int", protos.AttributeProto_INT); a != nil {
		return constant(&static{dtype: dtypes.Int64, ints: []int64{a.GetI()}})
	}
	if a := c.attr("value_ints", protos.AttributeProto_INTS); a != nil {
		return constant(staticInts(slices.Clone(a.GetInts())...))
	}
	exceptions.Panicf("unsupported Constant form")
	return nil
}

func opConstantOfShape(c *call) []*value {
	dims := c.static(0).intList()
	fill := &static{dtype: dtypes.Float32, flts: []float64{0}}
	if a := c.attr("value", protos.AttributeProto_TENSOR); a != nil && a.GetT() != nil {
		fill = c.b.static(&value{vr: c.b.m.store.GetVariable(variablePath(c.b.m.attrT[a.GetT()]))})
	}
	out := newStatic(fill.dtype, dims)
	for i := range out.size() {
		out.copyElem(i, fill, 0)
	}
	return constant(out)
}

func opShape(c *call) []*value {
	d := c.b.dims(c.in(0))
	start, end := int(c.intAttr("start", 0)), int(c.intAttr("end", int64(len(d))))
	first, n := sliceRange(start, end, 1, len(d))
	out := make([]int64, n)
	for i := range n {
		out[i] = int64(d[first+i])
	}
	return constant(staticInts(out...))
}

func opSize(c *call) []*value {
	return constant(&static{dtype: dtypes.Int64, ints: []int64{int64(numElems(c.b.dims(c.in(0))))}})
}

// reshaped returns x reshaped to dims (static or graph).
func (c *call) reshaped(x *value, dims []int) []*value {
	if c.b.foldable(x) {
		return constant(c.b.static(x).reshape(dims))
	}
	return plain(Reshape(c.b.node(x), dims...))
}

func opFlatten(c *call) []*value {
	x := c.in(0)
	d := c.b.dims(x)
	axis := int(c.intAttr("axis", 1))
	if axis < 0 {
		axis += len(d)
	}
	if axis < 0 || axis > len(d) {
		exceptions.Panicf("axis %d out of range for rank %d", c.intAttr("axis", 1), len(d))
	}
	return c.reshaped(x, []int{numElems(d[:axis]), numElems(d[axis:])})
}

func opReshape(c *call) []*value {
	x := c.in(0)
	d := c.b.dims(x)
	shape := c.static(1).intList()
	allowZero := c.intAttr("allowzero", 0) != 0
	out := make([]int, len(shape))
	infer := -1
	known := 1
	for i, s := range shape {
		switch {
		case s == 0 && !allowZero:
			if i >= len(d) {
				exceptions.Panicf("shape %v copies dimension %d of an input of rank %d", shape, i, len(d))
			}
			out[i] = d[i]
		case s == -1:
			if infer >= 0 {
				exceptions.Panicf("shape %v has two -1 dimensions", shape)
			}
			infer = i
			continue
		case s < 0:
			exceptions.Panicf("invalid shape %v", shape)
		default:
			out[i] = s
		}
		known *= out[i]
	}
	if infer >= 0 {
		if known == 0 || numElems(d)%known != 0 {
			exceptions.Panicf("cannot reshape %v to %v", d, shape)
		}
		out[infer] = numElems(d) / known
	}
	if numElems(out) != numElems(d) {
		exceptions.Panicf("cannot reshape %v to %v", d, shape)
	}
	return c.reshaped(x, out)
}

func opSqueeze(c *call) []*value {
	x := c.in(0)
	d := c.b.dims(x)
	axes, ok := c.intsInput(1, "axes")
	var out []int
	for i, n := range d {
		drop := !ok && n == 1
		if ok {
			for _, a := range axes {
				if normAxis(a, len(d)) == i {
					if n != 1 {
						exceptions.Panicf("cannot squeeze axis %d of size %d", i, n)
					}
					drop = true
				}
			}
		}
		if !drop {
			out = append(out, n)
		}
	}
	return c.reshaped(x, out)
}

func opUnsqueeze(c *call) []*value {
	x := c.in(0)
	d := c.b.dims(x)
	axes, ok := c.intsInput(1, "axes")
	if !ok {
		exceptions.Panicf("axes are required")
	}
	r := len(d) + len(axes)
	ins := make([]bool, r)
	for _, a := range axes {
		ins[normAxis(a, r)] = true
	}
	out := make([]int, 0, r)
	j := 0
	for i := range r {
		if ins[i] {
			out = append(out, 1)
		} else {
			out = append(out, d[j])
			j++
		}
	}
	return c.reshaped(x, out)
}

func opTranspose(c *call) []*value {
	x := c.in(0)
	r := len(c.b.dims(x))
	perm := c.intsAttr("perm")
	if perm == nil {
		for i := range r {
			perm = append(perm, r-1-i)
		}
	}
	if x.nhwc && slices.Equal(perm, []int{0, 2, 3, 1}) {
		return plain(c.b.nhwcNode(x)) // NCHW → NHWC: already there
	}
	return plain(permute(c.b.node(x), perm...))
}

func opConcat(c *call) []*value {
	a := c.attr("axis", protos.AttributeProto_INT)
	if a == nil {
		exceptions.Panicf("attribute axis is required")
	}
	var vals []*value
	for i := range c.n.GetInput() {
		if c.has(i) {
			vals = append(vals, c.in(i))
		}
	}
	if !slices.ContainsFunc(vals, func(v *value) bool { return !c.b.foldable(v) }) {
		parts := make([]*static, len(vals))
		for i, v := range vals {
			parts[i] = c.b.static(v)
		}
		return constant(concatStatic(parts, int(a.GetI())))
	}
	r := len(c.b.dims(vals[0]))
	axis := normAxis(int(a.GetI()), r)
	if r == 4 && axis == 1 && len(vals) > 1 && !slices.ContainsFunc(vals, func(v *value) bool {
		return !c.b.banded(v) || !slices.Equal(c.b.rows(v), c.b.rows(vals[0]))
	}) {
		// Channels of values in bands alike: band by band.
		parts := make([]nn.Bands, len(vals))
		for k, v := range vals {
			parts[k] = c.b.bands(v)
		}
		return inBands(nn.Concat(3, parts...))
	}
	nhwc := false
	if r == 4 {
		for _, v := range vals {
			nhwc = nhwc || v.nhwc
		}
	}
	nodes := make([]*Node, len(vals))
	for i, v := range vals {
		if nhwc {
			nodes[i] = c.b.nhwcNode(v)
		} else {
			nodes[i] = c.b.node(v)
		}
	}
	if nhwc {
		return phys(Concatenate(nodes, nhwcAxis[axis]))
	}
	return plain(Concatenate(nodes, axis))
}

func opGather(c *call) []*value {
	x, idx := c.in(0), c.static(1)
	axis := int(c.intAttr("axis", 0))
	if c.b.foldable(x) {
		return constant(c.b.static(x).gather(idx, axis))
	}
	n := c.b.node(x)
	axis = normAxis(axis, n.Rank())
	if len(idx.dims) > 1 {
		exceptions.Panicf("indices of rank %d are not supported on graph values", len(idx.dims))
	}
	size := n.Shape().Dim(axis)
	parts := make([]*Node, idx.size())
	for i := range parts {
		k := int(idx.int(i))
		if k < 0 {
			k += size
		}
		if k < 0 || k >= size {
			exceptions.Panicf("index %d out of range for axis of size %d", idx.int(i), size)
		}
		spec := make([]SliceAxisSpec, n.Rank())
		for a := range spec {
			spec[a] = AxisRange()
		}
		spec[axis] = AxisElem(k)
		parts[i] = Slice(n, spec...)
	}
	if len(idx.dims) == 0 {
		d := slices.Delete(slices.Clone(n.Shape().Dimensions), axis, axis+1)
		return plain(Reshape(parts[0], d...))
	}
	return plain(Concatenate(parts, axis))
}

func opSlice(c *call) []*value {
	x := c.in(0)
	d := c.b.dims(x)
	var starts, ends, axes, steps []int
	if c.b.m.opset < 10 {
		starts, ends, axes = c.intsAttr("starts"), c.intsAttr("ends"), c.intsAttr("axes")
	} else {
		starts, ends = c.static(1).intList(), c.static(2).intList()
		axes, _ = c.intsInput(3, "")
		steps, _ = c.intsInput(4, "")
	}
	if len(starts) != len(ends) {
		exceptions.Panicf("starts %v and ends %v differ in length", starts, ends)
	}
	spec := map[int][3]int{}
	for i := range starts {
		a, st := i, 1
		if axes != nil {
			a = axes[i]
		}
		if steps != nil {
			st = steps[i]
		}
		spec[normAxis(a, len(d))] = [3]int{starts[i], ends[i], st}
	}
	if c.b.foldable(x) {
		return constant(c.b.static(x).slice(spec))
	}
	n := c.b.node(x)
	ranges := make([]SliceAxisSpec, len(d))
	for a := range d {
		ranges[a] = AxisRange()
		sp, ok := spec[a]
		if !ok {
			continue
		}
		first, count := sliceRange(sp[0], sp[1], sp[2], d[a])
		if sp[2] < 0 {
			exceptions.Panicf("negative slice steps are not supported")
		}
		if count == 0 {
			exceptions.Panicf("slice of axis %d is empty", a)
		}
		ranges[a] = AxisRange(first, first+(count-1)*sp[2]+1).Stride(sp[2])
	}
	return plain(Slice(n, ranges...))
}

func opSplit(c *call) []*value {
	x := c.in(0)
	d := c.b.dims(x)
	axis := normAxis(int(c.intAttr("axis", 0)), len(d))
	nOut := len(c.n.GetOutput())
	sizes, ok := c.intsInput(1, "split")
	if !ok {
		parts := int(c.intAttr("num_outputs", int64(nOut)))
		if parts < 1 {
			exceptions.Panicf("num_outputs %d", parts)
		}
		chunk := (d[axis] + parts - 1) / parts
		for left := d[axis]; left > 0; left -= chunk {
			sizes = append(sizes, min(chunk, left))
		}
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != d[axis] || len(sizes) != nOut {
		exceptions.Panicf("split sizes %v do not fit axis %d of size %d into %d outputs", sizes, axis, d[axis], nOut)
	}
	out := make([]*value, nOut)
	start := 0
	for i, s := range sizes {
		lo, hi := start, start+s
		v := &value{nhwc: x.nhwc && len(d) == 4}
		v.lazy = func() *Node {
			var n *Node
			a := axis
			if v.nhwc {
				n, a = c.b.nhwcNode(x), nhwcAxis[axis]
			} else {
				n = c.b.node(x)
			}
			spec := make([]SliceAxisSpec, n.Rank())
			for j := range spec {
				spec[j] = AxisRange()
			}
			spec[a] = AxisRange(lo, hi)
			return Slice(n, spec...)
		}
		out[i] = v
		start = hi
	}
	return out
}

// opPad supports constant padding (pads from input 1 since opset 11, else the
// attribute), optionally on the given axes (opset 18).
func opPad(c *call) []*value {
	if mode := c.stringAttr("mode", "constant"); mode != "constant" {
		exceptions.Panicf("mode %q is not supported (constant only)", mode)
	}
	x := c.in(0)
	d := c.b.dims(x)
	pads, ok := c.intsInput(1, "pads")
	if !ok {
		exceptions.Panicf("pads are required")
	}
	fill := c.floatAttr("value", 0)
	if c.b.m.opset >= 11 && c.has(2) {
		fill = c.static(2).float(0)
	}
	axes := make([]int, len(d))
	for i := range axes {
		axes[i] = i
	}
	if a, ok := c.intsInput(3, ""); ok {
		axes = a
	}
	if len(pads) != 2*len(axes) || slices.Min(pads) < 0 {
		exceptions.Panicf("pads %v: want %d non-negative values", pads, 2*len(axes))
	}
	cfg := make([]compute.PadAxis, len(d))
	for i, a := range axes {
		cfg[normAxis(a, len(d))] = compute.PadAxis{Start: pads[i], End: pads[i+len(axes)]}
	}
	if x.nhwc {
		n := c.b.nhwcNode(x)
		pc := make([]compute.PadAxis, 4)
		for l, p := range nhwcAxis {
			pc[p] = cfg[l]
		}
		return phys(Pad(n, Scalar(c.b.g, n.DType(), fill), pc...))
	}
	n := c.b.node(x)
	return plain(Pad(n, Scalar(c.b.g, n.DType(), fill), cfg...))
}
