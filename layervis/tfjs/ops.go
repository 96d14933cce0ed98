package tfjs

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/nn"
)

// opSpec is how layervis builds one TF op.
type opSpec struct {
	// check validates the node's attributes and constant inputs at Load
	// time (nil: nothing to check); an error makes the node unavailable.
	check func(m *Model, nd *node) error
	// build returns the node's output (NHWC for images) in the graph; it
	// asks the builder for exactly the inputs it uses, so that no unused
	// node enters the graph.
	build func(b *builder, nd *node) *Node
	// band builds the node's output in horizontal bands (see
	// [builder.bandsOf]) from its inputs' bands, or returns nil, having built
	// nothing, where an input it needs in bands is not in bands or the op
	// mixes rows: the node is then built whole (nil band: never in bands).
	band func(b *builder, nd *node) nn.Bands
	// multiOut: the op has several outputs, of which only output 0 is
	// computed (FusedBatchNorm).
	multiOut bool
}

var opTable map[string]opSpec

func init() {
	unary := func(f func(x *Node) *Node) opSpec {
		return opSpec{check: nInputs(1, 1), build: func(b *builder, nd *node) *Node { return f(b.in(nd, 0)) },
			band: func(b *builder, nd *node) nn.Bands { return b.inBands(nd, 0).Map(f) }}
	}
	binary := func(f func(x, y *Node) *Node) opSpec {
		return opSpec{check: nInputs(2, 2), build: func(b *builder, nd *node) *Node {
			return f(broadcastRank(b.in(nd, 0), b.in(nd, 1)))
		}, band: binaryBands(f)}
	}
	opTable = map[string]opSpec{
		"Placeholder": {build: func(b *builder, _ *node) *Node { return b.nhwcInput() },
			band: func(b *builder, _ *node) nn.Bands { return nn.SplitRows(b.nhwcInput(), b.bands) }},
		"Const":    {build: (*builder).constant},
		"Identity": unary(func(x *Node) *Node { return x }),
		"Add":      binary(Add),
		"AddV2":    binary(Add),
		"Sub":      binary(Sub),
		"Mul":      binary(Mul),
		"RealDiv":  binary(Div),
		"Maximum":  binary(Max),
		"Minimum":  binary(Min),
		"AddN": {check: nInputs(1, -1), build: func(b *builder, nd *node) *Node {
			sum := b.in(nd, 0)
			for k := 1; k < len(nd.inputs); k++ {
				sum = Add(broadcastRank(sum, b.in(nd, k)))
			}
			return sum
		}},
		"BiasAdd": {check: all(nInputs(2, 2), nhwc), build: func(b *builder, nd *node) *Node {
			return nn.AddBias(b.in(nd, 0), b.in(nd, 1))
		}, band: func(b *builder, nd *node) nn.Bands {
			xs := b.inBands(nd, 0)
			if xs == nil {
				return nil
			}
			bias := b.in(nd, 1)
			return xs.Map(func(x *Node) *Node { return nn.AddBias(x, bias) })
		}},
		"Relu":     unary(relu),
		"Relu6":    unary(relu6),
		"Elu":      unary(elu),
		"Selu":     unary(selu),
		"Sigmoid":  unary(Sigmoid),
		"Tanh":     unary(Tanh),
		"Softplus": unary(softplus),
		"Rsqrt":    unary(Rsqrt),
		"Sqrt":     unary(Sqrt),
		"Square":   unary(Square),
		"Neg":      unary(Neg),
		"Exp":      unary(Exp),
		"Log":      unary(Log),
		"Abs":      unary(Abs),
		"LeakyRelu": {check: nInputs(1, 1), build: func(b *builder, nd *node) *Node {
			return leakyRelu(b.in(nd, 0), nd.float("alpha", 0.2))
		}, band: func(b *builder, nd *node) nn.Bands {
			return b.inBands(nd, 0).Map(func(x *Node) *Node { return leakyRelu(x, nd.float("alpha", 0.2)) })
		}},
		"Prelu": {check: nInputs(2, 2), build: func(b *builder, nd *node) *Node {
			return prelu(b.in(nd, 0), b.in(nd, 1))
		}, band: binaryBands(prelu)},
		"Softmax": {check: nInputs(1, 1), build: func(b *builder, nd *node) *Node { return Softmax(b.in(nd, 0), -1) }},

		"Conv2D":                     {check: convCheck(false), build: convBuild(false, false), band: convBands(false, false)},
		"_FusedConv2D":               {check: convCheck(true), build: convBuild(false, true), band: convBands(false, true)},
		"DepthwiseConv2dNative":      {check: convCheck(false), build: convBuild(true, false), band: convBands(true, false)},
		"FusedDepthwiseConv2dNative": {check: convCheck(true), build: convBuild(true, true), band: convBands(true, true)},
		"MaxPool":                    {check: poolCheck, build: poolBuild(true), band: maxPoolBands},
		"AvgPool":                    {check: poolCheck, build: poolBuild(false)},
		"MatMul":                     {check: matmulCheck(false), build: matmulBuild(false)},
		"_FusedMatMul":               {check: matmulCheck(true), build: matmulBuild(true)},

		"FusedBatchNorm":   {check: batchNormCheck, build: batchNormBuild, band: batchNormBands, multiOut: true},
		"FusedBatchNormV2": {check: batchNormCheck, build: batchNormBuild, band: batchNormBands, multiOut: true},
		"FusedBatchNormV3": {check: batchNormCheck, build: batchNormBuild, band: batchNormBands, multiOut: true},

		"Mean": reduceOp(ReduceMean, Add, true),
		"Sum":  reduceOp(ReduceSum, Add, false),
		"Max":  reduceOp(ReduceMax, Max, false),
		"Min":  reduceOp(ReduceMin, Min, false),

		"ConcatV2":              {check: concatCheck, build: concatBuild, band: concatBands},
		"ResizeBilinear":        {check: resizeCheck, build: resizeBuild(false)},
		"ResizeNearestNeighbor": {check: resizeCheck, build: resizeBuild(true)},
		"Reshape":               {check: all(nInputs(2, 2), staticInput(1)), build: reshapeBuild},
		"Squeeze":               {check: nInputs(1, 1), build: squeezeBuild},
		"ExpandDims":            {check: all(nInputs(2, 2), staticInput(1)), build: expandDimsBuild},
		"Transpose":             {check: all(nInputs(2, 2), staticInput(1)), build: transposeBuild},
		"Pad":                   {check: all(nInputs(2, 2), staticInput(1)), build: padBuild, band: padBands},
		"PadV2":                 {check: all(nInputs(3, 3), staticInput(1), staticInput(2)), build: padBuild, band: padBands},
	}
}

