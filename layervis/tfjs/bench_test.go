package tfjs

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
)

// BenchmarkDemoStep times one feature-visualization step of the demo model,
// batch 1: forward to the output of MobileNetV3 block expanded_conv_9, the
// gradient of its mean w.r.t. the input, and an update, at 256² and 512².
func BenchmarkDemoStep(b *testing.B) {
	m := requireDemo(b)
	const layer = "tower_0/MobilenetV3/expanded_conv_9/add"
	for _, size := range []int{256, 512} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			step, err := model.NewExec(backend.MustGet(), m.Store(), func(_ *model.Scope, x *Node) *Node {
				a := m.Build(x, layer)[0]
				return Add(x, MulScalar(Gradient(ReduceAllMean(a), x)[0], 1e4))
			})
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			data := make([]float32, 3*size*size)
			for i := range data {
				data[i] = 255 * rng.Float32()
			}
			x := tensors.FromFlatDataAndDimensions(data, 1, 3, size, size)
			x = step.MustExec(x)[0] // compile and warm up
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				x = step.MustExec(x)[0]
				tensors.MustCopyFlatData[float32](x)
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime returns the process's user+system CPU time: on a shared machine
// it varies less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
