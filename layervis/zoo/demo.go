package zoo

import (
	"path/filepath"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/tfjs"
)

// DemoName is the name of the demo model ([Open]("demo", "")).
const DemoName = "demo"

// DemoClassLogits is the demo model's class layer: 80 pre-sigmoid heatmaps,
// one per COCO class (channel order of [assets.COCONames]), at a quarter
// of the input resolution ([80, 128, 128] for a 512×512 input).
const DemoClassLogits = "tower_0/CenternetHead/centernet_cls_output/BiasAdd"

// DemoInput is the demo model's input: RGB in [0, 255] without
// normalization, 512×512 by default, sides a multiple of 32.
var DemoInput = cnn.Input{Channels: 3, Order: "RGB", Range: [2]float32{0, 255}, Size: 512, MinSize: 32, Multiple: 32}

// DemoDescription says what the demo model is and is for.
const DemoDescription = "CenterNet object detector with a MobileNetV3 backbone (ImageNet-initialised), " +
	"trained on COCO 2017 (80 object classes); TF.js graph model from npm @vladmandic/human@3.3.6 (MIT), " +
	"upstream github.com/610265158/mobilenetv3_centernet. It is a detector, not an ImageNet classifier: " +
	"its class layer " + DemoClassLogits + " holds one pre-sigmoid heatmap per COCO class at 1/4 of the input size."

// Demo is the demo model: a TF.js graph model that also suggests default
// layers (cnn.LayerDefaults).
type Demo struct {
	*tfjs.Model
}

var _ cnn.LayerDefaults = Demo{}

// DefaultLayers returns the default target and penalty layers, chosen as for
// torchvision's ResNets (the last stage's output and the input of its last
// convolution): the backbone's final features,
// tower_0/extern1/hard_swish/mul_1 (480 channels at 1/32 of the input), and
// the input of the 1×1 convolution that computes them (the output of
// MobileNetV3 block 14, 120 channels).
func (Demo) DefaultLayers() (target, penalty string) {
	return "tower_0/extern1/hard_swish/mul_1", "tower_0/extern1/BatchNorm/FusedBatchNorm" + cnn.InputSuffix
}

// OpenDemo loads the demo model from the asset cache (see package assets):
// a COCO object detector with a MobileNetV3 backbone, see [DemoDescription].
// Layers keep their TF node names; [DemoClassLogits] is labelled with the
// COCO class names. It fails, saying to run scripts/fetch-assets.sh, when
// the files are missing.
func OpenDemo() (Demo, error) {
	dir, err := assets.DemoModel()
	if err != nil {
		return Demo{}, err
	}
	names, err := assets.COCONames()
	if err != nil {
		return Demo{}, err
	}
	in := DemoInput
	m, err := tfjs.LoadWith(filepath.Join(dir, "centernet.json"), tfjs.Options{
		Name:        DemoName,
		Description: DemoDescription,
		Input:       &in,
		Labels:      map[string][]string{DemoClassLogits: names},
	})
	return Demo{m}, err
}
