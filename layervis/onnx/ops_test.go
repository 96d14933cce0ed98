package onnx

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute-onnx/support/protos"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
)

// scalarInt adds an int64 scalar initializer.
func (g *testGraph) scalarInt(v int64) string {
	name := fmt.Sprintf("init%d", len(g.inits))
	g.inits = append(g.inits, &protos.TensorProto{Name: name, DataType: int32(protos.TensorProto_INT64), Int64Data: []int64{v}})
	return name
}

// conv adds a 3→4 channel 3×3 convolution of x (padding 1): its output is
// kept in NHWC by the converter, so ops after it run on the NHWC path.
func (g *testGraph) conv() string {
	return g.op("Conv", []string{"x", g.w(4, 3, 3, 3), g.w(4)}, aInts("pads", 1, 1, 1, 1))
}

// opCase is an ONNX graph on a [2,3,6,5] input whose output this package
// must compute as onnx-gomlx does. build(g, ref) builds the graph under test
// (ref false) or the reference graph that onnx-gomlx evaluates (ref true);
// the two differ where onnx-gomlx lacks the op or attribute, and must then
// create the same initializers in the same order.
type opCase struct {
	name  string
	build func(g *testGraph, ref bool)
}

var opCases = []opCase{
	{"Conv", func(g *testGraph, _ bool) { g.conv() }},
	{"Conv/stride-asymmetric-pads", func(g *testGraph, _ bool) {
		g.op("Conv", []string{"x", g.w(5, 3, 3, 2)}, aInts("strides", 2, 1), aInts("pads", 1, 0, 2, 1))
	}},
	{"Conv/dilation", func(g *testGraph, _ bool) {
		g.op("Conv", []string{"x", g.w(5, 3, 3, 2), g.w(5)}, aInts("dilations", 2, 1), aInts("pads", 2, 0, 1, 1))
	}},
	{"Conv/grouped", func(g *testGraph, _ bool) {
		g.op("Conv", []string{g.conv(), g.w(6, 2, 3, 3), g.w(6)}, aInt("group", 2), aInts("pads", 1, 1, 1, 1))
	}},
	{"Conv/depthwise", func(g *testGraph, _ bool) {
		g.op("Conv", []string{g.conv(), g.w(4, 1, 3, 3)}, aInt("group", 4), aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1))
	}},
	{"Conv/SAME_UPPER", func(g *testGraph, ref bool) {
		w := g.w(4, 3, 3, 3)
		if ref { // H 6 → 3: pad 0+1; W 5 → 3: pad 1+1
			g.op("Conv", []string{"x", w}, aInts("strides", 2, 2), aInts("pads", 0, 1, 1, 1))
		} else {
			g.op("Conv", []string{"x", w}, aInts("strides", 2, 2), aString("auto_pad", "SAME_UPPER"))
		}
	}},
	{"Conv/SAME_LOWER", func(g *testGraph, ref bool) {
		w := g.w(4, 3, 3, 3)
		if ref {
			g.op("Conv", []string{"x", w}, aInts("strides", 2, 2), aInts("pads", 1, 1, 0, 1))
		} else {
			g.op("Conv", []string{"x", w}, aInts("strides", 2, 2), aString("auto_pad", "SAME_LOWER"))
		}
	}},
	{"MaxPool", func(g *testGraph, _ bool) {
		g.op("MaxPool", []string{g.conv()}, aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1))
	}},
	{"MaxPool/ceil_mode", func(g *testGraph, ref bool) {
		c := g.conv()
		if ref { // H 6: ceil((6-3)/2)+1 = 3 windows, the last one padded by 1
			g.op("MaxPool", []string{c}, aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInts("pads", 0, 0, 1, 0))
		} else {
			g.op("MaxPool", []string{c}, aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInt("ceil_mode", 1))
		}
	}},
	{"AveragePool", func(g *testGraph, _ bool) {
		g.op("AveragePool", []string{g.conv()}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2))
	}},
	{"AveragePool/pads", func(g *testGraph, ref bool) {
		attrs := []*protos.AttributeProto{aInts("kernel_shape", 3, 3), aInts("pads", 1, 1, 1, 1)}
		if ref { // onnx-gomlx defaults strides to the window, ONNX to 1
			attrs = append(attrs, aInts("strides", 1, 1))
		}
		g.op("AveragePool", []string{g.conv()}, attrs...)
	}},
	{"AveragePool/count_include_pad", func(g *testGraph, ref bool) {
		c := g.conv()
		if ref {
			p := g.op("Pad", []string{c, g.ints(0, 0, 1, 1, 0, 0, 1, 1)})
			g.op("AveragePool", []string{p}, aInts("kernel_shape", 3, 3), aInts("strides", 2, 2))
		} else {
			g.op("AveragePool", []string{c}, aInts("kernel_shape", 3, 3), aInts("strides", 2, 2),
				aInts("pads", 1, 1, 1, 1), aInt("count_include_pad", 1))
		}
	}},
	{"GlobalAveragePool", func(g *testGraph, _ bool) { g.op("GlobalAveragePool", []string{g.conv()}) }},
	{"GlobalMaxPool", func(g *testGraph, ref bool) {
		if ref {
			g.op("ReduceMax", []string{g.conv()}, aInts("axes", 2, 3), aInt("keepdims", 1))
		} else {
			g.op("GlobalMaxPool", []string{g.conv()})
		}
	}},
	{"BatchNormalization/4D", func(g *testGraph, _ bool) {
		g.op("BatchNormalization", []string{g.conv(), g.w(4), g.w(4), g.w(4), g.f([]int{4}, 0.5, 1, 1.5, 2)}, aFloat("epsilon", 1e-3))
	}},
	{"BatchNormalization/2D", func(g *testGraph, _ bool) {
		flat := g.op("Flatten", []string{g.op("GlobalAveragePool", []string{g.conv()})})
		g.op("BatchNormalization", []string{flat, g.w(4), g.w(4), g.w(4), g.f([]int{4}, 0.5, 1, 1.5, 2)})
	}},
	{"Relu", func(g *testGraph, _ bool) { g.op("Relu", []string{g.conv()}) }},
	{"Sigmoid", func(g *testGraph, _ bool) { g.op("Sigmoid", []string{g.conv()}) }},
	{"Tanh", func(g *testGraph, _ bool) { g.op("Tanh", []string{g.conv()}) }},
	{"HardSwish", func(g *testGraph, _ bool) { g.op("HardSwish", []string{g.conv()}) }},
	{"Clip", func(g *testGraph, _ bool) { g.op("Clip", []string{g.conv(), g.f(nil, -0.5), g.f(nil, 0.7)}) }},
	{"Clip/max-only", func(g *testGraph, _ bool) { g.op("Clip", []string{g.conv(), "", g.f(nil, 0.7)}) }},
	{"LeakyRelu", func(g *testGraph, ref bool) {
		c := g.conv()
		if ref {
			g.op("Max", []string{c, g.op("Mul", []string{c, g.f(nil, 0.1)})})
		} else {
			g.op("LeakyRelu", []string{c}, aFloat("alpha", 0.1))
		}
	}},
	{"HardSigmoid", func(g *testGraph, ref bool) {
		c := g.conv()
		if ref {
			y := g.op("Add", []string{g.op("Mul", []string{c, g.f(nil, 0.3)}), g.f(nil, 0.4)})
			g.op("Clip", []string{y, g.f(nil, 0), g.f(nil, 1)})
		} else {
			g.op("HardSigmoid", []string{c}, aFloat("alpha", 0.3), aFloat("beta", 0.4))
		}
	}},
	{"Elu", func(g *testGraph, ref bool) {
		c := g.conv()
		if ref {
			neg := g.op("Mul", []string{g.op("Sub", []string{g.op("Exp", []string{c}), g.f(nil, 1)}), g.f(nil, 0.7)})
			g.op("Where", []string{g.op("Greater", []string{c, g.f(nil, 0)}), c, neg})
		} else {
			g.op("Elu", []string{c}, aFloat("alpha", 0.7))
		}
	}},
	{"PRelu", func(g *testGraph, ref bool) {
		c, slope := g.conv(), g.w(4, 1, 1)
		if ref {
			g.op("Where", []string{g.op("Greater", []string{c, g.f(nil, 0)}), c, g.op("Mul", []string{c, slope})})
		} else {
			g.op("PRelu", []string{c, slope})
		}
	}},
	{"Softplus", func(g *testGraph, ref bool) {
		c := g.conv()
		if ref {
			g.op("Log", []string{g.op("Add", []string{g.op("Exp", []string{c}), g.f(nil, 1)})})
		} else {
			g.op("Softplus", []string{c})
		}
	}},
	{"Dropout+Identity", func(g *testGraph, ref bool) {
		c := g.conv()
		if !ref {
			c = g.op("Identity", []string{g.op("Dropout", []string{c})})
		}
		g.op("Relu", []string{c})
	}},
	{"Cast", func(g *testGraph, _ bool) {
		g.op("Cast", []string{g.conv()}, aInt("to", int64(protos.TensorProto_FLOAT)))
	}},
	{"Add/[C,1,1]", func(g *testGraph, _ bool) { g.op("Add", []string{g.conv(), g.w(4, 1, 1)}) }},
	{"Mul/[1,C,1,1]", func(g *testGraph, _ bool) { g.op("Mul", []string{g.w(1, 4, 1, 1), g.conv()}) }},
	{"Div/[W]", func(g *testGraph, _ bool) {
		g.op("Div", []string{g.conv(), g.f([]int{5}, 1, 2, 3, 4, 5)})
	}},
	{"Sub/scalar", func(g *testGraph, _ bool) { g.op("Sub", []string{g.conv(), g.f(nil, 0.25)}) }},
	{"Sub/NCHW-NHWC", func(g *testGraph, _ bool) {
		g.op("Sub", []string{g.op("Transpose", []string{g.op("Transpose", []string{"x"}, aInts("perm", 0, 2, 3, 1))}, aInts("perm", 0, 3, 1, 2)),
			g.op("Conv", []string{"x", g.w(3, 3, 1, 1)})})
	}},
	{"Pow", func(g *testGraph, _ bool) { g.op("Pow", []string{g.op("Sigmoid", []string{g.conv()}), g.f(nil, 2.5)}) }},
	{"Max/variadic", func(g *testGraph, _ bool) {
		c := g.conv()
		g.op("Max", []string{c, g.op("Neg", []string{c}), g.w(4, 1, 1)})
	}},
	{"Sum", func(g *testGraph, ref bool) {
		c, w := g.conv(), g.w(5)
		if ref {
			g.op("Add", []string{g.op("Add", []string{c, c}), w})
		} else {
			g.op("Sum", []string{c, c, w})
		}
	}},
	{"Concat/NHWC", func(g *testGraph, _ bool) {
		g.op("Concat", []string{g.conv(), g.conv()}, aInt("axis", 1))
	}},
	{"Concat/mixed-layouts", func(g *testGraph, _ bool) {
		g.op("Concat", []string{g.conv(), "x"}, aInt("axis", -3))
	}},
	{"Concat/width", func(g *testGraph, _ bool) {
		g.op("Concat", []string{g.conv(), g.conv()}, aInt("axis", 3))
	}},
	{"Flatten+Gemm+Softmax", func(g *testGraph, _ bool) {
		flat := g.op("Flatten", []string{g.op("GlobalAveragePool", []string{g.conv()})})
		y := g.op("Gemm", []string{flat, g.w(10, 4), g.w(10)}, aInt("transB", 1), aFloat("alpha", 0.5), aFloat("beta", 2))
		g.op("Softmax", []string{y}, aInt("axis", 1))
	}},
	{"Flatten/NHWC", func(g *testGraph, _ bool) { g.op("Flatten", []string{g.conv()}) }},
	{"Flatten/axis2", func(g *testGraph, _ bool) { g.op("Flatten", []string{g.conv()}, aInt("axis", 2)) }},
	{"MatMul", func(g *testGraph, _ bool) { g.op("MatMul", []string{g.op("Flatten", []string{g.conv()}), g.w(120, 7)}) }},
	{"Reshape/shape-computation", func(g *testGraph, _ bool) {
		c := g.conv()
		n := g.op("Unsqueeze", []string{g.op("Gather", []string{g.op("Shape", []string{c}), g.scalarInt(0)}), g.ints(0)})
		g.op("Reshape", []string{c, g.op("Concat", []string{n, g.ints(-1)}, aInt("axis", 0))})
	}},
	{"Reshape/zero", func(g *testGraph, _ bool) { g.op("Reshape", []string{g.conv(), g.ints(0, 0, -1)}) }},
	{"Transpose/to-NHWC", func(g *testGraph, _ bool) { g.op("Transpose", []string{g.conv()}, aInts("perm", 0, 2, 3, 1)) }},
	{"Transpose", func(g *testGraph, _ bool) { g.op("Transpose", []string{g.conv()}, aInts("perm", 0, 3, 2, 1)) }},
	{"ReduceMean/C", func(g *testGraph, _ bool) {
		g.op("ReduceMean", []string{g.conv()}, aInts("axes", 1), aInt("keepdims", 0))
	}},
	{"ReduceMean/HW-keepdims", func(g *testGraph, _ bool) {
		g.op("ReduceMean", []string{g.conv()}, aInts("axes", 2, -1))
	}},
	{"ReduceMean/NH", func(g *testGraph, _ bool) {
		g.op("ReduceMean", []string{g.conv()}, aInts("axes", 0, 2), aInt("keepdims", 0))
	}},
	{"ReduceMax/W", func(g *testGraph, _ bool) {
		g.op("ReduceMax", []string{g.conv()}, aInts("axes", 3), aInt("keepdims", 0))
	}},
	{"ReduceMin/C-H", func(g *testGraph, _ bool) {
		g.op("ReduceMin", []string{g.conv()}, aInts("axes", 1, 2))
	}},
	{"ReduceSum/axes-input", func(g *testGraph, _ bool) {
		g.op("ReduceSum", []string{g.conv(), g.ints(1)})
	}},
	{"Pad", func(g *testGraph, _ bool) {
		g.op("Pad", []string{g.conv(), g.ints(0, 0, 1, 2, 0, 0, 2, 1), g.f(nil, 0.5)})
	}},
	{"Slice", func(g *testGraph, _ bool) {
		g.op("Slice", []string{g.conv(), g.ints(1, 0), g.ints(3, 100), g.ints(1, 3), g.ints(1, 2)})
	}},
	{"Slice/negative", func(g *testGraph, _ bool) {
		g.op("Slice", []string{g.conv(), g.ints(-3), g.ints(-1), g.ints(2)})
	}},
	{"Split", func(g *testGraph, _ bool) {
		c := g.conv()
		g.nodes = append(g.nodes, &protos.NodeProto{OpType: "Split", Name: "/split/Split", Input: []string{c, g.ints(1, 3)},
			Output: []string{"/split/a", "/split/b"}, Attribute: []*protos.AttributeProto{aInt("axis", 1)}})
		g.op("Relu", []string{"/split/b"})
	}},
	{"Squeeze+Unsqueeze", func(g *testGraph, _ bool) {
		s := g.op("Squeeze", []string{g.op("GlobalAveragePool", []string{g.conv()}), g.ints(2, 3)})
		g.op("Unsqueeze", []string{s, g.ints(1)})
	}},
	{"Exp+Log+Sqrt+Abs+Reciprocal+Erf", func(g *testGraph, _ bool) {
		c := g.conv()
		pos := g.op("Add", []string{g.op("Abs", []string{c}), g.f(nil, 0.5)})
		y := g.op("Add", []string{g.op("Log", []string{pos}), g.op("Sqrt", []string{pos})})
		y = g.op("Add", []string{y, g.op("Reciprocal", []string{pos})})
		g.op("Add", []string{g.op("Erf", []string{y}), g.op("Exp", []string{g.op("Neg", []string{pos})})})
	}},
	{"Min/variadic", func(g *testGraph, _ bool) {
		c := g.conv()
		g.op("Min", []string{c, g.w(4, 1, 1), g.op("Relu", []string{c})})
	}},
	{"Selu", func(g *testGraph, ref bool) {
		c := g.conv()
		if ref {
			neg := g.op("Mul", []string{g.op("Sub", []string{g.op("Exp", []string{c}), g.f(nil, 1)}), g.f(nil, 1.5)})
			g.op("Mul", []string{g.op("Where", []string{g.op("Greater", []string{c, g.f(nil, 0)}), c, neg}), g.f(nil, 1.25)})
		} else {
			g.op("Selu", []string{c}, aFloat("alpha", 1.5), aFloat("gamma", 1.25))
		}
	}},
	{"LogSoftmax", func(g *testGraph, ref bool) {
		flat := g.op("Flatten", []string{g.conv()})
		if ref {
			g.op("Log", []string{g.op("Softmax", []string{flat}, aInt("axis", 1))})
		} else {
			g.op("LogSoftmax", []string{flat}, aInt("axis", 1))
		}
	}},
	{"LRN", func(g *testGraph, ref bool) {
		c := g.conv()
		if !ref {
			g.op("LRN", []string{c}, aInt("size", 3), aFloat("alpha", 0.3), aFloat("beta", 0.6), aFloat("bias", 1.5))
			return
		}
		// x / (1.5 + 0.3/3 · Σ x²)^0.6 over channels c−1 … c+1.
		sq := g.op("Pad", []string{g.op("Mul", []string{c, c}), g.ints(0, 1, 0, 0, 0, 1, 0, 0)})
		var sum string
		for i := range int64(3) {
			s := g.op("Slice", []string{sq, g.ints(i), g.ints(i + 4), g.ints(1)})
			if sum == "" {
				sum = s
			} else {
				sum = g.op("Add", []string{sum, s})
			}
		}
		den := g.op("Add", []string{g.op("Mul", []string{sum, g.f(nil, 0.1)}), g.f(nil, 1.5)})
		g.op("Div", []string{c, g.op("Pow", []string{den, g.f(nil, 0.6)})})
	}},
	{"Constant", func(g *testGraph, ref bool) {
		k := g.op("Constant", nil, &protos.AttributeProto{Name: "value", Type: protos.AttributeProto_TENSOR,
			T: &protos.TensorProto{DataType: int32(protos.TensorProto_FLOAT), Dims: []int64{4, 1, 1}, FloatData: []float32{1, -2, 3, -4}}})
		var s string
		if ref { // onnx-gomlx reads only Constant's "value"
			s = g.ints(2, 4, -1)
		} else {
			s = g.op("Constant", nil, &protos.AttributeProto{Name: "value_ints", Type: protos.AttributeProto_INTS, Ints: []int64{2, 4, -1}})
		}
		g.op("Reshape", []string{g.op("Mul", []string{g.conv(), k}), s})
	}},
	{"ConstantOfShape+Size", func(g *testGraph, _ bool) {
		c := g.conv()
		fill := g.op("ConstantOfShape", []string{g.op("Shape", []string{c})}, &protos.AttributeProto{Name: "value", Type: protos.AttributeProto_TENSOR,
			T: &protos.TensorProto{DataType: int32(protos.TensorProto_FLOAT), Dims: []int64{1}, FloatData: []float32{0.5}}})
		flat := g.op("Unsqueeze", []string{g.op("Size", []string{c}), g.ints(0)})
		g.op("Reshape", []string{g.op("Add", []string{c, fill}), flat})
	}},
	{"Gather/scalar", func(g *testGraph, _ bool) { g.op("Gather", []string{g.conv(), g.scalarInt(2)}, aInt("axis", 1)) }},
	{"Gather/list", func(g *testGraph, _ bool) { g.op("Gather", []string{g.conv(), g.ints(3, 0)}, aInt("axis", 3)) }},
}

