// Package zoo opens a model by the name a user types: a built-in
// architecture ("resnet50", "vgg16_bn") with an optional weights file, the
// offline demo model ("demo"), a TF.js graph model (a model.json file or a
// directory holding one) or an ONNX model (a .onnx file).
package zoo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/onnx"
	"github.com/layervis/layervis/layervis/tfjs"
	"github.com/layervis/layervis/layervis/torchvision"
)

// RandomSeed seeds the weights of a built-in architecture opened without a
// weights file.
const RandomSeed = 0

// Info describes where an opened model's weights came from.
type Info struct {
	Source string // checkpoint path, or a description such as "random weights (seed 0)"
	Random bool   // the weights are random: images show the architecture, nothing learned
}

// Open returns the model named name. For a built-in torchvision
// architecture, weights is a .pth/.safetensors checkpoint; with no weights
// the architecture gets random weights, which Info says. "demo" is the
// offline demo model, a COCO object detector with a MobileNetV3 backbone
// (see [OpenDemo]; fetch it with scripts/fetch-assets.sh). A path ending
// in .json, or a directory holding model.json, is a TF.js graph model. A
// path ending in .onnx is an ONNX model (see package onnx). The demo, TF.js
// and ONNX models carry their weights: weights must be empty.
func Open(name, weights string) (cnn.Model, Info, error) {
	if strings.HasSuffix(strings.ToLower(name), ".onnx") {
		if weights != "" {
			return nil, Info{}, fmt.Errorf("model %s carries its own weights; -weights is only for torchvision architectures", name)
		}
		m, err := onnx.Load(name)
		if err != nil {
			return nil, Info{}, err
		}
		return m, Info{Source: m.Path()}, nil
	}
	if name == DemoName || isTFJS(name) {
		if weights != "" {
			return nil, Info{}, fmt.Errorf("model %s carries its own weights; -weights is only for torchvision architectures", name)
		}
		if name == DemoName {
			d, err := OpenDemo()
			if err != nil {
				return nil, Info{}, err
			}
			return d, Info{Source: d.Source() + ": " + d.Describe()}, nil
		}
		m, err := tfjs.Load(name)
		if err != nil {
			return nil, Info{}, err
		}
		return m, Info{Source: m.Source() + ": " + m.Describe()}, nil
	}
	for _, a := range torchvision.Archs() {
		if a != name {
			continue
		}
		var m *torchvision.Model
		var err error
		if weights == "" {
			m, err = torchvision.Random(name, RandomSeed)
		} else {
			m, err = torchvision.Load(name, weights)
		}
		if err != nil {
			return nil, Info{}, err
		}
		return m, Info{Source: m.Source(), Random: m.IsRandom()}, nil
	}
	return nil, Info{}, fmt.Errorf("unknown model %q: use %q (the offline demo), a TF.js model.json (or its directory), a .onnx file, "+
		"or a built-in architecture (%v) with -weights FILE", name, DemoName, torchvision.Archs())
}

// isTFJS reports whether name is a path to a TF.js graph model: a .json
// file or a directory holding model.json.
func isTFJS(name string) bool {
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		return true
	}
	st, err := os.Stat(filepath.Join(name, "model.json"))
	return err == nil && !st.IsDir()
}