// SupportedOps lists the TF ops a graph model may use, sorted.
func SupportedOps() []string {
	out := make([]string, 0, len(opTable))
	for op := range opTable {
		out = append(out, op)
	}
	slices.Sort(out)
	return out
}

// ---- checks ----

type checkFunc = func(m *Model, nd *node) error

func all(checks ...checkFunc) checkFunc {
	return func(m *Model, nd *node) error {
		for _, c := range checks {
			if err := c(m, nd); err != nil {
				return err
			}
		}
		return nil
	}
}

// nInputs checks the number of data inputs (max -1: no limit).
func nInputs(lo, hi int) checkFunc {
	return func(_ *Model, nd *node) error {
		n := len(nd.inputs)
		if n < lo || hi >= 0 && n > hi {
			if lo == hi {
				return fmt.Errorf("has %d inputs, want %d", n, lo)
			}
			return fmt.Errorf("has %d inputs, want %d or more", n, lo)
		}
		return nil
	}
}

// staticInput checks that input k is a constant (its value is needed while
// building the graph).
func staticInput(k int) checkFunc {
	return func(m *Model, nd *node) error {
		if m.constant(nd.inputs[k]) == nil {
			return fmt.Errorf("input %d (%s) must be a constant", k, m.g.nodes[nd.inputs[k].node].name)
		}
		return nil
	}
}

func nhwc(_ *Model, nd *node) error {
	f, err := nd.str("data_format", "NHWC")
	if err != nil {
		return err
	}
	if f != "NHWC" {
		return fmt.Errorf("data_format %s is not supported (only NHWC)", f)
	}
	return nil
}

// window reads the strides (or ksize) attribute [1, h, w, 1].
func window(nd *node, key string) ([2]int, error) {
	v := nd.ints(key, []int{1, 1, 1, 1})
	if len(v) != 4 || v[0] != 1 || v[3] != 1 || v[1] < 1 || v[2] < 1 {
		return [2]int{}, fmt.Errorf("%s %v is not supported (want [1, h, w, 1])", key, v)
	}
	return [2]int{v[1], v[2]}, nil
}