// TestOps checks each op against onnx-gomlx's converter on a small graph.
func TestOps(t *testing.T) {
	b := backend.MustGet()
	x := randomInput(3, 2, 3, 6, 5)
	for _, tc := range opCases {
		t.Run(tc.name, func(t *testing.T) {
			g, rg := newTestGraph(2, 3, 6, 5), newTestGraph(2, 3, 6, 5)
			tc.build(g, false)
			tc.build(rg, true)
			m, err := Load(g.file(t))
			if err != nil {
				t.Fatal(err)
			}
			got, err := cnn.Activations(b, m, x, g.out)
			if err != nil {
				t.Fatal(err)
			}
			want := gomlxReference(t, rg.bytes(t), x, rg.out)
			if e := relErr(t, tc.name, got[0], want); e > 1e-5 {
				t.Errorf("relative error %.3g vs onnx-gomlx", e)
			}
		})
	}
}

// TestOpsCoverage checks that every supported op is exercised by opCases.
func TestOpsCoverage(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range opCases {
		g := newTestGraph(2, 3, 6, 5)
		tc.build(g, false)
		for _, n := range g.nodes {
			seen[n.OpType] = true
		}
	}
	var missing []string
	for _, op := range SupportedOps() {
		if !seen[op] {
			missing = append(missing, op)
		}
	}
	if len(missing) > 0 {
		t.Errorf("supported ops without a test: %s", strings.Join(missing, ", "))
	}
	if !slices.IsSorted(SupportedOps()) {
		t.Error("SupportedOps is not sorted")
	}
}

