package tfjs

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/pyref"
)

// handModel is a 4×4, 2-channel model whose outputs are computed by hand in
// TestHandComputed: float16 kernels, uint8-quantized biases, SAME stride-2
// padding (asymmetric: 1 pixel after, none before), hard-swish-like
// element-wise ops.
func handModel(t testing.TB) string {
	var s synth
	s.placeholder("x", 1, 4, 4, 2)
	// Depthwise kernel [3,3,2,1]: channel 0 taps 0.25, channel 1 taps 1.
	dw := make([]float32, 18)
	for i := range 9 {
		dw[2*i], dw[2*i+1] = 0.25, 1
	}
	s.constF("dw", "float16", []int{3, 3, 2, 1}, dw)
	s.constQ("bias", []int{2}, []byte{4, 2}, -1, 0.5) // 4·0.5−1 = 1, 2·0.5−1 = 0
	s.node("dconv", "FusedDepthwiseConv2dNative", []string{"x", "dw", "bias"}, convAttr(2, "SAME", "BiasAdd"))
	// The same taps as a [3,3,2,1] Conv2D kernel sum both channels.
	s.constF("k", "float16", []int{3, 3, 2, 1}, dw)
	s.node("conv", "Conv2D", []string{"x", "k"}, convAttr(2, "SAME"))
	s.constF("c", "float32", nil, []float32{-22})
	s.node("add", "AddV2", []string{"conv", "c"}, nil)
	s.node("relu6", "Relu6", []string{"add"}, nil)
	s.constQ("two", nil, []byte{6}, -1, 0.5) // 6·0.5−1 = 2
	s.node("mul", "Mul", []string{"two", "relu6"}, nil)
	return s.write(t)
}

func TestHandComputed(t *testing.T) {
	m, err := Load(handModel(t))
	if err != nil {
		t.Fatal(err)
	}
	// Channel 0 holds 1..16 row by row, channel 1 is all ones.
	x := make([]float32, 32)
	for i := range 16 {
		x[2*i], x[2*i+1] = float32(i+1), 1
	}
	got := activations(t, m, x, [4]int{1, 4, 4, 2}, "dconv", "conv", "mul")
	// SAME, k=3, s=2 over 4 pixels: 2 outputs, 1 pixel of padding after.
	// Windows: rows/cols {0,1,2} and {2,3}.
	// Channel 0, ×0.25: (1+2+3+5+6+7+9+10+11)/4 = 13.5, (3+4+7+8+11+12)/4 = 11.25,
	// (9+10+11+13+14+15)/4 = 18, (11+12+15+16)/4 = 13.5; bias 1.
	// Channel 1, ×1: pixels per window 9, 6, 6, 4; bias 0.
	cases := []struct {
		layer string
		want  []float32 // NCHW
	}{
		{"dconv", []float32{14.5, 12.25, 19, 14.5, 9, 6, 6, 4}},
		{"conv", []float32{22.5, 17.25, 24, 17.5}},
		// 2·relu6(conv − 22): 2·0.5, 2·0, 2·2, 0.
		{"mul", []float32{1, 0, 4, 0}},
	}
	for i, tc := range cases {
		data, err := tensors.CopyFlatData[float32](got[i])
		if err != nil {
			t.Fatal(err)
		}
		for j := range tc.want {
			if math.Abs(float64(data[j]-tc.want[j])) > 1e-5 {
				t.Errorf("%s = %v, want %v", tc.layer, data, tc.want)
				break
			}
		}
	}
}

