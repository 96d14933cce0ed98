// Package bench times the unit of work of feature visualization — a
// forward pass to a layer, the gradient of the layer's mean activation
// w.r.t. the input, and an update of the input — for the benchmarks and
// examples/bench.
package bench

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/memstat"
)

// Compile compiles the step x ← x + lr·∂mean(layer)/∂x for m on backend b
// (a batch built as cnn.Build builds it).
// It returns the new x and mean(layer) before the step: reading that scalar
// waits for the step without copying x back to the host, so x can stay on
// the accelerator from step to step.
func Compile(b compute.Backend, m cnn.Model, layer string, lr float64) (*model.Exec, error) {
	if err := cnn.Check(m, layer); err != nil {
		return nil, err
	}
	return model.NewExec(b, m.Store(), func(_ *model.Scope, x *Node) (*Node, *Node) {
		mean := ReduceAllMean(cnn.Build(m, x, layer)[0])
		return Add(x, MulScalar(Gradient(mean, x)[0], lr)), mean
	})
}

// Input returns a seeded random NCHW batch for m: values uniform over the
// model's pixel range, normalized as the model expects.
func Input(m cnn.Model, batch, size int) *tensors.Tensor {
	in := m.Input()
	rng := rand.New(rand.NewPCG(1, 1))
	data := make([]float32, batch*in.Channels*size*size)
	plane := size * size
	for i := range data {
		data[i] = in.Normalize(rng.Float32(), (i/plane)%in.Channels)
	}
	return tensors.FromFlatDataAndDimensions(data, batch, in.Channels, size, size)
}

// CPUTime returns the process's user+system CPU time: on a shared machine
// it varies less than wall time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS returns the process's peak resident set in bytes (0 if unknown).
func PeakRSS() int64 { return memstat.PeakRSS() }

// Benchmark runs the step of m at layer on a size² batch of one image as a
// Go benchmark, reporting CPU milliseconds per step beside the wall time.
func Benchmark(b *testing.B, be compute.Backend, m cnn.Model, layer string, size int) {
	step, err := Compile(be, m, layer, 0.01)
	if err != nil {
		b.Fatal(err)
	}
	x := step.MustExec(Input(m, 1, size))[0] // compile and warm up
	b.ResetTimer()
	cpu0 := CPUTime()
	for b.Loop() {
		out := step.MustExec(x)
		x = out[0]
		tensors.MustCopyFlatData[float32](out[1]) // wait for the step
	}
	b.ReportMetric((CPUTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
}
