package tfjs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
)

// ---- synthetic graph models ----

// synth writes small TF.js graph models for tests.
type synth struct {
	nodes   []map[string]any
	weights []map[string]any
	bin     []byte
}

func (s *synth) node(name, op string, inputs []string, attr map[string]any) {
	n := map[string]any{"name": name, "op": op}
	if len(inputs) > 0 {
		n["input"] = inputs
	}
	if attr != nil {
		n["attr"] = attr
	}
	s.nodes = append(s.nodes, n)
}

func (s *synth) placeholder(name string, dims ...int) {
	s.node(name, "Placeholder", nil, map[string]any{"shape": aShape(dims...), "dtype": map[string]any{"type": "DT_FLOAT"}})
}

// constF adds a float constant stored as enc: "float32", "float16",
// "uint8" or "uint16" (codes q for uint, values q·scale+min with min −1,
// scale 2/(2^bits−1)). It returns the values the model holds.
func (s *synth) constF(name, enc string, dims []int, vals []float32) []float32 {
	dims = append([]int{}, dims...) // a scalar's shape is [], not null
	s.node(name, "Const", nil, map[string]any{"dtype": map[string]any{"type": "DT_FLOAT"}})
	w := map[string]any{"name": name, "shape": dims, "dtype": "float32"}
	held := make([]float32, len(vals))
	le := binary.LittleEndian
	switch enc {
	case "float32":
		for i, v := range vals {
			s.bin = le.AppendUint32(s.bin, math.Float32bits(v))
			held[i] = v
		}
	case "float16":
		w["quantization"] = map[string]any{"dtype": "float16", "original_dtype": "float32"}
		for i, v := range vals {
			h := float16.FromFloat32(v)
			s.bin = le.AppendUint16(s.bin, uint16(h))
			held[i] = h.Float32()
		}
	case "uint8", "uint16":
		top := 255.0
		if enc == "uint16" {
			top = 65535
		}
		scale := 2 / top
		w["quantization"] = map[string]any{"dtype": enc, "min": -1, "scale": scale, "original_dtype": "float32"}
		for i, v := range vals {
			q := math.Round((math.Max(-1, math.Min(1, float64(v))) + 1) / scale)
			if enc == "uint8" {
				s.bin = append(s.bin, byte(q))
			} else {
				s.bin = le.AppendUint16(s.bin, uint16(q))
			}
			held[i] = float32(q*scale - 1)
		}
	default:
		panic("bad encoding " + enc)
	}
	s.weights = append(s.weights, w)
	return held
}

// constQ adds a uint8-quantized constant from its codes, min and scale.
func (s *synth) constQ(name string, dims []int, codes []byte, min, scale float64) {
	dims = append([]int{}, dims...)
	s.node(name, "Const", nil, map[string]any{"dtype": map[string]any{"type": "DT_FLOAT"}})
	s.weights = append(s.weights, map[string]any{"name": name, "shape": dims, "dtype": "float32",
		"quantization": map[string]any{"dtype": "uint8", "min": min, "scale": scale, "original_dtype": "float32"}})
	s.bin = append(s.bin, codes...)
}

// constI adds an int32 constant.
func (s *synth) constI(name string, dims []int, vals ...int32) {
	dims = append([]int{}, dims...)
	s.node(name, "Const", nil, map[string]any{"dtype": map[string]any{"type": "DT_INT32"}})
	s.weights = append(s.weights, map[string]any{"name": name, "shape": dims, "dtype": "int32"})
	for _, v := range vals {
		s.bin = binary.LittleEndian.AppendUint32(s.bin, uint32(v))
	}
}

