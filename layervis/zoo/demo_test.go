package zoo

import (
	"slices"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
)

// TestDemo checks what OpenDemo adds to the TF.js model: its name and
// description, its input convention, its default layers (at the shapes the
// Mind's Eye expects) and the COCO labels of its class layer. (tfjs's tests
// check the graph itself against TensorFlow.js.)
func TestDemo(t *testing.T) {
	requireAssets(t)
	m, err := OpenDemo()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != DemoName || !strings.Contains(m.Describe(), "not an ImageNet classifier") {
		t.Errorf("Name %q, Describe %q", m.Name(), m.Describe())
	}
	if in := m.Input(); in.Range != [2]float32{0, 255} || in.Size != 512 || in.Multiple != 32 || len(in.Mean) != 0 {
		t.Errorf("Input() = %+v", in)
	}
	var d cnn.LayerDefaults = m
	target, penalty := d.DefaultLayers()
	shapes, err := cnn.Shapes(backend.MustGet(), m, 512, 512, target, penalty)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shapes[0], []int{480, 16, 16}) || !slices.Equal(shapes[1], []int{120, 16, 16}) {
		t.Errorf("DefaultLayers %s, %s: shapes %v, want [480 16 16] and [120 16 16]", target, penalty, shapes)
	}
	ls, err := m.Layers(512, 512)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ls, func(l cnn.Layer) bool { return l.Name == DemoClassLogits })
	if i < 0 {
		t.Fatalf("no layer %s", DemoClassLogits)
	}
	if labels := ls[i].Labels; len(labels) != 80 || labels[15] != "cat" || labels[16] != "dog" || labels[17] != "horse" {
		t.Errorf("class labels: %d names, 15–17 = %v", len(labels), labels[min(15, len(labels)):min(18, len(labels))])
	}
}
