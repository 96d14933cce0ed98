package tfjs

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/pyref"
	"github.com/layervis/layervis/layervis/photo"
)

// demoBatch loads demo photos, fitted to size×size, as the demo model's
// NCHW input.
func demoBatch(t testing.TB, m cnn.Model, size int, names ...string) *tensors.Tensor {
	t.Helper()
	imgs := make([]*photo.RGB, len(names))
	for i, n := range names {
		p, err := assets.DemoPhoto(n)
		if err != nil {
			skipOrFail(t, "CI must fetch the demo assets first: run scripts/fetch-assets.sh", "%v", err)
		}
		img, err := photo.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = cnn.Fit(img, size)
	}
	return cnn.Batch(m.Input(), imgs...)
}

// TestDemoCatalogue checks the demo model's layer catalogue: kinds and
// shapes at 512×512 and other sizes, and the layers left out with a reason.
// (zoo's tests check what package zoo adds: its name, input, default layers
// and class labels.)
func TestDemoCatalogue(t *testing.T) {
	m := requireDemo(t)
	ls, err := m.Layers(512, 512)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cnn.Layer{}
	for _, l := range ls {
		byName[l.Name] = l
		if l.Kind == "Const" {
			t.Errorf("constant %s in the catalogue", l.Name)
		}
	}
	// Shapes from the model's own signature and offline-assets.md section D.
	for _, tc := range []struct {
		name, kind string
		shape      []int
	}{
		{"tower_0/images", "Placeholder", []int{3, 512, 512}},
		{"tower_0/MobilenetV3/expanded_conv/add", "Add", []int{16, 256, 256}},
		{"tower_0/MobilenetV3/expanded_conv_1/project/BatchNorm/FusedBatchNorm", "_FusedConv2D", []int{24, 128, 128}},
		{"tower_0/MobilenetV3/expanded_conv_14/add", "Add", []int{120, 16, 16}},
		{"tower_0/extern1/hard_swish/mul_1", "Mul", []int{480, 16, 16}},
		{"tower_0/CenternetHead/Relu_2", "Relu", []int{128, 128, 128}},
		{demoClassLogits, "_FusedConv2D", []int{80, 128, 128}},
		{"tower_0/keypoints", "Identity", []int{80, 128, 128}},
		{"tower_0/wh", "Identity", []int{4, 128, 128}},
	} {
		l, ok := byName[tc.name]
		if !ok {
			t.Errorf("no layer %s", tc.name)
			continue
		}
		if l.Kind != tc.kind || !slices.Equal(l.Shape, tc.shape) {
			t.Errorf("%s: %s %v, want %s %v", tc.name, l.Kind, l.Shape, tc.kind, tc.shape)
		}
	}
	// The post-processing (TopKV2 and friends) is not a layer, with a reason.
	if err := m.LayerError("tower_0/detections"); err == nil || !strings.Contains(err.Error(), "not support") {
		t.Errorf("LayerError(tower_0/detections) = %v", err)
	}
	// At 256, the decoding Reshape hard-coded for 512 is left out of the
	// catalogue; the network's layers remain.
	small, err := m.Layers(256, 256)
	if err != nil {
		t.Fatal(err)
	}
	if len(small) != len(ls)-1 || small[len(small)-1].Name == "tower_0/BatchGather/Reshape_2" {
		t.Errorf("%d layers at 256, %d at 512, last %v", len(small), len(ls), small[len(small)-1])
	}
	// Other input sizes: the upsampling doubles whatever comes in.
	shapes, err := cnn.Shapes(backend.MustGet(), m, 224, 320, demoClassLogits)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shapes[0], []int{80, 56, 80}) {
		t.Errorf("class logits at 224x320: %v, want [80 56 80]", shapes[0])
	}
}