// opsModel is a graph using every supported op, on an 8×8×3 input.
func opsModel(t testing.TB, rng *rand.Rand) (path string, layers []string) {
	var s synth
	r := func(n int, scale float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = (rng.Float32()*2 - 1) * scale
		}
		return v
	}
	s.placeholder("x", 1, 8, 8, 3)
	s.constF("w1", "float16", []int{3, 3, 3, 4}, r(108, 0.5))
	s.constF("b1", "uint8", []int{4}, r(4, 1))
	s.node("c1", "_FusedConv2D", []string{"x", "w1", "b1"}, convAttr(2, "SAME", "BiasAdd", "Relu6"))
	s.constF("wd", "uint8", []int{3, 3, 4, 1}, r(36, 1))
	s.constF("bd", "float32", []int{4}, r(4, 1))
	s.node("d1", "FusedDepthwiseConv2dNative", []string{"c1", "wd", "bd"}, convAttr(1, "SAME", "BiasAdd", "Relu"))
	s.constF("wd2", "float16", []int{3, 3, 3, 2}, r(54, 1))
	s.node("d2", "DepthwiseConv2dNative", []string{"x", "wd2"}, convAttr(2, "SAME"))
	s.constF("w2", "uint16", []int{5, 5, 3, 2}, r(150, 0.3))
	s.node("c2", "Conv2D", []string{"x", "w2"}, convAttr(2, "SAME"))
	s.node("c3", "Conv2D", []string{"x", "w2"}, convAttr(1, "VALID"))
	dil := convAttr(1, "SAME")
	dil["dilations"] = aInts(1, 2, 2, 1)
	s.node("c4", "Conv2D", []string{"x", "w1"}, dil)
	ex := convAttr(1, "EXPLICIT")
	ex["explicit_paddings"] = aInts(0, 0, 2, 0, 1, 1, 0, 0)
	s.node("c5", "Conv2D", []string{"x", "w1"}, ex)
	s.constF("w6", "float32", []int{1, 1, 3, 4}, r(12, 1))
	s.constF("b6", "float32", []int{4}, r(4, 1))
	s.node("c6", "_FusedConv2D", []string{"x", "w6", "b6"}, convAttr(2, "SAME", "BiasAdd", "Elu"))
	lk := convAttr(1, "VALID", "BiasAdd", "LeakyRelu")
	lk["leakyrelu_alpha"] = aF(0.1)
	s.node("c7", "_FusedConv2D", []string{"x", "w6", "b6"}, lk)

	// Hard swish, squeeze-excite, concatenation, resizing.
	s.constF("three", "float16", nil, []float32{3})
	s.constF("sixth", "float16", nil, []float32{1.0 / 6})
	s.node("hs_add", "Add", []string{"c1", "three"}, nil)
	s.node("hs_r6", "Relu6", []string{"hs_add"}, nil)
	s.node("hs_mul", "Mul", []string{"sixth", "c1"}, nil)
	s.node("hs", "Mul", []string{"hs_mul", "hs_r6"}, nil)
	s.constI("axes12", []int{2}, 1, 2)
	s.node("se_mean", "Mean", []string{"d1", "axes12"}, map[string]any{"keep_dims": aB(true)})
	s.node("se_sig", "Sigmoid", []string{"se_mean"}, nil)
	s.node("se", "Mul", []string{"d1", "se_sig"}, nil)
	s.constI("axis3", nil, 3)
	s.node("cat", "ConcatV2", []string{"hs", "d2", "se", "axis3"}, map[string]any{"N": aI(3)})
	s.constI("s8", []int{2}, 8, 8)
	s.constI("s6", []int{2}, 6, 7)
	s.node("up", "ResizeBilinear", []string{"cat", "s8"}, map[string]any{"align_corners": aB(false), "half_pixel_centers": aB(false)})
	s.node("up_half", "ResizeBilinear", []string{"cat", "s6"}, map[string]any{"half_pixel_centers": aB(true)})
	s.node("up_align", "ResizeBilinear", []string{"cat", "s6"}, map[string]any{"align_corners": aB(true)})
	s.node("up_legacy", "ResizeBilinear", []string{"cat", "s6"}, nil)
	s.node("up_nn", "ResizeNearestNeighbor", []string{"cat", "s6"}, nil)
	s.node("up_nn_half", "ResizeNearestNeighbor", []string{"cat", "s8"}, map[string]any{"half_pixel_centers": aB(true)})

	// Pooling, padding, batch norm.
	pool := map[string]any{"ksize": aInts(1, 3, 3, 1), "strides": aInts(1, 2, 2, 1), "padding": aS("SAME"), "data_format": aS("NHWC")}
	s.node("maxpool", "MaxPool", []string{"x"}, pool)
	s.node("avgpool", "AvgPool", []string{"x"}, pool)
	s.constI("pads", []int{4, 2}, 0, 0, 1, 2, 2, 1, 0, 0)
	s.node("pad", "Pad", []string{"x", "pads"}, nil)
	s.constF("padval", "float32", nil, []float32{-0.5})
	s.node("padv2", "PadV2", []string{"x", "pads", "padval"}, nil)
	s.constF("bn_scale", "float32", []int{2}, []float32{1.5, -0.5})
	s.constF("bn_offset", "float32", []int{2}, []float32{0.25, 0.1})
	s.constF("bn_mean", "float32", []int{2}, []float32{0.2, -0.3})
	s.constF("bn_var", "float32", []int{2}, []float32{0.5, 2})
	for _, op := range []string{"FusedBatchNorm", "FusedBatchNormV2"} {
		s.node(strings.ToLower(op), op, []string{"c2", "bn_scale", "bn_offset", "bn_mean", "bn_var"},
			map[string]any{"epsilon": aF(0.01), "is_training": aB(false)})
	}
	s.node("bn", "FusedBatchNormV3", []string{"c2", "bn_scale", "bn_offset", "bn_mean", "bn_var"},
		map[string]any{"epsilon": aF(0.001), "is_training": aB(false), "data_format": aS("NHWC")})

	// Element-wise.
	s.constF("half", "float32", []int{2}, []float32{0.5, -2})
	for _, op := range []string{"Relu", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Neg", "Abs", "Square", "Exp"} {
		s.node(strings.ToLower(op), op, []string{"c2"}, nil)
	}
	s.node("leaky", "LeakyRelu", []string{"c2"}, map[string]any{"alpha": aF(0.3)})
	s.node("sub", "Sub", []string{"c2", "half"}, nil)
	s.node("div", "RealDiv", []string{"c2", "half"}, nil)
	s.node("maximum", "Maximum", []string{"c2", "half"}, nil)
	s.node("minimum", "Minimum", []string{"half", "c2"}, nil)
	s.node("biasadd", "BiasAdd", []string{"c2", "half"}, map[string]any{"data_format": aS("NHWC")})
	s.node("sq1", "AddV2", []string{"square", "half"}, nil)
	s.node("absp", "AddV2", []string{"abs", "half"}, nil)
	s.node("sqabs", "Maximum", []string{"absp", "half"}, nil) // ≥ 0.5
	s.node("rsqrt", "Rsqrt", []string{"sqabs"}, nil)
	s.node("sqrt", "Sqrt", []string{"sqabs"}, nil)
	s.node("log", "Log", []string{"sqabs"}, nil)
	s.node("addn", "AddN", []string{"c2", "sub", "div"}, map[string]any{"N": aI(3)})
	s.node("prelu", "Prelu", []string{"c2", "half"}, nil)

	// Shapes and the classifier end.
	s.node("gap", "Mean", []string{"hs", "axes12"}, map[string]any{"keep_dims": aB(false)})
	s.constF("wm", "float16", []int{4, 5}, r(20, 1))
	s.constF("bm", "float32", []int{5}, r(5, 1))
	s.node("matmul", "MatMul", []string{"gap", "wm"}, nil)
	s.constF("wmt", "float32", []int{5, 4}, r(20, 1))
	s.node("matmul_t", "MatMul", []string{"gap", "wmt"}, map[string]any{"transpose_b": aB(true)})
	fm := map[string]any{"fused_ops": aStrs("BiasAdd", "Relu"), "num_args": aI(1)}
	s.node("fmatmul", "_FusedMatMul", []string{"gap", "wm", "bm"}, fm)
	s.node("softmax", "Softmax", []string{"matmul"}, nil)
	s.constI("axis_1", nil, -1)
	s.node("sum", "Sum", []string{"hs", "axis_1"}, map[string]any{"keep_dims": aB(true)})
	s.node("max", "Max", []string{"hs", "axes12"}, nil)
	s.node("min", "Min", []string{"hs", "axis_1"}, nil)
	s.constI("shape", []int{2}, 1, -1)
	s.node("reshape", "Reshape", []string{"hs", "shape"}, nil)
	s.constI("perm", []int{4}, 0, 3, 1, 2)
	s.node("transpose", "Transpose", []string{"hs", "perm"}, nil)
	s.node("gap4", "Mean", []string{"hs", "axes12"}, map[string]any{"keep_dims": aB(true)})
	s.node("squeeze", "Squeeze", []string{"gap4"}, map[string]any{"squeeze_dims": aInts(1, 2)})
	s.node("expand", "ExpandDims", []string{"squeeze", "axis_1"}, nil)
	s.node("identity", "Identity", []string{"expand"}, nil)

	for _, n := range s.nodes {
		if op := n["op"].(string); op != "Const" && op != "Placeholder" {
			layers = append(layers, n["name"].(string))
		}
	}
	return s.write(t), layers
}

