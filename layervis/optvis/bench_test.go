package optvis

import (
	"context"
	"testing"
	"time"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/torchvision"
)

// BenchmarkRenderStep times one render step as the speed check
// defines it: 4 images of 128², Fourier + decorrelated colour + sigmoid,
// lucid's standard transforms, a channel of ResNet-18's last stage
// (random weights), Adam; on the configured backend (pure Go unless
// GOMLX_BACKEND says otherwise). It reports ms/step, compilation and the
// first step excluded. testdata/bench_step.py times the same step in
// PyTorch:
//
//	go test -run '^$' -bench RenderStep -benchtime 20x ./layervis/optvis/
//	/usr/bin/python3 layervis/optvis/testdata/bench_step.py --steps 20
func BenchmarkRenderStep(b *testing.B) {
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	var n int
	_, err = Render(context.Background(), backend.MustGet(), m, Channel("layer4.1", 7)).
		Size(128).Batch(4).Steps(b.N + 1).Progress(func(e Event) {
		if e.Stage == StageOptimize && e.Step > 1 {
			total += e.StepTime
			n++
		}
	}).Done()
	if err != nil {
		b.Fatal(err)
	}
	if n > 0 {
		b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms/step")
	}
}
