package onnx

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"google.golang.org/protobuf/proto"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
)

// smallNet is a conv → relu → max-pool → global-pool → flatten → gemm
// network on a [1,3,8,8] input, with torch-style scoped names.
func smallNet() *testGraph {
	g := newTestGraph(1, 3, 8, 8)
	add := func(name, op string, ins []string, attrs ...*protos.AttributeProto) string {
		out := name + "_output_0"
		g.nodes = append(g.nodes, &protos.NodeProto{Name: name, OpType: op, Input: ins, Output: []string{out}, Attribute: attrs})
		g.out = out
		return out
	}
	c := add("/features/features.0/Conv", "Conv", []string{"x", g.w(4, 3, 3, 3), g.w(4)}, aInts("pads", 1, 1, 1, 1))
	r := add("/features/features.1/Relu", "Relu", []string{c})
	p := add("/features/features.2/MaxPool", "MaxPool", []string{r}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2))
	gp := add("/pool/GlobalAveragePool", "GlobalAveragePool", []string{p})
	f := add("/Flatten", "Flatten", []string{gp})
	add("/classifier/classifier.1/Gemm", "Gemm", []string{f, g.w(5, 4), g.w(5)}, aInt("transB", 1))
	return g
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadErrors checks that bad files give errors naming the problem.
func TestLoadErrors(t *testing.T) {
	good := smallNet().bytes(t)
	cases := []struct {
		name string
		data func(t *testing.T) []byte
		want []string // substrings of the error
	}{
		{"not protobuf", func(*testing.T) []byte { return []byte("\xff\xff\xff this is not an ONNX file") },
			[]string{"not an ONNX model"}},
		{"empty", func(*testing.T) []byte { return nil }, []string{"not an ONNX model", "no graph"}},
		{"truncated", func(*testing.T) []byte { return good[:len(good)*2/3] }, []string{"truncated"}},
		{"unsupported op", func(t *testing.T) []byte {
			g := smallNet()
			g.nodes[1].OpType = "Mish"
			return g.bytes(t)
		}, []string{`"/features/features.1/Relu"`, `op "Mish"`, "supported ops: Abs, Add,", "Conv"}},
		{"other domain", func(t *testing.T) []byte {
			g := smallNet()
			g.nodes[1].Domain = "com.microsoft"
			return g.bytes(t)
		}, []string{"com.microsoft", "default ONNX domain"}},
		{"two inputs", func(t *testing.T) []byte {
			mp := smallNet().proto()
			mp.Graph.Input = append(mp.Graph.Input, valueInfo("y", 1, 3, 8, 8))
			return marshal(t, mp)
		}, []string{"2 inputs", "exactly one image input"}},
		{"not NCHW", func(t *testing.T) []byte {
			mp := smallNet().proto()
			mp.Graph.Input[0] = valueInfo("x", 1, 192)
			return marshal(t, mp)
		}, []string{"rank 2", "NCHW"}},
		{"float16 weights", func(t *testing.T) []byte {
			mp := smallNet().proto()
			w := mp.Graph.Initializer[0]
			w.DataType, w.FloatData, w.RawData = int32(protos.TensorProto_FLOAT16), nil, make([]byte, 2*4*3*3*3)
			return marshal(t, mp)
		}, []string{"FLOAT16", "float32"}},
		{"short tensor data", func(t *testing.T) []byte {
			mp := smallNet().proto()
			mp.Graph.Initializer[0].FloatData = mp.Graph.Initializer[0].FloatData[:7]
			return marshal(t, mp)
		}, []string{"init0", "has 7 float_data values, want 108"}},
		{"missing external data", func(t *testing.T) []byte {
			mp := smallNet().proto()
			w := mp.Graph.Initializer[0]
			w.FloatData, w.DataLocation = nil, protos.TensorProto_EXTERNAL
			w.ExternalData = []*protos.StringStringEntryProto{{Key: "location", Value: "weights.bin"}}
			return marshal(t, mp)
		}, []string{"weights.bin", "beside the .onnx file"}},
		{"undefined input", func(t *testing.T) []byte {
			g := smallNet()
			g.nodes[0], g.nodes[1] = g.nodes[1], g.nodes[0]
			return g.bytes(t)
		}, []string{"topologically sorted"}},
		{"1-D convolution", func(t *testing.T) []byte {
			g := smallNet()
			g.nodes[0].Input[1] = g.w(4, 3, 3)
			return g.bytes(t)
		}, []string{`node "/features/features.0/Conv" (Conv)`, "only 2-D convolutions"}},
		{"no opset", func(t *testing.T) []byte {
			mp := smallNet().proto()
			mp.OpsetImport = nil
			return marshal(t, mp)
		}, []string{"opset_import"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.data(t))
			m, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded (%d layers), want an error", len(m.layers))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.onnx")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want a not-exist error", err)
	}
}