// TestOpsMatchTFJS compares every supported op (with float16, uint8 and
// uint16 weights) with TensorFlow.js.
func TestOpsMatchTFJS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	path, layers := opsModel(t, rng)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Names(); len(got) != len(layers)+1 { // + the input
		t.Errorf("%d layers, want %d: %v", len(got), len(layers)+1, got)
	}
	covered := map[string]bool{"Const": true, "Placeholder": true}
	for _, l := range layers {
		covered[m.g.nodes[m.g.index[l]].op] = true
	}
	for _, op := range SupportedOps() {
		if !covered[op] {
			t.Errorf("op %s is not covered by the test model", op)
		}
	}
	dims := [4]int{1, 8, 8, 3}
	x := make([]float32, 8*8*3)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	want, wantShapes := runTFJS(t, path, x, dims, layers...)
	got := activations(t, m, x, dims, layers...)
	for k, l := range layers {
		g, shape := toNHWC(t, got[k])
		if !slices.Equal(shape, wantShapes[k]) {
			t.Errorf("%s: shape %v, TF.js %v", l, shape, wantShapes[k])
			continue
		}
		if e := pyref.RelErr(g, want[k]); e > 1e-5 {
			t.Errorf("%s (%s): relative error %.2g vs TF.js", l, m.g.nodes[m.g.index[l]].op, e)
		}
	}
}

