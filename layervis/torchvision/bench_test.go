package torchvision

import (
	"testing"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/bench"
)

// BenchmarkStep times one feature-visualization step of ResNet-50 at 224²,
// batch 1: forward to layer4, gradient of its mean w.r.t. the input, update.
// scripts/bench.sh compares the same step with PyTorch.
func BenchmarkStep(b *testing.B) {
	m, err := Random("resnet50", 0)
	if err != nil {
		b.Fatal(err)
	}
	bench.Benchmark(b, backend.MustGet(), m, "layer4", 224)
}

// BenchmarkStem times the step of ResNet-50's stem alone (conv1, bn1 and
// relu) at 224², batch 1: the 7×7/2 convolution over 3 channels, whose
// pure-Go form nn.Conv2D chooses by cost (see scripts/opprof.sh).
func BenchmarkStem(b *testing.B) {
	m, err := Random("resnet50", 0)
	if err != nil {
		b.Fatal(err)
	}
	bench.Benchmark(b, backend.MustGet(), m, "relu", 224)
}