// padding reads the padding attribute for a window of k taps (dilation d)
// and stride s over an h×w input.
func padding(nd *node, h, w int, k, s, d [2]int) ([2][2]int, error) {
	p, err := nd.str("padding", "VALID")
	if err != nil {
		return [2][2]int{}, err
	}
	switch p {
	case "VALID":
		return [2][2]int{}, nil
	case "SAME":
		return [2][2]int{nn.SamePad(h, (k[0]-1)*d[0]+1, s[0]), nn.SamePad(w, (k[1]-1)*d[1]+1, s[1])}, nil
	case "EXPLICIT":
		e := nd.ints("explicit_paddings", nil)
		if len(e) != 8 || e[0] != 0 || e[1] != 0 || e[6] != 0 || e[7] != 0 || slices.Min(e) < 0 {
			return [2][2]int{}, fmt.Errorf("explicit_paddings %v is not supported (want 8 values, none on batch and channels)", e)
		}
		return [2][2]int{{e[2], e[3]}, {e[4], e[5]}}, nil
	}
	return [2][2]int{}, fmt.Errorf("padding %q is not supported (SAME, VALID or EXPLICIT)", p)
}

// fusedActivations are the fused activations of _FusedConv2D and friends.
var fusedActivations = map[string]bool{"Relu": true, "Relu6": true, "Elu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Prelu": true}

// fusedCheck checks fused_ops [BiasAdd] or [BiasAdd, activation] and
// num_args, for an op with base data inputs before the fused arguments.
func fusedCheck(nd *node, base int) error {
	fused, err := nd.strs("fused_ops")
	if err != nil {
		return err
	}
	if len(fused) == 0 || len(fused) > 2 || fused[0] != "BiasAdd" || len(fused) == 2 && !fusedActivations[fused[1]] {
		return fmt.Errorf("fused_ops %v is not supported (want BiasAdd, optionally followed by one of Relu, Relu6, Elu, LeakyRelu, Sigmoid, Tanh, Prelu)", fused)
	}
	want := 1
	if len(fused) == 2 && fused[1] == "Prelu" {
		want = 2
	}
	if n := nd.integer("num_args", want); n != want {
		return fmt.Errorf("num_args %d does not fit fused_ops %v", n, fused)
	}
	if len(nd.inputs) != base+want {
		return fmt.Errorf("has %d inputs, want %d", len(nd.inputs), base+want)
	}
	return nil
}

// fusedApply applies the fused BiasAdd and activation of nd to y; the
// fused arguments start at input base.
func fusedApply(b *builder, nd *node, y *Node, base int) *Node {
	return fusedActivation(b, nd, nn.AddBias(y, b.in(nd, base)), base)
}

// fusedActivation applies the fused activation of nd, if any, to y, the
// output of its BiasAdd.
func fusedActivation(b *builder, nd *node, y *Node, base int) *Node {
	fused, _ := nd.strs("fused_ops")
	if len(fused) < 2 {
		return y
	}
	switch fused[1] {
	case "Relu":
		return relu(y)
	case "Relu6":
		return relu6(y)
	case "Elu":
		return elu(y)
	case "LeakyRelu":
		return leakyRelu(y, nd.float("leakyrelu_alpha", 0.2))
	case "Sigmoid":
		return Sigmoid(y)
	case "Tanh":
		return Tanh(y)
	case "Prelu":
		return prelu(y, b.in(nd, base+1))
	}
	exceptions.Panicf("node %q: fused op %q (internal error)", nd.name, fused[1])
	return nil
}

// convCheck checks a convolution node (fused: with fused_ops).
func convCheck(fused bool) checkFunc {
	return func(m *Model, nd *node) error {
		if err := nhwc(m, nd); err != nil {
			return err
		}
		if fused {
			if err := fusedCheck(nd, 2); err != nil {
				return err
			}
		} else if len(nd.inputs) != 2 {
			return fmt.Errorf("has %d inputs, want 2", len(nd.inputs))
		}
		if _, err := window(nd, "strides"); err != nil {
			return err
		}
		if _, err := window(nd, "dilations"); err != nil {
			return err
		}
		_, err := padding(nd, 1, 1, [2]int{1, 1}, [2]int{1, 1}, [2]int{1, 1})
		return err
	}
}

// convBuild builds Conv2D (depthwise: DepthwiseConv2dNative), with the
// fused bias and activation when fused.
func convBuild(depthwise, fused bool) func(b *builder, nd *node) *Node {
	return func(b *builder, nd *node) *Node {
		x := b.in(nd, 0)
		c, w := conv(b, nd, depthwise, x, x.Shape().Dim(1))
		if !fused {
			return c.Apply(b.form, x, w)
		}
		return fusedActivation(b, nd, c.ApplyBias(b.form, x, w, b.in(nd, 2)), 2)
	}
}

