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
