// Package zoo opens a model by the name a user types: a built-in
// architecture ("resnet50", "vgg16_bn") with an optional weights file.
package zoo

import (
	"fmt"

	"github.com/layervis/layervis/layervis/cnn"
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
// the architecture gets random weights, which Info says.
func Open(name, weights string) (cnn.Model, Info, error) {
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
	return nil, Info{}, fmt.Errorf("unknown model %q: use a built-in architecture (%v) with -weights FILE", name, torchvision.Archs())
}