// TestSeparable checks which op cases Separable calls per image (TestOps
// then builds them in parts where the backend runs branches, and compares
// them with onnx-gomlx), and that the torchvision exports' probes are.
func TestSeparable(t *testing.T) {
	perImage := map[string]bool{
		"Conv": true, "Conv/depthwise": true, "MaxPool/ceil_mode": true, "GlobalAveragePool": true,
		"BatchNormalization/4D": true, "HardSwish": true, "PRelu": true, "Add/[C,1,1]": true, "Sum": true,
		"Concat/NHWC": true, "Flatten+Gemm+Softmax": true, "ReduceMean/C": true, "ReduceMax/W": true, "LRN": true, "LogSoftmax": true,
		// Mixing images, or taken as mixing by the conservative rule (negative axes).
		"Flatten/axis2": false, "MatMul": false, "Reshape/shape-computation": false, "Transpose": false,
		"ReduceMean/NH": false, "ReduceMean/HW-keepdims": false, "ReduceSum/axes-input": false, "Pad": false, "Slice": false, "Split": false,
		"Squeeze+Unsqueeze": false, "Constant": false, "Gather/list": false,
	}
	seen := 0
	for _, tc := range opCases {
		want, ok := perImage[tc.name]
		if !ok {
			continue
		}
		seen++
		g := newTestGraph(2, 3, 6, 5)
		tc.build(g, false)
		m, err := Load(g.file(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Separable(g.out); got != want {
			t.Errorf("%s: Separable = %v, want %v", tc.name, got, want)
		}
	}
	if seen != len(perImage) {
		t.Errorf("%d of the %d cases named here are op cases", seen, len(perImage))
	}
	dir := exports(t)
	for _, name := range []string{"resnet18", "ops"} {
		man := readManifest(t, dir, name)
		m, err := Load(filepath.Join(dir, name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range man.Probes {
			if !m.Separable(p.Layer) {
				t.Errorf("%s: Separable(%q) = false, want true", name, p.Layer)
			}
		}
	}
}
