package cnn

import (
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/internal/pyref"
	"github.com/layervis/layervis/layervis/photo"
)

// TestImageNet checks ImageNet's statistics and default size against
// torchvision's own preprocessing (ResNet18_Weights.IMAGENET1K_V1.transforms),
// and that each call returns new slices.
func TestImageNet(t *testing.T) {
	var ref struct {
		Mean, Std []float32
		Size      int
	}
	if err := json.Unmarshal([]byte(pyref.Run(t, filepath.Join("testdata", "imagenet.py"))), &ref); err != nil {
		t.Fatal(err)
	}
	in := ImageNet()
	if in.Channels != 3 || in.Order != "RGB" || in.Range != [2]float32{0, 1} {
		t.Errorf("ImageNet() = %+v, want 3 RGB channels in [0,1]", in)
	}
	if !slices.Equal(in.Mean, ref.Mean) || !slices.Equal(in.Std, ref.Std) || in.Size != ref.Size {
		t.Errorf("ImageNet() mean %v std %v size %d, torchvision's %v %v %d", in.Mean, in.Std, in.Size, ref.Mean, ref.Std, ref.Size)
	}
	in.Mean[0], in.Std[0] = 9, 9
	if again := ImageNet(); again.Mean[0] != ref.Mean[0] || again.Std[0] != ref.Std[0] {
		t.Errorf("changing one ImageNet()'s slices changed the next: %v %v", again.Mean, again.Std)
	}
}

func TestClosest(t *testing.T) {
	names := []string{"conv1", "layer4.1.conv1", "layer4.1.conv2", "layer4.1.bn2", "layer3.1.conv2", "fc"}
	cases := []struct {
		name  string
		first string
	}{
		{"layer4.1.conv3", "layer4.1.conv1"},
		{"layer4.1.conv", "layer4.1.conv1"},
		{"FC", "fc"},
		{"layer3.1.conv2x", "layer3.1.conv2"},
	}
	for _, tc := range cases {
		got := Closest(tc.name, names, 3)
		if len(got) != 3 || got[0] != tc.first {
			t.Errorf("Closest(%q) = %v, want %q first", tc.name, got, tc.first)
		}
	}
	err := UnknownLayerError("resnet18", "layer4.1.conv3:in", names)
	for _, w := range []string{`no layer "layer4.1.conv3:in"`, "layer4.1.conv1", "examples/layers"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not mention %q", err, w)
		}
	}
}

func TestNormalizeRoundTrip(t *testing.T) {
	tf := Input{Channels: 3, Order: "RGB", Range: [2]float32{0, 255}}
	for _, in := range []Input{ImageNet(), tf} {
		for c := range 3 {
			for _, v := range []float32{0, 0.25, 1} {
				n := in.Normalize(v, c)
				if back := in.Denormalize(n, c); math.Abs(float64(back-v)) > 1e-6 {
					t.Errorf("%v channel %d: %v → %v → %v", in.Range, c, v, n, back)
				}
			}
		}
	}
	if got := ImageNet().Normalize(1, 0); math.Abs(float64(got-(1-0.485)/0.229)) > 1e-6 {
		t.Errorf("ImageNet Normalize(1, R) = %v", got)
	}
	if got := tf.Normalize(0.5, 2); got != 127.5 {
		t.Errorf("0–255 Normalize(0.5) = %v, want 127.5", got)
	}
}

func TestCheckSize(t *testing.T) {
	in := Input{MinSize: 32, Multiple: 32}
	for _, tc := range []struct {
		h, w int
		ok   bool
	}{{64, 64, true}, {16, 64, false}, {64, 48, false}, {512, 512, true}} {
		if err := in.CheckSize(tc.h, tc.w); (err == nil) != tc.ok {
			t.Errorf("CheckSize(%d,%d) = %v", tc.h, tc.w, err)
		}
	}
}

func TestFitAndBatch(t *testing.T) {
	img := &photo.RGB{W: 6, H: 4, Pix: make([]float32, 6*4*3)}
	for i := range img.W * img.H {
		img.Pix[i*3], img.Pix[i*3+1], img.Pix[i*3+2] = 1, 0.5, 0 // orange
	}
	if got := Fit(img, 2); got.W != 2 || got.H != 2 {
		t.Fatalf("Fit 6x4 → 2: got %dx%d", got.W, got.H)
	}
	same := &photo.RGB{W: 2, H: 2, Pix: make([]float32, 12)}
	if Fit(same, 2) != same {
		t.Error("an image already at the size must be used as is")
	}
	rgb := Batch(Input{Channels: 3, Order: "RGB", Range: [2]float32{0, 255}}, Fit(img, 2), Fit(img, 2))
	bgr := Batch(Input{Channels: 3, Order: "BGR", Range: [2]float32{0, 255}}, Fit(img, 2))
	if d := rgb.Shape().Dimensions; !slices.Equal(d, []int{2, 3, 2, 2}) {
		t.Fatalf("batch shape %v", d)
	}
	r := tensors.MustCopyFlatData[float32](rgb)
	b := tensors.MustCopyFlatData[float32](bgr)
	if r[0] != 255 || r[4] != 127.5 || r[8] != 0 {
		t.Errorf("RGB planes start %v %v %v, want 255 127.5 0", r[0], r[4], r[8])
	}
	if b[0] != 0 || b[8] != 255 {
		t.Errorf("BGR planes start %v … %v, want 0 … 255", b[0], b[8])
	}
}
