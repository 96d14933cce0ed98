package torchvision

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/bench"
	"github.com/layervis/layervis/layervis/checkpoint"
	"github.com/layervis/layervis/layervis/cnn"
)

// stateDictCheckpoint returns the random weights of arch as a checkpoint.
func stateDictCheckpoint(t *testing.T, arch string) *checkpoint.Checkpoint {
	t.Helper()
	a, err := lookupArch(arch)
	if err != nil {
		t.Fatal(err)
	}
	sd := a.randomStateDict(1)
	ck := &checkpoint.Checkpoint{Path: arch + ".pth", Format: "pytorch-zip", Tensors: map[string]*checkpoint.Tensor{}}
	for _, p := range a.params() {
		ck.Names = append(ck.Names, p.name)
		ck.Tensors[p.name] = sd[p.name]
	}
	return ck
}

func TestCheckpointMismatch(t *testing.T) {
	cases := []struct {
		ckArch, arch string
		want         []string
	}{
		{"resnet18", "resnet50", []string{`"layer1.0.conv1.weight"`, "[64 64 3 3]", "[64 64 1 1]", "resnet18.pth"}},
		{"resnet18", "resnet34", []string{`"layer1.2.conv1.weight" is missing`}},
		{"resnet34", "resnet18", []string{`unexpected tensor "layer1.2.conv1.weight"`}},
		{"vgg16", "vgg16_bn", []string{`"features.1.weight" is missing`}},
		{"vgg11", "vgg13", []string{`"features.2.weight" is missing`}},
		{"resnet50", "resnet101", []string{`"layer3.6.conv1.weight" is missing`}},
	}
	for _, tc := range cases {
		t.Run(tc.ckArch+"→"+tc.arch, func(t *testing.T) {
			_, err := FromCheckpoint(tc.arch, stateDictCheckpoint(t, tc.ckArch))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestTimmVGGNames(t *testing.T) {
	ck := stateDictCheckpoint(t, "vgg11")
	renamed := map[string]string{"classifier.0.weight": "pre_logits.fc1.weight", "classifier.3.weight": "pre_logits.fc2.weight",
		"classifier.6.weight": "head.fc.weight", "classifier.6.bias": "head.fc.bias"}
	for i, n := range ck.Names {
		if r, ok := renamed[n]; ok {
			tt := *ck.Tensors[n]
			switch r { // timm stores these as convolutions
			case "pre_logits.fc1.weight":
				tt.Shape = []int{4096, 512, 7, 7}
			case "pre_logits.fc2.weight":
				tt.Shape = []int{4096, 4096, 1, 1}
			}
			delete(ck.Tensors, n)
			ck.Tensors[r] = &tt
			ck.Names[i] = r
		}
	}
	if _, err := FromCheckpoint("vgg11", ck); err != nil {
		t.Fatalf("timm-named VGG checkpoint: %v", err)
	}
}

func TestUnknownArchAndLayer(t *testing.T) {
	if _, err := Random("resnet51", 0); err == nil || !strings.Contains(err.Error(), "resnet50") {
		t.Errorf("unknown arch error %v should list the built-in architectures", err)
	}
	m, err := Random("resnet18", 0)
	if err != nil {
		t.Fatal(err)
	}
	err = cnn.Check(m, "layer4.1.conv3")
	if err == nil {
		t.Fatal("no error for unknown layer")
	}
	for _, w := range []string{`no layer "layer4.1.conv3"`, "layer4.1.conv2", "examples/layers"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if err := cnn.Check(m, "layer4.1.conv2:in", "fc"); err != nil {
		t.Errorf("valid layers: %v", err)
	}
	b := backend.MustGet()
	if _, err := cnn.Shapes(b, m, 64, 64, "nope"); err == nil || !strings.Contains(err.Error(), "no layer") {
		t.Errorf("Shapes with an unknown layer: %v", err)
	}
	if _, err := m.Layers(16, 16); err == nil || !strings.Contains(err.Error(), "minimum of 32") {
		t.Errorf("too-small input: %v", err)
	}
}

func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.pth")
	if err := os.WriteFile(text, []byte("hello, not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{text, "notes.pth"},
		{filepath.Join(dir, "missing.pth"), "missing.pth"},
	} {
		if _, err := Load("resnet18", tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s): %v, want an error naming the file", tc.path, err)
		}
	}
}

func TestArchs(t *testing.T) {
	want := "resnet18 resnet34 resnet50 resnet101 resnet152 vgg11 vgg11_bn vgg13 vgg13_bn vgg16 vgg16_bn vgg19 vgg19_bn"
	if got := strings.Join(Archs(), " "); got != want {
		t.Errorf("Archs() = %s\nwant %s", got, want)
	}
}

// TestEveryLayerBuilds requests each layer alone, with its input gradient:
// building must stop cleanly at any module, including reused ReLUs.
func TestEveryLayerBuilds(t *testing.T) {
	b := backend.MustGet()
	for _, arch := range []string{"resnet18", "vgg11_bn"} {
		m, err := Random(arch, 0)
		if err != nil {
			t.Fatal(err)
		}
		x := tensors.FromShape(tensors.FromScalarAndDimensions(float32(0), 1, 3, 32, 32).Shape())
		var names []string
		for _, n := range m.Names() {
			names = append(names, n, n+cnn.InputSuffix)
		}
		for _, n := range names {
			if _, _, err := cnn.MeanGradient(b, m, x, n); err != nil {
				t.Errorf("%s %s: %v", arch, n, err)
			}
		}
	}
}

// TestReusedReLUIsLastCall: a block's ReLU module runs several times; its
// name means the last call, the block output.
func TestReusedReLUIsLastCall(t *testing.T) {
	b := backend.MustGet()
	m, err := Random("resnet50", 3)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, 3*32*32)
	for i := range data {
		data[i] = float32(i%17) / 17
	}
	x := tensors.FromFlatDataAndDimensions(data, 1, 3, 32, 32)
	relu, err := cnn.Activations(b, m, x, "layer1.1.relu")
	if err != nil {
		t.Fatal(err)
	}
	block, err := cnn.Activations(b, m, x, "layer1.1")
	if err != nil {
		t.Fatal(err)
	}
	if !relu[0].Equal(block[0]) {
		t.Error("layer1.1.relu differs from the block output layer1.1")
	}
}

func TestDefaultLayers(t *testing.T) {
	for _, tc := range []struct{ arch, target, penalty string }{
		{"resnet152", "layer4", "layer4.2.conv3:in"},
		{"resnet18", "layer4", "layer4.1.conv2:in"},
		{"vgg16", "features.29", "features.28:in"},
		{"vgg16_bn", "features.42", "features.40:in"},
	} {
		a, _ := lookupArch(tc.arch)
		m := &Model{arch: a, modules: a.modules()}
		var d cnn.LayerDefaults = m
		if target, penalty := d.DefaultLayers(); target != tc.target || penalty != tc.penalty {
			t.Errorf("%s: got %s, %s; want %s, %s", tc.arch, target, penalty, tc.target, tc.penalty)
		}
	}
}

// TestBatchNormFolded checks that the batch norms that follow convolutions
// are folded into them: the forward graph has no per-channel products left
// (the activations are checked against PyTorch in TestParityWithPyTorch).
func TestBatchNormFolded(t *testing.T) {
	for _, tc := range []struct{ arch, layer string }{{"resnet18", "layer4"}, {"vgg11_bn", "features"}} {
		m, err := Random(tc.arch, 0)
		if err != nil {
			t.Fatal(err)
		}
		g := NewGraph(backend.MustGet(), "forward")
		model.SetStore(g, m.Store())
		m.Build(Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 3, 32, 32)), tc.layer)
		muls := 0
		for _, n := range g.Nodes() {
			if n.Type() == NodeTypeMul {
				muls++
			}
		}
		g.Finalize()
		if muls != 0 || len(m.folded) == 0 {
			t.Errorf("%s to %s: %d products in the graph, %d folded convolutions; want 0 and more", tc.arch, tc.layer, muls, len(m.folded))
		}
	}
}

func TestFoldBN(t *testing.T) {
	// Kernel [1,1,2 in,2 out] (HWIO: out fastest), bias, scale, shift.
	w, bias := []float32{1, 2, 3, 4}, []float32{0.5, -1}
	shift := []float32{10, 20}
	unscale, ok := foldBN(w, bias, []float32{2, 0.5}, shift)
	if !ok || !slices.Equal(w, []float32{2, 1, 6, 2}) || !slices.Equal(shift, []float32{11, 19.5}) || !slices.Equal(unscale, []float32{0.5, 2}) {
		t.Errorf("foldBN: ok %v, w %v, shift %v, unscale %v", ok, w, shift, unscale)
	}
	w, shift = []float32{1, 2}, []float32{3, 4}
	if _, ok := foldBN(w, nil, []float32{1, 0}, shift); ok || !slices.Equal(w, []float32{1, 2}) || !slices.Equal(shift, []float32{3, 4}) {
		t.Errorf("foldBN with a zero scale: ok %v, w %v, shift %v; want false and nothing changed", ok, w, shift)
	}
}

// TestKeptCopies checks that on the pure-Go backend the model keeps the
// copies of its kernels that its convolutions multiply by (see
// nn.SetKeeper), made once for all its graphs: for a forward pass only
// the F(2×2, 3×3) transforms of the stride-1 3×3 kernels of 128 channels
// and more over at least 3 output rows, for input gradients the others
// too.
func TestKeptCopies(t *testing.T) {
	b := backend.MustGet()
	if !backend.IsGo(b) {
		t.Skip("copies are kept for the pure-Go backend only")
	}
	m, err := Random("resnet18", 0)
	if err != nil {
		t.Fatal(err)
	}
	x := bench.Input(m, 1, 64)
	if _, err := cnn.Activations(b, m, x, "layer4"); err != nil {
		t.Fatal(err)
	}
	// layer2–3's stride-1 3×3 convolutions, 3 each (layer4 has 2 rows at
	// 64²).
	if n := m.copies.Len(); n != 6 {
		t.Fatalf("a forward pass made %d copies, want 6", n)
	}
	count := m.copies.Len
	if _, _, err := cnn.MeanGradient(b, m, x, "layer4"); err != nil {
		t.Fatal(err)
	}
	// wᵀ of the 1×1 downsamples and the strided 3×3 convolutions of
	// layer2–4 (6), the transposed convolution's kernel of the stride-1
	// 3×3 ones (3 in each of layer2–3 as its F(2×2, 3×3) transform, 4 in
	// layer1 and 3 in layer4 as a matrix); the stem has its own gradient
	// (space-to-depth).
	n := count()
	if n != 25 {
		t.Errorf("%d copies, want 25", n)
	}
	if _, _, err := cnn.MeanGradient(b, m, x, "layer3"); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != n {
		t.Errorf("a second graph made copies again: %d, then %d", n, got)
	}
}
