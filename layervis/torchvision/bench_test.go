package torchvision

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
)

// BenchmarkStep times one feature-visualization step of ResNet-50 at 224²,
// batch 1: forward to layer4, gradient of its mean w.r.t. the input, update.
// scripts/bench.sh compares the same step with PyTorch.
func BenchmarkStep(b *testing.B) {
	be := backend.MustGet()
	m, err := Random("resnet50", 0)
	if err != nil {
		b.Fatal(err)
	}
	step, err := model.NewExec(be, m.Store(), func(_ *model.Scope, x *Node) *Node {
		a := m.Build(x, "layer4")[0]
		return Add(x, MulScalar(Gradient(ReduceAllMean(a), x)[0], 0.01))
	})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	data := make([]float32, 3*224*224)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	x := tensors.FromFlatDataAndDimensions(data, 1, 3, 224, 224)
	x = step.MustExec(x)[0] // compile and warm up
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		x = step.MustExec(x)[0]
		tensors.MustCopyFlatData[float32](x)
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
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
