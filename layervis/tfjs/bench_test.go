package tfjs

import (
	"fmt"
	"testing"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/bench"
)

// BenchmarkDemoStep times one feature-visualization step of the demo model,
// batch 1: forward to the output of MobileNetV3 block expanded_conv_9, the
// gradient of its mean w.r.t. the input, and an update, at 128², 256² and
// 512² (in bands of 128 rows from 256² where there are several cores).
func BenchmarkDemoStep(b *testing.B) {
	m := requireDemo(b)
	for _, size := range []int{128, 256, 512} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			bench.Benchmark(b, backend.MustGet(), m, "tower_0/MobilenetV3/expanded_conv_9/add", size)
		})
	}
}