// json returns model.json's content.
func (s *synth) json(t testing.TB) []byte {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{
		"format": "graph-model", "generatedBy": "layervis test", "convertedBy": "layervis test",
		"modelTopology":   map[string]any{"node": s.nodes, "library": map[string]any{}, "versions": map[string]any{}},
		"weightsManifest": []any{map[string]any{"paths": []string{"group1-shard1of1.bin"}, "weights": s.weights}},
	}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// write writes model.json and its shard into a new directory and returns
// the path of model.json.
func (s *synth) write(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "model.json"), s.json(t))
	writeFile(t, filepath.Join(dir, "group1-shard1of1.bin"), s.bin)
	return filepath.Join(dir, "model.json")
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func aS(s string) map[string]any  { return map[string]any{"s": b64(s)} }
func aI(i int) map[string]any     { return map[string]any{"i": strconv.Itoa(i)} }
func aF(f float64) map[string]any { return map[string]any{"f": f} }
func aB(b bool) map[string]any    { return map[string]any{"b": b} }
func aInts(v ...int) map[string]any {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return map[string]any{"list": map[string]any{"i": s}}
}

func aStrs(v ...string) map[string]any {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = b64(x)
	}
	return map[string]any{"list": map[string]any{"s": s}}
}

func aShape(dims ...int) map[string]any {
	d := make([]any, len(dims))
	for i, x := range dims {
		d[i] = map[string]any{"size": strconv.Itoa(x)}
	}
	return map[string]any{"shape": map[string]any{"dim": d}}
}

// convAttr returns the attributes of a convolution with stride s, padding
// and optional fused ops.
func convAttr(s int, pad string, fused ...string) map[string]any {
	a := map[string]any{"strides": aInts(1, s, s, 1), "padding": aS(pad), "data_format": aS("NHWC"),
		"dilations": aInts(1, 1, 1, 1), "T": map[string]any{"type": "DT_FLOAT"}}
	if len(fused) > 0 {
		a["fused_ops"] = aStrs(fused...)
		a["num_args"] = aI(1)
	}
	return a
}

// ---- running models ----

