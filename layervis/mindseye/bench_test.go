package mindseye

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/internal/memstat"
	"github.com/layervis/layervis/layervis/torchvision"
)

// benchCase is the iteration benchmarked: a random-weight torchvision
// model with K images of size² and n = 50 channels per facet, ResNet-18,
// K = 4, 128² unless MINDSEYE_BENCH="arch,K,size" says otherwise
// (scripts/bench-mindseye.sh passes the same case to PyTorch).
func benchCase(b *testing.B) (arch string, k, size int) {
	arch, k, size = "resnet18", 4, 128
	if v := os.Getenv("MINDSEYE_BENCH"); v != "" {
		parts := strings.Split(v, ",")
		var err1, err2 error
		if len(parts) == 3 {
			arch = parts[0]
			k, err1 = strconv.Atoi(parts[1])
			size, err2 = strconv.Atoi(parts[2])
		}
		if len(parts) != 3 || err1 != nil || err2 != nil || k <= 0 || size <= 0 {
			b.Fatalf("MINDSEYE_BENCH=%q: want arch,K,size, e.g. resnet50,10,224", v)
		}
	}
	return arch, k, size
}

// BenchmarkStep times the compiled step of one iteration for K images
// (forward to the target and penalty layers, loss, input gradient, mask,
// update, quantization; compat loss) on the configured backend, pure Go
// unless GOMLX_BACKEND says otherwise, in micro-batches chosen from the
// memory available as a run chooses them. It reports the micro-batch and
// the process's peak resident set beside the time.
func BenchmarkStep(b *testing.B) {
	arch, k, size := benchCase(b)
	m, err := torchvision.Random(arch, 1)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Compat()
	cfg.Model = m
	cfg.Backend = backend.MustGet()
	cfg.Target, cfg.Penalty = m.DefaultLayers()
	be := cfg.Backend
	shp, err := cnn.Shapes(be, m, size, size, cfg.Target)
	if err != nil {
		b.Fatal(err)
	}
	c := shp[0][0]
	in := randomStepInputs(k, size, c, min(50, c), 1)
	cfg.Size, cfg.Clusters = size, k
	cfg.Scale = 1 // no canvas: the step alone
	r := &Run{cfg: cfg, m: m, b: be, c: c, k: k}
	if err := r.estimateStep(); err != nil {
		b.Fatal(err)
	}
	micro, err := r.microBatch()
	if err != nil {
		b.Fatal(err)
	}
	h := &host{k: k, size: size, cur: in.pixels}
	st, err := newStepper(be, specFor(&cfg, k), h, in.target, channelWeights(in.sets, c, true), c, micro)
	if err != nil {
		b.Fatal(err)
	}
	defer st.finalize()
	mask := imageops.GaussianMask(size, size, 420*float64(size)/referenceSize)
	if _, err := st.step(mask, 0.5, 1e-4, 0, 0); err != nil { // compile, warm up
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.step(mask, 0.3, 3e-4, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(k)*float64(b.N)/b.Elapsed().Seconds(), "image-steps/s")
	b.ReportMetric(float64(st.micro()), "micro-batch")
	b.ReportMetric(float64(memstat.PeakRSS())/1e6, "peak-RSS-MB")
	b.ReportMetric(float64(r.mem.bytes(st.micro()))/1e6, "estimate-MB")
}

// BenchmarkHost times the host regularizers of the reference's 10-iteration
// cycle (one op): the jitter offsets and the mask every iteration, the blur
// and the TV denoising on the 10th (the paste into the jitter canvas is
// part of the step). It also reports the mean per iteration
// (ns/iteration).
func BenchmarkHost(b *testing.B) {
	_, k, size := benchCase(b)
	in := randomStepInputs(k, size, 1, 1, 1)
	h := &host{k: k, size: size, cur: in.pixels, rng: newRNG(1)}
	if err := h.newCanvas(1.2, 0.4); err != nil {
		b.Fatal(err)
	}
	cfg := Clean()
	for b.Loop() {
		for i := 1; i <= 10; i++ {
			h.offsets()
			mask1 := imageops.GaussianMask(size, size, 400*float64(size)/referenceSize)
			if i == 10 {
				mask2 := invert(mask1)
				h.blurBlend(mask1, mask2, 0.5, 0)
				h.denoiseBlend(mask1, mask2, 5, cfg.DenoiseMaxIter, cfg.DenoiseEps)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(10*b.N), "ns/iteration")
}