// convBands is convBuild on an input in bands.
func convBands(depthwise, fused bool) func(b *builder, nd *node) nn.Bands {
	return func(b *builder, nd *node) nn.Bands {
		xs := b.inBands(nd, 0)
		if xs == nil {
			return nil
		}
		c, w := conv(b, nd, depthwise, xs[0], xs.Height())
		if !fused {
			return c.ApplyBands(b.form, xs, w, nil)
		}
		return c.ApplyBands(b.form, xs, w, b.in(nd, 2)).Map(func(y *Node) *Node { return fusedActivation(b, nd, y, 2) })
	}
}

// conv returns node nd's convolution (depthwise: DepthwiseConv2dNative)
// over an NHWC input of h rows, of which x is the whole or a band, and its
// filter as the convolution takes it. The filter is HWIO, or stored as a
// matrix (see Model.kernelMatrices).
func conv(b *builder, nd *node, depthwise bool, x *Node, h int) (nn.Conv2D, *Node) {
	w := b.in(nd, 1)
	var k [2]int
	switch {
	case x.Rank() == 4 && w.Rank() == 4:
		k = [2]int{w.Shape().Dim(0), w.Shape().Dim(1)}
	case x.Rank() == 4 && w.Rank() == 2 && b.m.consts[nd.inputs[1].node] != nil: // a stored matrix
		d := b.m.consts[nd.inputs[1].node].dims
		k = [2]int{d[0], d[1]}
	default:
		exceptions.Panicf("node %q (%s): want an NHWC input and an HWIO filter, got %s and %s", nd.name, nd.op, x.Shape(), w.Shape())
	}
	s, _ := window(nd, "strides")
	d, _ := window(nd, "dilations")
	pad, err := padding(nd, h, x.Shape().Dim(2), k, s, d)
	if err != nil {
		panic(err)
	}
	c := nn.Conv2D{Stride: s, Pad: pad, Dilation: d, Window: k}
	if depthwise {
		// [kh,kw,cin,mult] → [kh,kw,1,cin·mult] (as a matrix: [kh·kw,
		// cin·mult]): output channel c·mult+m, as TF orders them.
		cin := x.Shape().Dim(3)
		if w.Rank() == 4 {
			w = Reshape(w, k[0], k[1], 1, cin*w.Shape().Dim(3))
		}
		c.Groups = cin
	}
	if w.Rank() == 2 && !depthwise { // a stored matrix: the model keeps its other layouts
		if v := b.m.store.GetVariable(varPath(b.m.g.nodes[nd.inputs[1].node].name)); v != nil {
			nn.SetKeeper(w, b.m.copies.Keeper(w.Graph(), v))
		}
	}
	return c, w
}

func poolCheck(m *Model, nd *node) error {
	if err := all(nInputs(1, 1), nhwc)(m, nd); err != nil {
		return err
	}
	if _, err := window(nd, "ksize"); err != nil {
		return err
	}
	if _, err := window(nd, "strides"); err != nil {
		return err
	}
	_, err := padding(nd, 1, 1, [2]int{1, 1}, [2]int{1, 1}, [2]int{1, 1})
	return err
}

func poolBuild(isMax bool) func(b *builder, nd *node) *Node {
	return func(b *builder, nd *node) *Node {
		x := b.in(nd, 0)
		p := pool(nd, x, x.Shape().Dim(1))
		if isMax {
			return p.Max(b.form, x)
		}
		return p.Avg(x) // TF averages over the real pixels only
	}
}

// maxPoolBands is MaxPool on an input in bands.
func maxPoolBands(b *builder, nd *node) nn.Bands {
	xs := b.inBands(nd, 0)
	if xs == nil {
		return nil
	}
	return pool(nd, xs[0], xs.Height()).MaxBands(b.form, xs)
}

// pool returns node nd's pooling window over an NHWC input of h rows, of
// which x is the whole or a band.
func pool(nd *node, x *Node, h int) nn.Pool2D {
	if x.Rank() != 4 {
		exceptions.Panicf("node %q (%s): want an NHWC input, got %s", nd.name, nd.op, x.Shape())
	}
	k, _ := window(nd, "ksize")
	s, _ := window(nd, "strides")
	pad, err := padding(nd, h, x.Shape().Dim(2), k, s, [2]int{1, 1})
	if err != nil {
		panic(err)
	}
	return nn.Pool2D{Kernel: k, Stride: s, Pad: pad}
}