func TestCatalogue(t *testing.T) {
	var s synth
	s.placeholder("x", 1, -1, -1, 3)
	s.constF("w", "float32", []int{1, 1, 3, 2}, []float32{1, 0, 0, 1, 1, 1})
	s.node("conv", "Conv2D", []string{"x", "w"}, convAttr(1, "VALID"))
	s.node("relu", "Relu", []string{"conv"}, nil)
	s.node("wid", "Identity", []string{"w"}, nil) // a constant, not a layer
	s.node("cast", "Cast", []string{"relu"}, nil) // unsupported
	s.node("after", "Relu", []string{"cast"}, nil)
	s.constF("k", "float32", nil, []float32{2})
	s.node("side", "Mul", []string{"conv", "k"}, nil)
	m, err := LoadWith(s.write(t), Options{Name: "tiny", Labels: map[string][]string{"relu": {"a", "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Names(), []string{"x", "conv", "relu", "side"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if in := m.Input(); in.Channels != 3 || in.Size != 224 || in.Range != [2]float32{0, 1} {
		t.Errorf("Input() = %+v", in)
	}
	ls, err := m.Layers(5, 6)
	if err != nil {
		t.Fatal(err)
	}
	if l := ls[2]; l.Name != "relu" || l.Kind != "Relu" || !slices.Equal(l.Shape, []int{2, 5, 6}) || !slices.Equal(l.Labels, []string{"a", "b"}) {
		t.Errorf("Layers()[2] = %+v", l)
	}
	for _, tc := range []struct {
		name string
		has  bool
		msg  string // part of LayerError
	}{
		{"relu", true, ""},
		{"relu:in", true, ""},
		{"conv:in", true, ""},
		{"x:in", false, "no input that depends on the image"},
		{"after", false, `node "cast" has op Cast`},
		{"cast", false, "supported ops: Abs, Add"},
		{"wid", false, "does not depend on the input"},
		{"rellu", false, `no layer "rellu"; closest: relu`},
	} {
		err := m.LayerError(tc.name)
		if m.Has(tc.name) != tc.has || (err == nil) != tc.has {
			t.Errorf("Has(%q) = %v, LayerError = %v; want %v", tc.name, m.Has(tc.name), err, tc.has)
		}
		if err != nil && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("LayerError(%q) = %q, want it to mention %q", tc.name, err, tc.msg)
		}
	}
	// "relu:in" is conv's output.
	x := []float32{1, -2, 3, -1, -1, -1}
	out := activations(t, m, x, [4]int{1, 1, 2, 3}, "relu:in", "relu", "conv")
	// conv: pixel (1,−2,3) → (1+3, −2+3), pixel (−1,−1,−1) → (−2, −2).
	for k, want := range [][]float32{{4, -2, 1, -2}, {4, 0, 1, 0}, {4, -2, 1, -2}} {
		got, _ := tensors.CopyFlatData[float32](out[k])
		if !slices.Equal(got, want) {
			t.Errorf("output %d = %v, want %v (NCHW)", k, got, want)
		}
	}
	// Building panics with the layer error.
	func() {
		defer func() {
			r := recover()
			if err, ok := r.(error); !ok || !strings.Contains(err.Error(), "Cast") {
				t.Errorf("Build(after) panicked with %v, want the unsupported-op error", r)
			}
		}()
		g := graph.NewGraph(backend.MustGet(), "t")
		defer g.Finalize()
		model.SetStore(g, m.Store())
		m.Build(graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 3, 4, 4)), "after")
	}()
}