func marshal(t testing.TB, mp *protos.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCatalogue checks the layer names, kinds, shapes, aliases and input
// description of smallNet.
func TestCatalogue(t *testing.T) {
	m, err := Load(smallNet().file(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "test" || m.Opset() != 13 {
		t.Errorf("Name %q Opset %d, want test 13", m.Name(), m.Opset())
	}
	in := m.Input()
	if in.Channels != 3 || in.Size != 8 || !slices.Equal(in.Mean, cnn.ImageNet().Mean) || !slices.Equal(in.Std, cnn.ImageNet().Std) {
		t.Errorf("Input() = %+v, want 3 channels, size 8, ImageNet normalization", in)
	}
	layers, err := m.Layers(12, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []cnn.Layer{
		{Name: "/features/features.0/Conv_output_0", Kind: "Conv", Shape: []int{4, 12, 10}},
		{Name: "/features/features.1/Relu_output_0", Kind: "Relu", Shape: []int{4, 12, 10}},
		{Name: "/features/features.2/MaxPool_output_0", Kind: "MaxPool", Shape: []int{4, 6, 5}},
		{Name: "/pool/GlobalAveragePool_output_0", Kind: "GlobalAveragePool", Shape: []int{4, 1, 1}},
		{Name: "/Flatten_output_0", Kind: "Flatten", Shape: []int{4}},
		{Name: "/classifier/classifier.1/Gemm_output_0", Kind: "Gemm", Shape: []int{5}},
	}
	if len(layers) != len(want) {
		t.Fatalf("got %d layers %v, want %d", len(layers), layers, len(want))
	}
	for i := range want {
		if layers[i].Name != want[i].Name || layers[i].Kind != want[i].Kind || !slices.Equal(layers[i].Shape, want[i].Shape) {
			t.Errorf("layer %d = %+v, want %+v", i, layers[i], want[i])
		}
	}
	aliases := map[string]string{}
	for _, a := range m.Aliases() {
		aliases[a.Name] = a.Target
	}
	for alias, target := range map[string]string{
		"features":                      "/features/features.2/MaxPool_output_0",
		"features.1":                    "/features/features.1/Relu_output_0",
		"/features/features.1/Relu":     "/features/features.1/Relu_output_0",
		"classifier":                    "/classifier/classifier.1/Gemm_output_0",
		"pool":                          "/pool/GlobalAveragePool_output_0",
		"/classifier/classifier.1/Gemm": "/classifier/classifier.1/Gemm_output_0",
	} {
		if aliases[alias] != target {
			t.Errorf("alias %q → %q, want %q", alias, aliases[alias], target)
		}
	}
	for name, want := range map[string]string{
		"features:in":             "x",
		"features.1:in":           "/features/features.0/Conv_output_0",
		"/Flatten_output_0:in":    "/pool/GlobalAveragePool_output_0",
		"classifier.1":            "/classifier/classifier.1/Gemm_output_0",
		"/Flatten":                "/Flatten_output_0",
		"/Flatten_output_0":       "/Flatten_output_0",
		"features.2:in":           "/features/features.1/Relu_output_0",
		"features.0":              "/features/features.0/Conv_output_0",
		"/pool/GlobalAveragePool": "/pool/GlobalAveragePool_output_0",
	} {
		if got, ok := m.tensorOf(name); !ok || got != want {
			t.Errorf("%q resolves to %q (%v), want %q", name, got, ok, want)
		}
	}
	for _, bad := range []string{"features.3", "x", "init0", "Relu", "features.1:in:in"} {
		if m.Has(bad) {
			t.Errorf("Has(%q) = true", bad)
		}
	}
	err = cnn.Check(m, "featurez.1")
	if err == nil || !strings.Contains(err.Error(), `no layer "featurez.1"`) || !strings.Contains(err.Error(), "features.1") {
		t.Errorf("Check(featurez.1) = %v, want an unknown-layer error suggesting features.1", err)
	}
	if _, err := m.Layers(0, 0); err == nil {
		t.Error("Layers(0, 0) succeeded")
	}
	// A graph whose MatMul fixes the flattened size builds only at 6×5.
	g := newTestGraph(2, 3, 6, 5)
	g.op("MatMul", []string{g.op("Flatten", []string{g.conv()}), g.w(120, 7)})
	mm, err := Load(g.file(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mm.Layers(8, 8); err == nil || !strings.Contains(err.Error(), `node "/n2/MatMul" (MatMul)`) {
		t.Errorf("Layers(8, 8) = %v, want an error naming the MatMul node", err)
	}
}

func TestWithInput(t *testing.T) {
	path := smallNet().file(t)
	in := cnn.Input{Channels: 3, Order: "BGR", Range: [2]float32{0, 255}, Size: 32, MinSize: 8, Multiple: 1}
	m, err := Load(path, WithInput(in), WithName("small"))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Input(); got.Order != "BGR" || got.Range != in.Range || got.Size != 32 || got.Mean != nil || m.Name() != "small" {
		t.Errorf("Input() = %+v, Name() = %q: options not applied", got, m.Name())
	}
	in.Channels = 1
	if _, err := Load(path, WithInput(in)); err == nil || !strings.Contains(err.Error(), "1 channels") {
		t.Errorf("WithInput with 1 channel: %v, want a channel mismatch error", err)
	}
}

func TestModulePaths(t *testing.T) {
	for _, tc := range []struct {
		node string
		want []string
	}{
		{"/layer1/layer1.0/relu_1/Relu", []string{"layer1", "layer1.0", "layer1.0.relu_1"}},
		{"/features/features.1/features.1.0/block/block.0/block.0.0/Conv",
			[]string{"features", "features.1", "features.1.0", "features.1.0.block", "features.1.0.block.0", "features.1.0.block.0.0"}},
		{"/features/features.1/features.1.0/block/block.1/fc1/Conv",
			[]string{"features", "features.1", "features.1.0", "features.1.0.block", "features.1.0.block.1", "features.1.0.block.1.fc1"}},
		{"/inception4e/branch2/branch2.1/conv/Conv", []string{"inception4e", "inception4e.branch2", "inception4e.branch2.1", "inception4e.branch2.1.conv"}},
		{"/Flatten", nil},
		{"Identity_3", nil},
		{"conv1/7x7_s2", nil},
		{"//x/Relu", nil},
	} {
		if got := modulePaths(tc.node); !slices.Equal(got, tc.want) {
			t.Errorf("modulePaths(%q) = %q, want %q", tc.node, got, tc.want)
		}
	}
}

// deadNodes lists the nodes of g that no output depends on.
func deadNodes(g *Graph, outs []*Node) []string {
	live := map[*Node]bool{}
	var mark func(n *Node)
	mark = func(n *Node) {
		if live[n] {
			return
		}
		live[n] = true
		for _, in := range n.Inputs() {
			mark(in)
		}
	}
	for _, o := range outs {
		mark(o)
	}
	var dead []string
	for _, n := range g.Nodes() {
		if !live[n] {
			dead = append(dead, n.Type().String())
		}
	}
	return dead
}

// buildDead builds m's graph for the layers and returns its dead nodes.
func buildDead(t *testing.T, m *Model, h, w int, layers ...string) []string {
	t.Helper()
	g := NewGraph(backend.MustGet(), "dead")
	defer g.Finalize()
	model.SetStore(g, m.Store())
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 1, m.Input().Channels, h, w))
	return deadNodes(g, m.Build(x, layers...))
}

// TestNoDeadNodes checks that Build leaves no node that no output needs
// (the pure-Go backend rejects such graphs): for every layer of smallNet and
// of the shape-computation and Split test graphs.
func TestNoDeadNodes(t *testing.T) {
	graphs := map[string]*testGraph{"smallNet": smallNet()}
	for _, tc := range opCases {
		if tc.name == "Reshape/shape-computation" || tc.name == "Split" || tc.name == "ConstantOfShape+Size" || tc.name == "Constant" {
			g := newTestGraph(2, 3, 6, 5)
			tc.build(g, false)
			graphs[tc.name] = g
		}
	}
	for name, tg := range graphs {
		m, err := Load(tg.file(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.layers {
			if dead := buildDead(t, m, m.trial[2], m.trial[3], l.name); len(dead) > 0 {
				t.Errorf("%s: building %s leaves dead nodes %v", name, l.name, dead)
			}
		}
	}
}

// tinyNet is smallNet's ops (conv → relu → max-pool → global-pool →
// flatten → gemm) with one-letter names and 18 weights.
func tinyNet() *testGraph {
	g := newTestGraph(1, 1, 4, 4)
	add := func(name, op string, ins []string, attrs ...*protos.AttributeProto) string {
		g.nodes = append(g.nodes, &protos.NodeProto{OpType: op, Input: ins, Output: []string{name}, Attribute: attrs})
		g.out = name
		return name
	}
	c := add("c", "Conv", []string{"x", g.w(2, 1, 2, 2), g.w(2)})
	r := add("r", "Relu", []string{c})
	p := add("p", "MaxPool", []string{r}, aInts("kernel_shape", 2, 2))
	gp := add("g", "GlobalAveragePool", []string{p})
	add("y", "Gemm", []string{add("f", "Flatten", []string{gp}), g.w(2, 2), g.w(2)}, aInt("transB", 1))
	return g
}

// fuzzSeed is tinyNet as a file with nothing optional: FuzzLoad's valid
// seed.
func fuzzSeed(t testing.TB) []byte {
	mp := tinyNet().proto()
	mp.ProducerName, mp.Graph.Name, mp.Graph.Output = "", "", nil
	return marshal(t, mp)
}

// TestFuzzSeed checks that FuzzLoad's seed is a valid model with every
// layer, and small: the fuzzer's minimization of each new input grows
// with the square of its length (see FuzzLoad).
func TestFuzzSeed(t *testing.T) {
	seed := fuzzSeed(t)
	m, err := parse(seed, "seed.onnx", options{name: "seed"})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Names(); len(got) != 6 {
		t.Errorf("seed layers %v, want the 6 nodes' outputs", got)
	}
	if len(seed) > 400 {
		t.Errorf("seed is %d bytes, want at most 400", len(seed))
	}
}

// FuzzLoad feeds corrupt and mutated files to the loader: it must return
// an error or a model with layers, never panic or hang. The seeds are
// small and each execution parses from memory: the fuzzer minimizes every
// input that finds new coverage by trying O(n²) shorter variants, so with
// smallNet's 900 bytes and a file per execution it spent whole runs (0
// execs/s) minimizing. make fuzz also bounds that time (-fuzzminimizetime).
func FuzzLoad(f *testing.F) {
	good := fuzzSeed(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte("\x0a\x00\x3a\x02\x0a\x00"))
	path := filepath.Join(f.TempDir(), "fuzz.onnx") // external data is looked up beside it: there is none
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parse(data, path, options{name: "fuzz"})
		if err == nil && len(m.Names()) == 0 {
			t.Errorf("loaded a model with no layers")
		}
	})
}

// TestFileVariants loads smallNet stored in other valid ways and checks its
// output is unchanged: weights in an external file, raw_data tensors, and
// (as IR version < 4 writers do) initializers also listed as graph inputs.
func TestFileVariants(t *testing.T) {
	x := randomInput(5, 1, 3, 8, 8)
	out := smallNet().out
	run := func(t *testing.T, path string) []float32 {
		t.Helper()
		m, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		acts, err := cnn.Activations(backend.MustGet(), m, x, out)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tensors.CopyFlatData[float32](acts[0])
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := run(t, smallNet().file(t))
	variants := map[string]func(t *testing.T, dir string, mp *protos.ModelProto){
		"external data": func(t *testing.T, dir string, mp *protos.ModelProto) {
			var blob []byte
			for _, w := range mp.Graph.Initializer {
				raw := make([]byte, 4*len(w.FloatData))
				for i, f := range w.FloatData {
					binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
				}
				w.ExternalData = []*protos.StringStringEntryProto{{Key: "location", Value: "weights.bin"},
					{Key: "offset", Value: strconv.Itoa(len(blob))}, {Key: "length", Value: strconv.Itoa(len(raw))}}
				w.DataLocation, w.FloatData = protos.TensorProto_EXTERNAL, nil
				blob = append(blob, raw...)
			}
			if err := os.WriteFile(filepath.Join(dir, "weights.bin"), blob, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"raw data": func(t *testing.T, dir string, mp *protos.ModelProto) {
			for _, w := range mp.Graph.Initializer {
				w.RawData = make([]byte, 4*len(w.FloatData))
				for i, f := range w.FloatData {
					binary.LittleEndian.PutUint32(w.RawData[4*i:], math.Float32bits(f))
				}
				w.FloatData = nil
			}
		},
		"initializers as inputs": func(t *testing.T, dir string, mp *protos.ModelProto) {
			for _, w := range mp.Graph.Initializer {
				dims := make([]int64, len(w.Dims))
				copy(dims, w.Dims)
				mp.Graph.Input = append(mp.Graph.Input, valueInfo(w.Name, dims...))
			}
		},
	}
	for name, edit := range variants {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			mp := smallNet().proto()
			edit(t, dir, mp)
			path := filepath.Join(dir, "model.onnx")
			if err := os.WriteFile(path, marshal(t, mp), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := run(t, path); !slices.Equal(got, want) {
				t.Errorf("output differs from the inline-weights file")
			}
		})
	}
}

// TestUncomputedOutputs checks that a node output the converter does not
// compute (here MaxPool's indices) is left out of the catalogue instead of
// failing the load, and that requesting it panics with a clear message.
func TestUncomputedOutputs(t *testing.T) {
	g := smallNet()
	const indices = "/features/features.2/MaxPool_output_1"
	g.nodes[2].Output = append(g.nodes[2].Output, indices)
	m, err := Load(g.file(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Has(indices) || !m.Has(g.nodes[2].Output[0]) {
		t.Errorf("Has(indices) = %v, Has(values) = %v; want false, true", m.Has(indices), m.Has(g.nodes[2].Output[0]))
	}
	gr := NewGraph(backend.MustGet(), "indices")
	defer gr.Finalize()
	model.SetStore(gr, m.Store())
	x := Parameter(gr, "x", shapes.Make(dtypes.Float32, 1, 3, 8, 8))
	err = exceptions.TryCatch[error](func() { newBuilder(m, x, 1).outputs([]string{indices}) })
	if err == nil || !strings.Contains(err.Error(), "is not supported") {
		t.Errorf("building the indices: %v, want a not-supported error", err)
	}
}
