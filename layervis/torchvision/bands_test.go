package torchvision

import (
	"fmt"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/bench"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/bandcheck"
)

// TestBands checks that cnn.Build builds an image in bands where the
// backend has more cores than the batch has images, and that the
// activations (every kind of layer, the unfolded outputs of folded
// convolutions included) and the input gradient of a loss of them all
// match the model built whole.
//
// Banded products may round differently from whole ones (by 1e-7), and
// where that puts a pre-activation on the other side of 0 the ReLU passes
// the gradient in one build and not in the other: ResNet-50 at 96² in 3
// bands has one such unit in layer2.0.bn1 (2.4e-7 against -6e-8), which
// moves the input gradient by 0.9%. The cases here have none.
func TestBands(t *testing.T) {
	b := backend.MustGet()
	if backend.Branches(b) < 2 {
		t.Skip("the backend builds no branches:", backend.Describe(b))
	}
	cases := []struct {
		arch        string
		cores, size int
		batch       int
		layers      []string
		bands       []int  // per part
		bandRows    string // cnn.BandRowsEnvVar; "": unset
	}{
		{"resnet18", 3, 336, 1, []string{"conv1", "relu:in", "maxpool", "layer1.0.conv2", "layer2.0.downsample.0", "layer2.0.bn1", "layer3", "layer4"}, []int{3}, ""},
		{"resnet50", 2, 128, 1, []string{"layer1.0.relu", "layer2.0.conv2", "layer3.1", "layer4", "fc"}, []int{2}, ""},
		{"resnet50", 4, 144, 2, []string{"layer2", "layer4"}, []int{2, 2}, ""},
		{"resnet50", 2, 195, 1, []string{"maxpool", "layer2.0", "layer4"}, []int{2}, ""}, // odd rows at every stage
		{"vgg11_bn", 2, 128, 1, []string{"features.0", "features.3", "features.10:in", "features"}, []int{2}, ""},
		{"resnet18", 2, 192, 1, []string{"layer4"}, []int{1}, ""}, // fewer than 112 rows per band
		// More cores, thinner bands (bandRows): 16 rows on 8 cores, 32 on
		// 4, 28 for ResNet-18 on 8, where 2 cores' rows would give 2, 2
		// and 1 bands.
		{"resnet50", 8, 128, 1, []string{"layer1.0.relu", "layer3", "layer4"}, []int{8}, ""},
		{"resnet50", 4, 128, 1, []string{"layer1.0.relu", "layer3", "layer4"}, []int{4}, ""},
		{"resnet18", 8, 112, 1, []string{"layer2.1", "layer4"}, []int{4}, ""},
		{"resnet18", 4, 168, 1, []string{"maxpool", "layer4"}, []int{1}, ""}, // basic ResNets keep 112 rows below 8 cores
		// Set rows per band: 4 bands of 32 rows on 8 cores, one row
		// each at layer4; 2 of 48 where 64 would give one.
		{"resnet18", 8, 128, 1, []string{"maxpool", "layer2.0", "layer4"}, []int{4}, "32"},
		{"resnet50", 2, 96, 1, []string{"layer3", "layer4"}, []int{2}, "48"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%dcores/%d²×%d", tc.arch, tc.cores, tc.size, tc.batch), func(t *testing.T) {
			if tc.bandRows != "" {
				t.Setenv(cnn.BandRowsEnvVar, tc.bandRows)
			}
			m, err := Random(tc.arch, 2)
			if err != nil {
				t.Fatal(err)
			}
			bandcheck.Compare(t, bandcheck.NewProbe(m, m.bands), bench.Input(m, tc.batch, tc.size), tc.cores, tc.bands, nil, tc.layers...)
		})
	}
}

// TestBandRows checks the least rows of a band by cores: the 2-core rows
// on 1 or 2 cores, then 64·2/cores, down to a quarter of them; for the
// basic ResNets only from 8 cores.
func TestBandRows(t *testing.T) {
	for _, tc := range []struct {
		basic       bool
		cores, want int
	}{
		{false, 1, 64}, {false, 2, 64}, {false, 3, 42}, {false, 4, 32}, {false, 8, 16}, {false, 16, 16}, {false, 64, 16},
		{true, 2, 112}, {true, 4, 112}, {true, 7, 112}, {true, 8, 28}, {true, 32, 28},
	} {
		if got := bandRows(tc.basic, tc.cores); got != tc.want {
			t.Errorf("bandRows(basic %v, %d cores) = %d, want %d", tc.basic, tc.cores, got, tc.want)
		}
	}
}

// TestBandRowsEnvVar checks that a cnn.BandRowsEnvVar value that is not a whole
// number ≥ 1 is an error that names the variable and what it wants, not a
// panic.
func TestBandRowsEnvVar(t *testing.T) {
	b := backend.MustGet()
	m, err := Random("resnet18", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0", "-3", "many", "32 rows"} {
		t.Run(v, func(t *testing.T) {
			t.Setenv(cnn.BandRowsEnvVar, v)
			_, err := cnn.Activations(b, m, bench.Input(m, 1, 32), "layer1")
			if err == nil || !strings.Contains(err.Error(), cnn.BandRowsEnvVar) || !strings.Contains(err.Error(), "whole number") {
				t.Errorf("%s=%q: error %v, want one naming the variable and a whole number", cnn.BandRowsEnvVar, v, err)
			}
		})
	}
}