func matmulCheck(fused bool) checkFunc {
	return func(_ *Model, nd *node) error {
		if fused {
			return fusedCheck(nd, 2)
		}
		if len(nd.inputs) != 2 {
			return fmt.Errorf("has %d inputs, want 2", len(nd.inputs))
		}
		return nil
	}
}

func matmulBuild(fused bool) func(b *builder, nd *node) *Node {
	return func(b *builder, nd *node) *Node {
		a, w := b.in(nd, 0), b.in(nd, 1)
		if a.Rank() != 2 || w.Rank() != 2 {
			exceptions.Panicf("node %q (%s): want two matrices, got %s and %s", nd.name, nd.op, a.Shape(), w.Shape())
		}
		ca, cw := 1, 0
		if nd.boolean("transpose_a", false) {
			ca = 0
		}
		if nd.boolean("transpose_b", false) {
			cw = 1
		}
		y := DotGeneral(a, []int{ca}, nil, w, []int{cw}, nil) // [a's free axis, w's free axis]
		if fused {
			y = fusedApply(b, nd, y, 2)
		}
		return y
	}
}

func batchNormCheck(m *Model, nd *node) error {
	if err := all(nInputs(5, 5), nhwc)(m, nd); err != nil {
		return err
	}
	if nd.boolean("is_training", false) {
		return errors.New("is_training=true is not supported (inference graphs only)")
	}
	return nil
}

func batchNormBuild(b *builder, nd *node) *Node {
	x := b.in(nd, 0)
	scale, shift := batchNorm(b, nd)
	return nn.Affine(x, scale, shift)
}

// batchNormBands is batchNormBuild on an input in bands.
func batchNormBands(b *builder, nd *node) nn.Bands {
	xs := b.inBands(nd, 0)
	if xs == nil {
		return nil
	}
	scale, shift := batchNorm(b, nd)
	return xs.Map(func(x *Node) *Node { return nn.Affine(x, scale, shift) })
}

// batchNorm returns the per-channel scale and shift of the batch norm nd.
func batchNorm(b *builder, nd *node) (scale, shift *Node) {
	gamma, offset, mean, variance := b.in(nd, 1), b.in(nd, 2), b.in(nd, 3), b.in(nd, 4)
	scale = Mul(gamma, Rsqrt(AddScalar(variance, nd.float("epsilon", 1e-4))))
	return scale, Sub(offset, Mul(mean, scale))
}

// reduceOp is a reduction by f over constant axes (mean: f is the mean),
// whose partial results (over parts of the reduced values) join combines:
// Add for a sum or mean, Max or Min. An input in bands reduced along its
// rows is reduced band by band and the bands' results joined (a mean's as
// sums, then scaled); one reduced along other axes, not the batch, stays in
// bands.
func reduceOp(f func(x *Node, axes ...int) *Node, join func(x, y *Node) *Node, mean bool) opSpec {
	axesOf := func(b *builder, nd *node, x *Node) []int {
		axes := b.m.constant(nd.inputs[1]).ints
		ax := make([]int, 0, len(axes))
		for _, a := range axes {
			ax = append(ax, axis(nd, int(a), x.Rank()))
		}
		return ax
	}
	keep := func(nd *node, y *Node, dims []int, ax []int) *Node {
		if !nd.boolean("keep_dims", false) {
			return y
		}
		dims = slices.Clone(dims)
		for _, a := range ax {
			dims[a] = 1
		}
		return Reshape(y, dims...)
	}
	return opSpec{check: all(nInputs(2, 2), staticInput(1)), build: func(b *builder, nd *node) *Node {
		if xs := b.inBands(nd, 0); xs != nil {
			if ax := axesOf(b, nd, xs[0]); slices.Contains(ax, 1) {
				part := f
				if mean {
					part = ReduceSum
				}
				y := xs.Reduce(part, join, ax...)
				dims := slices.Clone(xs[0].Shape().Dimensions)
				dims[1] = xs.Height()
				if mean {
					n := 1
					for _, a := range ax {
						n *= dims[a]
					}
					y = MulScalar(y, 1/float64(n))
				}
				return keep(nd, y, dims, ax)
			}
		}
		x := b.in(nd, 0)
		ax := axesOf(b, nd, x)
		if len(ax) == 0 {
			return x
		}
		return keep(nd, f(x, ax...), x.Shape().Dimensions, ax)
	}, band: func(b *builder, nd *node) nn.Bands {
		xs := b.inBands(nd, 0)
		if xs == nil {
			return nil
		}
		ax := axesOf(b, nd, xs[0])
		switch {
		case slices.Contains(ax, 0) || slices.Contains(ax, 1):
			return nil
		case len(ax) == 0:
			return xs
		}
		return xs.Map(func(x *Node) *Node { return keep(nd, f(x, ax...), x.Shape().Dimensions, ax) })
	}}
}

