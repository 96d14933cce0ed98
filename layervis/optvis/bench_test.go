package optvis

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/torchvision"
)

// BenchmarkRenderStep times one render step as the speed check
// defines it: 4 images of 128², Fourier + decorrelated colour + sigmoid,
// lucid's standard transforms, a channel of ResNet-18's last stage
// (random weights), Adam; on the configured backend (pure Go unless
// GOMLX_BACKEND says otherwise). It reports ms/step, compilation and the
// first step excluded, for the step with true ReLU gradients ("true", every
// step of a render after the first RedirectSteps, and what
// testdata/bench_step.py times in PyTorch) and for the step with redirected
// ones ("redirected", a render's first RedirectSteps steps):
//
//	go test -run '^$' -bench RenderStep -benchtime 20x ./layervis/optvis/
//	/usr/bin/python3 layervis/optvis/testdata/bench_step.py --steps 20
func BenchmarkRenderStep(b *testing.B) {
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, redirected := range []bool{false, true} {
		name := "true"
		if redirected {
			name = "redirected"
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			var n, wrong int
			r := Render(context.Background(), backend.MustGet(), m, Channel("layer4.1", 7)).
				Size(128).Batch(4).Steps(b.N + 1).RedirectReLU(0)
			if redirected {
				r = r.RedirectReLU(b.N + 1)
			}
			_, err := r.Progress(func(e Event) {
				if e.Stage == StageOptimize && e.Step > 1 {
					if e.Redirected != redirected {
						wrong++
					}
					total += e.StepTime
					n++
				}
			}).Done()
			if err != nil {
				b.Fatal(err)
			}
			if wrong > 0 {
				b.Fatalf("%d of %d steps took the other gradient (redirected %v wanted)", wrong, n, redirected)
			}
			if n > 0 {
				b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms/step")
			}
		})
	}
}

// BenchmarkResample times resample and its gradient alone, at the render
// step's size (4 images of 128², lucid's standard transforms); per op:
//
//	scripts/opprof.sh -shapes -run '^$' -bench Resample -benchtime 20x ./layervis/optvis/
func BenchmarkResample(b *testing.B) {
	const n, h, w = 4, 128, 128
	rng := rand.New(rand.NewPCG(1, 2))
	img := uniform(rng, n*3*h*w)
	s := newSampler(Standard(), n, h, w)
	exec := MustNewExec(backend.MustGet(), func(img, maps, r *Node) []*Node {
		out := resample(img, maps)
		return []*Node{out, Gradient(ReduceAllSum(Mul(out, r)), img)[0]}
	})
	r := tensors.FromFlatDataAndDimensions(randn(rng, n*3*h*w), n, 3, h, w)
	x := tensors.FromFlatDataAndDimensions(img, n, 3, h, w)
	for b.Loop() {
		m := tensors.FromFlatDataAndDimensions(flatMaps(s.maps(rng)), n, 6)
		for _, t := range exec.MustExec(x, m, r) {
			t.FinalizeAll()
		}
	}
}