// nhwcToNCHW converts an NHWC float slice to an NCHW tensor.
func nhwcToNCHW(x []float32, b, h, w, c int) *tensors.Tensor {
	out := make([]float32, len(x))
	for n := range b {
		for y := range h {
			for xx := range w {
				for ch := range c {
					out[((n*c+ch)*h+y)*w+xx] = x[((n*h+y)*w+xx)*c+ch]
				}
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(out, b, c, h, w)
}

// toNHWC returns a layervis activation in TF's layout: rank-4 NCHW values
// transposed to NHWC, others as they are.
func toNHWC(t testing.TB, a *tensors.Tensor) ([]float32, []int) {
	t.Helper()
	data, err := tensors.CopyFlatData[float32](a)
	if err != nil {
		t.Fatal(err)
	}
	d := a.Shape().Dimensions
	if len(d) != 4 {
		return data, d
	}
	b, c, h, w := d[0], d[1], d[2], d[3]
	out := make([]float32, len(data))
	for n := range b {
		for ch := range c {
			for y := range h {
				for x := range w {
					out[((n*h+y)*w+x)*c+ch] = data[((n*c+ch)*h+y)*w+x]
				}
			}
		}
	}
	return out, []int{b, h, w, c}
}

// activations runs m (layervis, pure-Go backend) on the NHWC input x.
func activations(t testing.TB, m *Model, x []float32, dims [4]int, layers ...string) []*tensors.Tensor {
	t.Helper()
	out, err := cnn.Activations(backend.MustGet(), m, nhwcToNCHW(x, dims[0], dims[1], dims[2], dims[3]), layers...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// skipOrFail skips the test, or fails it when CI is set.
func skipOrFail(t testing.TB, ciHint, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s\n%s", msg, ciHint)
	}
	t.Skip(msg)
}

// The demo model (package zoo opens it as "demo"; these tests load its
// files as any TF.js graph model): its class layer, 80 pre-sigmoid heatmaps
// in the COCO classes' order, and the layers a Mind's Eye step uses.
const (
	demoClassLogits = "tower_0/CenternetHead/centernet_cls_output/BiasAdd"
	demoTarget      = "tower_0/extern1/hard_swish/mul_1"
	demoPenalty     = "tower_0/extern1/BatchNorm/FusedBatchNorm" + cnn.InputSuffix
)

// requireDemo loads the demo model's files from the asset cache, with its
// input convention (RGB in 0–255), skipping the test when the assets are
// missing (failing under CI).
func requireDemo(t testing.TB) *Model {
	t.Helper()
	dir, err := assets.DemoModel()
	if err != nil {
		skipOrFail(t, "CI must fetch the demo assets first: run scripts/fetch-assets.sh", "demo model unavailable: %v", err)
	}
	in := cnn.Input{Channels: 3, Order: "RGB", Range: [2]float32{0, 255}, Size: 512, MinSize: 32, Multiple: 32}
	m, err := LoadWith(filepath.Join(dir, "centernet.json"), Options{Input: &in})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The TF.js reference: @tensorflow/tfjs in the asset cache's node/ directory.
const tfjsVersion = "4.22.0"

var tfjsProbe struct {
	once sync.Once
	dir  string // NODE_PATH
	err  error
}

// requireTFJS returns the NODE_PATH under which node finds
// @tensorflow/tfjs, installing it with npm into CACHE/node on first use.
// Without node or npm, or if the install fails, it skips the test (fails
// it under CI).
func requireTFJS(t testing.TB) string {
	t.Helper()
	tfjsProbe.once.Do(func() {
		if _, err := exec.LookPath("node"); err != nil {
			tfjsProbe.err = err
			return
		}
		cache, err := assets.Dir()
		if err != nil {
			tfjsProbe.err = err
			return
		}
		dir := filepath.Join(cache, "node")
		pkg := filepath.Join(dir, "node_modules", "@tensorflow", "tfjs", "package.json")
		if b, err := os.ReadFile(pkg); err == nil && bytes.Contains(b, []byte(`"version": "`+tfjsVersion+`"`)) {
			tfjsProbe.dir = filepath.Join(dir, "node_modules")
			return
		}
		if _, err := exec.LookPath("npm"); err != nil {
			tfjsProbe.err = err
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tfjsProbe.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error",
			"@tensorflow/tfjs@"+tfjsVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			tfjsProbe.err = fmt.Errorf("npm install @tensorflow/tfjs@%s into %s: %v\n%s", tfjsVersion, dir, err, out)
			return
		}
		tfjsProbe.dir = filepath.Join(dir, "node_modules")
	})
	if tfjsProbe.err != nil {
		skipOrFail(t, "CI must run the TF.js comparison: it needs node and npm (npm installs @tensorflow/tfjs@"+tfjsVersion+")",
			"TF.js reference unavailable: %v", tfjsProbe.err)
	}
	return tfjsProbe.dir
}

// runTFJS runs the TF.js reference script on modelJSON with the NHWC input
// x and returns the values (TF layout) and shapes of the named nodes.
func runTFJS(t testing.TB, modelJSON string, x []float32, dims [4]int, names ...string) ([][]float32, [][]int) {
	t.Helper()
	nodePath := requireTFJS(t)
	dir := t.TempDir()
	in := make([]byte, 0, 4*len(x))
	for _, v := range x {
		in = binary.LittleEndian.AppendUint32(in, math.Float32bits(v))
	}
	writeFile(t, filepath.Join(dir, "input.f32"), in)
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "testdata", "tfjsref.cjs")
	args := []string{script, modelJSON, filepath.Join(dir, "input.f32")}
	for _, d := range dims {
		args = append(args, strconv.Itoa(d))
	}
	args = append(append(args, dir), names...)
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node tfjsref.cjs: %v\n%s", err, stderr.String())
	}
	var shapes [][]int
	b, err := os.ReadFile(filepath.Join(dir, "shapes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &shapes); err != nil {
		t.Fatal(err)
	}
	vals := make([][]float32, len(names))
	for k := range names {
		raw, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(k)+".f32"))
		if err != nil {
			t.Fatal(err)
		}
		vals[k] = make([]float32, len(raw)/4)
		for i := range vals[k] {
			vals[k][i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	return vals, shapes
}