// axis resolves a possibly negative axis of a rank-r tensor.
func axis(nd *node, a, r int) int {
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r {
		exceptions.Panicf("node %q (%s): axis %d out of range for rank %d", nd.name, nd.op, a, r)
	}
	return a
}

func concatCheck(m *Model, nd *node) error {
	if err := nInputs(2, -1)(m, nd); err != nil {
		return err
	}
	return staticInput(len(nd.inputs)-1)(m, nd)
}

func concatBuild(b *builder, nd *node) *Node {
	n := len(nd.inputs) - 1
	xs := make([]*Node, n)
	for k := range n {
		xs[k] = b.in(nd, k)
	}
	ax := b.m.constant(nd.inputs[n]).ints
	if len(ax) != 1 {
		exceptions.Panicf("node %q (ConcatV2): the axis must be a scalar, got %d values", nd.name, len(ax))
	}
	if n == 1 {
		return xs[0]
	}
	return Concatenate(xs, axis(nd, int(ax[0]), xs[0].Rank()))
}

func resizeCheck(m *Model, nd *node) error {
	if err := all(nInputs(2, 2), staticInput(1))(m, nd); err != nil {
		return err
	}
	if c := m.constant(nd.inputs[1]); len(c.ints) != 2 || c.ints[0] < 1 || c.ints[1] < 1 {
		return fmt.Errorf("size must be 2 positive integers, got %v", c.ints)
	}
	if nd.boolean("align_corners", false) && nd.boolean("half_pixel_centers", false) {
		return errors.New("align_corners and half_pixel_centers cannot both be true")
	}
	return nil
}

func resizeBuild(nearest bool) func(b *builder, nd *node) *Node {
	return func(b *builder, nd *node) *Node {
		x := b.in(nd, 0)
		if x.Rank() != 4 {
			exceptions.Panicf("node %q (%s): want an NHWC input, got %s", nd.name, nd.op, x.Shape())
		}
		size := b.m.constant(nd.inputs[1]).ints
		mode := resizeMode{nearest: nearest, alignCorners: nd.boolean("align_corners", false),
			halfPixel: nd.boolean("half_pixel_centers", false)}
		out := [2]int{}
		for i := range 2 {
			out[i] = b.scaledSize(int(size[i]), i)
			x = mode.resize(x, 1+i, out[i])
		}
		return x
	}
}

// resizeMode selects TF's image resize semantics.
type resizeMode struct {
	nearest, alignCorners, halfPixel bool
}

// source returns, for output pixel i of n → m resizing, the two input
// pixels and the weight of the second, as TF computes them.
func (r resizeMode) source(i, n, m int) (lo, hi int, frac float64) {
	scale := float64(n) / float64(m)
	if r.alignCorners && m > 1 {
		scale = float64(n-1) / float64(m-1)
	}
	src := float64(i) * scale
	if r.nearest {
		switch {
		case r.alignCorners:
			src = math.Round(src)
		case r.halfPixel:
			src = math.Floor((float64(i) + 0.5) * scale)
		default:
			src = math.Floor(src)
		}
		j := min(int(src), n-1)
		return j, j, 0
	}
	if r.halfPixel {
		src = (float64(i)+0.5)*scale - 0.5
	}
	f := math.Floor(src)
	lo = max(int(f), 0)
	hi = min(int(math.Ceil(src)), n-1)
	return lo, hi, src - f
}

// resize resizes axis ax of x to m pixels.
func (r resizeMode) resize(x *Node, ax, m int) *Node {
	n := x.Shape().Dim(ax)
	if n == m {
		return x
	}
	if !r.nearest && !r.alignCorners && !r.halfPixel && m%n == 0 {
		return upsampleLegacy(x, ax, m/n)
	}
	// General case: multiply by the m×n interpolation matrix.
	w := make([][]float32, m)
	for i := range m {
		w[i] = make([]float32, n)
		lo, hi, f := r.source(i, n, m)
		w[i][lo] += float32(1 - f)
		w[i][hi] += float32(f)
	}
	y := DotGeneral(Const(x.Graph(), w), []int{1}, nil, x, []int{ax}, nil) // [m, other axes...]
	perm := make([]int, x.Rank())
	for i := range perm {
		switch {
		case i < ax:
			perm[i] = i + 1
		case i == ax:
			perm[i] = 0
		default:
			perm[i] = i
		}
	}
	return TransposeAllAxes(y, perm...)
}