// TestBuildOnlyNeeded checks that Build adds only the nodes the requested
// layers need: an early layer's graph is much smaller than a late one's,
// and both run on the pure-Go backend (which fails on unused nodes).
func TestBuildOnlyNeeded(t *testing.T) {
	path, _ := opsModel(t, rand.New(rand.NewPCG(3, 4)))
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	count := func(layers ...string) int {
		g := graph.NewGraph(backend.MustGet(), "count")
		defer g.Finalize()
		model.SetStore(g, m.Store())
		m.Build(graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 3, 8, 8)), layers...)
		return len(g.Nodes())
	}
	early, late, both := count("c1"), count("softmax"), count("c1", "softmax")
	if early >= late || both > late+2 {
		t.Errorf("graph nodes: c1 %d, softmax %d, both %d; want c1 < softmax and both ≈ softmax", early, late, both)
	}
	x := make([]float32, 8*8*3)
	for _, l := range []string{"c1", "up", "softmax", "x"} {
		activations(t, m, x, [4]int{1, 8, 8, 3}, l)
	}
}

func TestBatchAndSizes(t *testing.T) {
	path, _ := opsModel(t, rand.New(rand.NewPCG(5, 6)))
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// A batch of two equals two runs of one, resize and reshape included.
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 2*16*16*3)
	for i := range x {
		x[i] = rng.Float32()
	}
	layers := []string{"up", "reshape", "softmax"}
	pair := activations(t, m, x, [4]int{2, 16, 16, 3}, layers...)
	for n := range 2 {
		one := activations(t, m, x[n*16*16*3:(n+1)*16*16*3], [4]int{1, 16, 16, 3}, layers...)
		for k, l := range layers {
			all, _ := tensors.CopyFlatData[float32](pair[k])
			single, _ := tensors.CopyFlatData[float32](one[k])
			part := all[n*len(single) : (n+1)*len(single)]
			if e := pyref.RelErr(part, single); e > 1e-6 {
				t.Errorf("%s: image %d of a batch differs from a single run by %g", l, n, e)
			}
		}
	}
	// The 8×8 model's resize to a constant 8×8 scales with the input.
	shapes, err := cnn.Shapes(backend.MustGet(), m, 16, 16, "up", "up_half")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shapes[0], []int{14, 16, 16}) || !slices.Equal(shapes[1], []int{14, 12, 14}) {
		t.Errorf("resize shapes at 16x16: %v, want [14 16 16] and [14 12 14]", shapes)
	}
}

