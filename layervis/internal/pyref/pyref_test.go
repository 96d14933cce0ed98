package pyref_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/checkpoint"
	"github.com/layervis/layervis/layervis/internal/pyref"
)

func TestScript(t *testing.T) {
	p := pyref.Script("torchref.py")
	if !filepath.IsAbs(p) {
		t.Errorf("Script returned relative path %q", p)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("Script: %v", err)
	}
}

// npy is a float32 array read from a .npy file.
type npy struct {
	shape []int
	data  []float32
}

var npyShape = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)

// readNpy parses the minimal subset of .npy that numpy.save writes for a
// C-order little-endian float32 array (format versions 1-3).
func readNpy(t *testing.T, path string) npy {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || !bytes.HasPrefix(b, []byte("\x93NUMPY")) {
		t.Fatalf("%s: not a .npy file", path)
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		hlen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		t.Fatalf("%s: .npy version %d", path, b[6])
	}
	if start+hlen > len(b) {
		t.Fatalf("%s: truncated header", path)
	}
	header := string(b[start : start+hlen])
	if !strings.Contains(header, "'descr': '<f4'") || !strings.Contains(header, "'fortran_order': False") {
		t.Fatalf("%s: not C-order little-endian float32: %s", path, header)
	}
	m := npyShape.FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("%s: no shape in header %s", path, header)
	}
	var a npy
	n := 1
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: bad shape %q", path, m[1])
		}
		a.shape = append(a.shape, d)
		n *= d
	}
	body := b[start+hlen:]
	if len(body) != 4*n {
		t.Fatalf("%s: %d data bytes for shape %v", path, len(body), a.shape)
	}
	a.data = make([]float32, n)
	for i := range a.data {
		a.data[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return a
}

// TestTorchRef runs torchref.py's checkpoint and activations subcommands for
// resnet18 at 32x32 and checks the files they write.
func TestTorchRef(t *testing.T) {
	pyref.Require(t)
	dir := t.TempDir()
	script := pyref.Script("torchref.py")
	pyref.Run(t, script, "checkpoint", "--arch", "resnet18", "--seed", "1", "--out", dir)

	// The two weight files agree, and BN is randomized.
	pth, err := checkpoint.Load(filepath.Join(dir, "model.pth"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := checkpoint.Load(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pth.Names) != 122 || len(st.Names) != 122 {
		t.Fatalf("%d and %d tensors, want 122", len(pth.Names), len(st.Names))
	}
	for _, n := range pth.Names {
		a, b := pth.Tensors[n], st.Tensors[n]
		if b == nil || !reflect.DeepEqual(a.Shape, b.Shape) || !reflect.DeepEqual(a.Data, b.Data) {
			t.Fatalf("%s differs between model.pth and model.safetensors", n)
		}
	}
	rv := pth.Tensors["layer1.0.bn1.running_var"].Data
	for _, v := range rv {
		if v < 0.5 || v > 1.5 {
			t.Fatalf("running_var %v outside [0.5, 1.5]", v)
		}
	}
	if rv[0] == rv[1] {
		t.Error("running_var not randomized")
	}

	layers := []string{"maxpool", "layer1", "layer1.0", "layer1.0.relu", "layer1.0.relu:in", "layer4.1.conv2:in", "layer4"}
	out := pyref.Run(t, script, "activations", "--arch", "resnet18", "--weights", filepath.Join(dir, "model.pth"),
		"--size", "32", "--batch", "2", "--seed", "2", "--layers", strings.Join(layers, ","),
		"--grad-layer", "layer4", "--out", dir)
	if !strings.Contains(out, `"shapes"`) {
		t.Errorf("unexpected stdout %q", out)
	}
	want := map[string][]int{
		"input": {2, 3, 32, 32}, "grad": {2, 3, 32, 32},
		"maxpool": {2, 64, 8, 8}, "layer1": {2, 64, 8, 8}, "layer1.0": {2, 64, 8, 8},
		"layer1.0.relu": {2, 64, 8, 8}, "layer1.0.relu:in": {2, 64, 8, 8},
		"layer4.1.conv2:in": {2, 512, 1, 1}, "layer4": {2, 512, 1, 1},
	}
	arrays := map[string]npy{}
	for name, shape := range want {
		a := readNpy(t, filepath.Join(dir, name+".npy"))
		if !reflect.DeepEqual(a.shape, shape) {
			t.Errorf("%s.npy: shape %v, want %v", name, a.shape, shape)
		}
		for _, v := range a.data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s.npy holds %v", name, v)
			}
		}
		arrays[name] = a
	}
	// A reused ReLU records its last call: the block output.
	if !reflect.DeepEqual(arrays["layer1.0.relu"].data, arrays["layer1.0"].data) {
		t.Error("layer1.0.relu differs from layer1.0 (the last ReLU call is the block output)")
	}
	for i, v := range arrays["layer1.0.relu:in"].data {
		if r := float32(math.Max(float64(v), 0)); r != arrays["layer1.0"].data[i] {
			t.Fatalf("relu(layer1.0.relu:in)[%d] = %v, want %v", i, r, arrays["layer1.0"].data[i])
		}
	}
	// Activations neither explode nor vanish.
	for _, name := range []string{"layer1", "layer4"} {
		if s := std(arrays[name].data); s < 0.05 || s > 20 {
			t.Errorf("%s std %v", name, s)
		}
	}
	if s := std(arrays["grad"].data); s == 0 {
		t.Error("zero gradient")
	}

	var meta struct {
		Arch      string           `json:"arch"`
		Layers    []string         `json:"layers"`
		GradLayer string           `json:"grad_layer"`
		Shapes    map[string][]int `json:"shapes"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Arch != "resnet18" || !reflect.DeepEqual(meta.Layers, layers) || meta.GradLayer != "layer4" ||
		!reflect.DeepEqual(meta.Shapes["layer4"], want["layer4"]) {
		t.Errorf("meta.json: %+v", meta)
	}
}

// TestTorchRefBench runs the bench subcommand briefly.
func TestTorchRefBench(t *testing.T) {
	pyref.Require(t)
	out := pyref.Run(t, pyref.Script("torchref.py"), "bench", "--arch", "resnet18", "--size", "32",
		"--layer", "layer2", "--threads", "1", "--iters", "2")
	var r struct {
		Arch    string  `json:"arch"`
		Size    int     `json:"size"`
		Median  float64 `json:"median_s"`
		Min     float64 `json:"min_s"`
		Threads int     `json:"threads"`
		Torch   string  `json:"torch_version"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench output %q: %v", out, err)
	}
	if r.Arch != "resnet18" || r.Size != 32 || r.Median <= 0 || r.Min <= 0 || r.Min > r.Median || r.Threads != 1 || r.Torch == "" {
		t.Errorf("bench result %+v", r)
	}
}

func std(v []float32) float64 {
	var s, s2 float64
	for _, x := range v {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	n := float64(len(v))
	return math.Sqrt(math.Max(s2/n-(s/n)*(s/n), 0))
}

func TestRelErr(t *testing.T) {
	for _, tc := range []struct {
		got, want []float32
		err       float64
	}{
		{[]float32{1, 2}, []float32{1, 2}, 0},
		{[]float32{1, 2.5}, []float32{1, -2}, 4.5 / 2},
		{[]float32{0.5, 0}, []float32{0, 0}, 0.5},
	} {
		if got := pyref.RelErr(tc.got, tc.want); got != tc.err {
			t.Errorf("RelErr(%v, %v) = %v, want %v", tc.got, tc.want, got, tc.err)
		}
	}
}