// TestDemoMatchesTFJS compares layervis with TensorFlow.js on a demo photo
// at backbone, neck and head layers. It runs at 512×512, the only size
// TF.js accepts for this model (its placeholder and upsampling sizes are
// fixed); TF.js's pure-JS backend takes about 10 s for it.
func TestDemoMatchesTFJS(t *testing.T) {
	m := requireDemo(t)
	requireTFJS(t)
	x := demoBatch(t, m, 512, "dog.jpg")
	nhwc, _ := toNHWC(t, x)
	layers := []string{
		"tower_0/MobilenetV3/expanded_conv_2/add",
		"tower_0/MobilenetV3/expanded_conv_9/add",
		"tower_0/extern1/hard_swish/mul_1",
		"tower_0/CenternetHead/Relu_2",
		demoClassLogits,
	}
	want, wantShapes := runTFJS(t, m.Source(), nhwc, [4]int{1, 512, 512, 3}, layers...)
	got, err := cnn.Activations(backend.MustGet(), m, x, layers...)
	if err != nil {
		t.Fatal(err)
	}
	for k, l := range layers {
		g, shape := toNHWC(t, got[k])
		if !slices.Equal(shape, wantShapes[k]) {
			t.Errorf("%s: shape %v, TF.js %v", l, shape, wantShapes[k])
			continue
		}
		e := pyref.RelErr(g, want[k])
		t.Logf("%s %v: max |layervis − TF.js| / max |TF.js| = %.2g", l, shape, e)
		if e > 1e-3 {
			t.Errorf("%s: relative error %.2g vs TF.js, want ≤ 1e-3", l, e)
		}
	}
}

// TestDemoSeparable checks that the demo's layers that the examples and
// notebooks use are per image (cnn.Build then builds a batch in parts), and
// that its detection decoding, which gathers over the batch, is not.
func TestDemoSeparable(t *testing.T) {
	m := requireDemo(t)
	for _, l := range []string{"tower_0/MobilenetV3/expanded_conv_9/add", "tower_0/extern1/hard_swish/mul_1",
		"tower_0/CenternetHead/Relu_2", demoClassLogits} {
		if !m.Separable(l) {
			t.Errorf("Separable(%q) = false, want true", l)
		}
	}
	if m.Separable("tower_0/Reshape") {
		t.Error(`Separable("tower_0/Reshape") = true, want false`)
	}
}

// TestDemoFindsAnimals checks the detector on real photos at 512×512: the
// spatial maximum of the right class logit ranks in the top 5 of 80.
func TestDemoFindsAnimals(t *testing.T) {
	m := requireDemo(t)
	photos := []string{"dog.jpg", "horses.jpg", "cat.jpg"}
	classes := []int{16, 17, 15} // dog, horse, cat in coco.names
	x := demoBatch(t, m, 512, photos...)
	out, err := cnn.Activations(backend.MustGet(), m, x, demoClassLogits)
	if err != nil {
		t.Fatal(err)
	}
	data, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		t.Fatal(err)
	}
	names, _ := assets.COCONames()
	hw := 128 * 128
	for i, p := range photos {
		peak := make([]float32, 80)
		for c := range 80 {
			peak[c] = slices.Max(data[(i*80+c)*hw : (i*80+c+1)*hw])
		}
		order := make([]int, 80)
		for c := range order {
			order[c] = c
		}
		slices.SortFunc(order, func(a, b int) int {
			switch {
			case peak[a] > peak[b]:
				return -1
			case peak[a] < peak[b]:
				return 1
			}
			return a - b
		})
		top := make([]string, 5)
		for k, c := range order[:5] {
			top[k] = fmt.Sprintf("%s %.2f", names[c], peak[c])
		}
		t.Logf("%s: %s", p, strings.Join(top, ", "))
		if rank := slices.Index(order, classes[i]); rank >= 5 {
			t.Errorf("%s: %s ranks %d of 80 (top 5: %s)", p, names[classes[i]], rank+1, strings.Join(top, ", "))
		}
	}
}