// TestLoadErrors checks that bad files give errors that name the problem.
func TestLoadErrors(t *testing.T) {
	good := func() *synth {
		var s synth
		s.placeholder("x", 1, 4, 4, 1)
		s.constF("w", "float16", []int{1, 1, 1, 1}, []float32{2})
		s.node("conv", "Conv2D", []string{"x", "w"}, convAttr(1, "VALID"))
		return &s
	}
	if _, err := Load(good().write(t)); err != nil {
		t.Fatalf("the good model: %v", err)
	}
	cases := []struct {
		name string
		// edit changes the written model directory (model.json's path).
		edit func(t *testing.T, path string)
		want []string
	}{
		{"corrupt JSON", func(t *testing.T, p string) { writeFile(t, p, []byte(`{"format": "graph-model", "modelTopology": {`)) },
			[]string{"invalid JSON"}},
		{"not JSON", func(t *testing.T, p string) { writeFile(t, p, []byte("\x89PNG")) }, []string{"invalid JSON"}},
		{"layers model", func(t *testing.T, p string) {
			writeFile(t, p, []byte(`{"format": "layers-model", "modelTopology": {"class_name": "Model"}}`))
		}, []string{"layers-model", "tfjs_graph_model"}},
		{"no nodes", func(t *testing.T, p string) { writeFile(t, p, []byte(`{"modelTopology": {"node": []}}`)) },
			[]string{"no nodes"}},
		{"shard shorter", func(t *testing.T, p string) {
			writeFile(t, filepath.Join(filepath.Dir(p), "group1-shard1of1.bin"), []byte{0})
		}, []string{"group1-shard1of1.bin (1 bytes)", "shorter than the 2 bytes"}},
		{"shard longer", func(t *testing.T, p string) {
			writeFile(t, filepath.Join(filepath.Dir(p), "group1-shard1of1.bin"), []byte{0, 0x40, 0})
		}, []string{"group1-shard1of1.bin (3 bytes)", "longer than the 2 bytes"}},
		{"missing shard", func(t *testing.T, p string) {
			os.Remove(filepath.Join(filepath.Dir(p), "group1-shard1of1.bin"))
		}, []string{"group1-shard1of1.bin", "no such file"}},
		{"unknown dtype", func(t *testing.T, p string) { replace(t, p, `"dtype": "float32"`, `"dtype": "complex64"`) },
			[]string{`unknown dtype "complex64"`, `weight "w"`}},
		{"unknown quantization", func(t *testing.T, p string) { replace(t, p, `"dtype": "float16"`, `"dtype": "int4"`) },
			[]string{`unknown quantization dtype "int4"`}},
		{"shard outside the directory", func(t *testing.T, p string) { replace(t, p, `"group1-shard1of1.bin"`, `"../w.bin"`) },
			[]string{"../w.bin", "relative to the model directory"}},
		{"missing input node", func(t *testing.T, p string) { replace(t, p, `"name": "x"`, `"name": "y"`) },
			[]string{`node "conv": input "x" is not a node`}},
		{"cycle", func(t *testing.T, p string) {
			s := good()
			s.node("a", "Relu", []string{"b"}, nil)
			s.node("b", "Relu", []string{"a"}, nil)
			writeFile(t, p, s.json(t))
		}, []string{"cycle", `"a"`, `"b"`}},
		{"duplicate name", func(t *testing.T, p string) {
			s := good()
			s.node("conv", "Relu", []string{"x"}, nil)
			writeFile(t, p, s.json(t))
		}, []string{`two nodes are named "conv"`}},
		{"const without weight", func(t *testing.T, p string) {
			s := good()
			s.node("c", "Const", nil, nil)
			writeFile(t, p, s.json(t))
		}, []string{`Const node "c" has no entry in weightsManifest`}},
		{"no input", func(t *testing.T, p string) { replace(t, p, `"op": "Placeholder"`, `"op": "Identity"`) },
			[]string{"no image input"}},
		{"only unsupported ops", func(t *testing.T, p string) { replace(t, p, `"op": "Conv2D"`, `"op": "Conv3D"`) },
			[]string{"no layer can be built", `node "conv" has op Conv3D`, "supported ops:"}},
		{"bad attribute", func(t *testing.T, p string) { replace(t, p, b64("VALID"), b64("FULL")) },
			[]string{`node "conv" (Conv2D): padding "FULL" is not supported`}},
		{"bad int", func(t *testing.T, p string) { replace(t, p, `"size": "4"`, `"size": "four"`) },
			[]string{"bad integer"}},
		{"directory without model.json", func(t *testing.T, p string) { os.Rename(p, p+".old") },
			[]string{"has no model.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := good().write(t)
			tc.edit(t, p)
			arg := p
			if tc.name == "directory without model.json" {
				arg = filepath.Dir(p)
			}
			m, err := Load(arg)
			if err == nil {
				t.Fatalf("Load succeeded (%d layers), want an error", len(m.Names()))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Load(missing file) = %v", err)
	}
	// Load accepts the directory.
	if _, err := Load(filepath.Dir(good().write(t))); err != nil {
		t.Errorf("Load(directory): %v", err)
	}
	// Options.Input must keep the channel count.
	if _, err := LoadWith(good().write(t), Options{Input: &cnn.Input{Channels: 3}}); err == nil || !strings.Contains(err.Error(), "channels") {
		t.Errorf("LoadWith(3-channel input for a 1-channel model) = %v", err)
	}
}

// replace edits the file at p, failing if old is absent.
func replace(t *testing.T, p, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", p, old)
	}
	writeFile(t, p, []byte(strings.Replace(string(b), old, new, 1)))
}

// TestSeparable checks which layers of the every-op model Separable calls
// per image, and that each of those computes a batch of two images as the
// two images one at a time (cnn.Build's split), to rounding.
func TestSeparable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	path, layers := opsModel(t, rng)
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	mixing := map[string]bool{ // reshapes, transposes, products, softmax, negative axes
		"matmul": true, "matmul_t": true, "fmatmul": true, "softmax": true, "sum": true, "min": true,
		"reshape": true, "transpose": true, "squeeze": true, "expand": true, "identity": true,
	}
	for _, l := range []string{"c1", "d1", "se", "cat", "up", "maxpool", "pad", "padv2", "bn", "addn", "gap", "max"} {
		if !m.Separable(l) {
			t.Errorf("Separable(%q) = false, want true", l)
		}
	}
	x := make([]float32, 2*8*8*3)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	in := nhwcToNCHW(x, 2, 8, 8, 3)
	for _, l := range layers {
		if _, ok := opTable[m.g.nodes[m.g.index[l]].op]; !ok {
			continue
		}
		sep := m.Separable(l)
		if sep == mixing[l] {
			t.Errorf("Separable(%q) = %v", l, sep)
		}
		if !sep {
			continue
		}
		// Several layers are per image only if each is.
		if !m.Separable(l, "c1") || m.Separable(l, "reshape") {
			t.Errorf("Separable(%q, c1) = %v, Separable(%q, reshape) = %v; want true, false",
				l, m.Separable(l, "c1"), l, m.Separable(l, "reshape"))
		}
		exec := model.MustNewExec(backend.MustGet(), m.Store(), func(_ *model.Scope, x *graph.Node) []*graph.Node {
			whole := m.Build(x, l)[0]
			one := func(i int) *graph.Node { return m.Build(graph.Slice(x, graph.AxisRange(i, i+1)), l)[0] }
			return []*graph.Node{whole, graph.Concatenate([]*graph.Node{one(0), one(1)}, 0)}
		})
		out := exec.MustExec(in)
		whole, parts := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
		var scale float64
		for _, v := range whole {
			if a := math.Abs(float64(v)); !math.IsNaN(a) && !math.IsInf(a, 0) {
				scale = max(scale, a)
			}
		}
		for j := range whole {
			a, b := float64(whole[j]), float64(parts[j])
			if math.IsNaN(a) && math.IsNaN(b) || a == b {
				continue
			}
			if d := math.Abs(a - b); !(d <= 1e-6*max(scale, 1)) {
				t.Errorf("%s: a batch of two differs from the images one at a time at %d: %v vs %v", l, j, whole[j], parts[j])
				break
			}
		}
		exec.Finalize()
	}
	if m.Separable("no such layer") {
		t.Error("Separable of an unknown layer = true")
	}
}