// upsampleLegacy resizes axis ax by the integer factor f with TF's legacy
// bilinear sampling (src = dst/f, the next pixel clamped at the border):
// output f·i+r = x[i]·(1−r/f) + x[min(i+1, n−1)]·r/f, built from shifted
// copies, which is cheaper than a matrix product.
func upsampleLegacy(x *Node, ax, f int) *Node {
	n := x.Shape().Dim(ax)
	next := x
	if n > 1 {
		next = Concatenate([]*Node{SliceAxis(x, ax, AxisRange(1, n)), SliceAxis(x, ax, AxisRange(n-1, n))}, ax)
	}
	phases := make([]*Node, f)
	phases[0] = x
	for r := 1; r < f; r++ {
		a := float64(r) / float64(f)
		phases[r] = Add(MulScalar(x, 1-a), MulScalar(next, a))
	}
	dims := slices.Clone(x.Shape().Dimensions)
	dims[ax] *= f
	return Reshape(Stack(phases, ax+1), dims...)
}

func reshapeBuild(b *builder, nd *node) *Node {
	x := b.in(nd, 0)
	want := b.m.constant(nd.inputs[1]).ints
	dims := make([]int, len(want))
	for i, d := range want {
		dims[i] = int(d)
	}
	// Converted models often hard-code batch 1; keep the real batch.
	if x.Rank() > 0 && len(dims) > 0 && dims[0] == 1 && x.Shape().Dim(0) != 1 {
		dims[0] = x.Shape().Dim(0)
	}
	total, unknown := 1, -1
	for i, d := range dims {
		switch {
		case d == -1 && unknown < 0:
			unknown = i
		case d < 0:
			exceptions.Panicf("node %q (Reshape): bad shape %v", nd.name, want)
		default:
			total *= d
		}
	}
	if unknown >= 0 && total > 0 {
		dims[unknown] = x.Shape().Size() / total
	}
	return Reshape(x, dims...)
}

func squeezeBuild(b *builder, nd *node) *Node {
	x := b.in(nd, 0)
	axes := nd.ints("squeeze_dims", nd.ints("axis", nil))
	if len(axes) == 0 {
		// All unit axes but the batch axis, which stays.
		for i := 1; i < x.Rank(); i++ {
			if x.Shape().Dim(i) == 1 {
				axes = append(axes, i)
			}
		}
	}
	if len(axes) == 0 {
		return x
	}
	for i, a := range axes {
		axes[i] = axis(nd, a, x.Rank())
	}
	return Squeeze(x, axes...)
}

func expandDimsBuild(b *builder, nd *node) *Node {
	x := b.in(nd, 0)
	c := b.m.constant(nd.inputs[1]).ints
	if len(c) != 1 {
		exceptions.Panicf("node %q (ExpandDims): the axis must be a scalar, got %d values", nd.name, len(c))
	}
	a := int(c[0])
	if a < 0 {
		a += x.Rank() + 1
	}
	if a < 0 || a > x.Rank() {
		exceptions.Panicf("node %q (ExpandDims): axis %d out of range for rank %d", nd.name, c[0], x.Rank())
	}
	return InsertAxes(x, a)
}

func transposeBuild(b *builder, nd *node) *Node {
	x := b.in(nd, 0)
	c := b.m.constant(nd.inputs[1]).ints
	perm := make([]int, len(c))
	for i, p := range c {
		perm[i] = int(p)
	}
	return TransposeAllAxes(x, perm...)
}

func padBuild(b *builder, nd *node) *Node {
	x := b.in(nd, 0)
	axes, fill := padAxes(b, nd, x.Rank())
	return Pad(x, Scalar(x.Graph(), x.DType(), fill), axes...)
}

// padBands is padBuild on an input in bands that is not padded along the
// batch: the first band gets the rows added at the top, the last those at
// the bottom.
func padBands(b *builder, nd *node) nn.Bands {
	xs := b.inBands(nd, 0)
	if xs == nil {
		return nil
	}
	axes, fill := padAxes(b, nd, xs[0].Rank())
	if len(axes) < 2 || axes[0] != (compute.PadAxis{}) {
		return nil
	}
	out := make(nn.Bands, len(xs))
	for i, x := range xs {
		ax := slices.Clone(axes)
		if i > 0 {
			ax[1].Start = 0
		}
		if i < len(xs)-1 {
			ax[1].End = 0
		}
		out[i] = x
		if slices.ContainsFunc(ax, func(a compute.PadAxis) bool { return a != compute.PadAxis{} }) {
			out[i] = Pad(x, Scalar(x.Graph(), x.DType(), fill), ax...)
		}
	}
	return out
}

// padAxes returns the paddings of the Pad or PadV2 node nd, whose input
// has the given rank, and the value it pads with.
func padAxes(b *builder, nd *node, rank int) ([]compute.PadAxis, float64) {
	p := b.m.constant(nd.inputs[1]).ints
	if len(p) != 2*rank {
		exceptions.Panicf("node %q (%s): paddings has %d values, want %d for rank %d", nd.name, nd.op, len(p), 2*rank, rank)
	}
	fill := 0.0
	if len(nd.inputs) == 3 {
		c := b.m.constant(nd.inputs[2])
		if c.size() != 1 {
			exceptions.Panicf("node %q (PadV2): constant_values must be a scalar", nd.name)
		}
		if c.isInt() {
			fill = float64(c.ints[0])
		} else {
			fill = float64(c.floats[0])
		}
	}
	axes := make([]compute.PadAxis, rank)
	for i := range axes {
		if p[2*i] < 0 || p[2*i+1] < 0 {
			exceptions.Panicf("node %q (%s): negative paddings %v", nd.name, nd.op, p)
		}
		axes[i] = compute.PadAxis{Start: int(p[2*i]), End: int(p[2*i+1])}
	}
	return axes, fill
}

// ---- element-wise helpers ----

// broadcastRank prepares the operands of an element-wise op for NumPy
// broadcasting. An operand whose shape, without leading unit axes, is a
// suffix of the other's (a per-channel vector, a squeeze-excite scale at
// batch 1) is broadcast explicitly with BroadcastPrefix, which the pure-Go
// backend runs about 4× faster than an implicitly broadcast operand;
// otherwise the lower-rank operand gets leading unit axes and GoMLX
// broadcasts unit axes.
func broadcastRank(x, y *Node) (*Node, *Node) {
	if x.Shape().Equal(y.Shape()) {
		return x, y
	}
	if y.Shape().Size() < x.Shape().Size() {
		return x, suffixBroadcast(y, x)
	}
	return suffixBroadcast(x, y), y
}

// suffixBroadcast returns small broadcast to big's shape, or prepared for
// implicit broadcasting.
func suffixBroadcast(small, big *Node) *Node {
	if small.Shape().Size() == 1 {
		return Reshape(small) // a scalar: the backend's fast path
	}
	dims := small.Shape().Dimensions
	for len(dims) > 0 && dims[0] == 1 {
		dims = dims[1:]
	}
	bd := big.Shape().Dimensions
	if n := len(bd) - len(dims); n >= 0 && slices.Equal(bd[n:], dims) {
		return BroadcastPrefix(Reshape(small, dims...), bd[:n]...)
	}
	if small.Rank() < big.Rank() {
		return ExpandLeftToRank(small, big.Rank())
	}
	return small
}

func relu(x *Node) *Node  { return nn.ReLU(x) }
func relu6(x *Node) *Node { return nn.ReLU6(x) }

// positive returns x > 0, comparing with a scalar (no zeros tensor).
func positive(x *Node) *Node { return GreaterThan(x, ScalarZero(x.Graph(), x.DType())) }

func elu(x *Node) *Node {
	return Where(positive(x), x, AddScalar(Exp(MinScalar(x, 0)), -1))
}

// selu uses TF's constants.
func selu(x *Node) *Node {
	const alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
	return MulScalar(Where(positive(x), x, MulScalar(AddScalar(Exp(MinScalar(x, 0)), -1), alpha)), scale)
}

func softplus(x *Node) *Node {
	// log(1+e^x) = max(x,0) + log(1+e^-|x|), stable for large |x|.
	return Add(relu(x), Log(AddScalar(Exp(Neg(Abs(x))), 1)))
}

func leakyRelu(x *Node, alpha float64) *Node {
	return Where(positive(x), x, MulScalar(x, alpha))
}

func prelu(x, alpha *Node) *Node {
	x, alpha = broadcastRank(x, alpha)
	return Add(relu(x), Mul(alpha, MinScalar(x, 0)))
}

// unsupportedOpError is the error for a node whose op layervis lacks.
func unsupportedOpError(nd *node) error {
	return fmt.Errorf("node %q has op %s, which layervis does not support; supported ops: %s",
		nd.name, nd.op, strings.Join(SupportedOps(), ", "))
}
