package mindseye

import (
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/torchvision"
)

// TestGraphPeak checks the simulation on a graph whose peak is known: x
// (a parameter, not counted) → a = x+1 and b = x·2 (both held) → c = a+b
// (a and b freed after it) → d = c·c, the output.
func TestGraphPeak(t *testing.T) {
	g := NewGraph(backend.MustGet(), "peak")
	defer g.Finalize()
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 1000))
	a := AddScalar(x, 1)
	b := MulScalar(x, 2)
	c := Add(a, b)
	d := Mul(c, c)
	Neg(d) // not needed by the output: not counted
	// Held at once: a, b and c while c is computed (12,000 bytes, plus the
	// scalar constants' broadcasts, if any, which are constants).
	got := graphPeak(g.Nodes(), []*Node{d})
	if got != 12000 {
		t.Errorf("graphPeak = %d, want 12000 (a, b and c of 4000 bytes)", got)
	}
}

// TestEstimateMemory checks that the estimate grows with the images and the
// size.
func TestEstimateMemory(t *testing.T) {
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Compat()
	cfg.Model = m
	cfg.Backend = backend.MustGet()
	cfg.Target, cfg.Penalty = m.DefaultLayers()
	b := cfg.Backend
	peak := func(n, size int) int64 {
		spec := specFor(&cfg, 4)
		spec.jitter = true
		p, err := stepPeak(b, spec, n, size, 512, size*6/5)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// An image's part grows ×4 with 4× the pixels, so going from 64² to 128²
	// adds about 3 times what a second image adds (exactly 3 if the part that
	// does not grow with the images stays the same; it is small now that the
	// kernels are no longer copied, so the ratio is not padded by it).
	p1, p2, big := peak(1, 64), peak(2, 64), peak(1, 128)
	if r := float64(big-p1) / float64(p2-p1); p1 <= 0 || p2 <= p1 || r < 2.5 || r > 3.5 {
		t.Errorf("peaks: 1 image %d, 2 images %d, 1 image at 128² %d: want growth with images, about ×4 per image at 4× the pixels", p1, p2, big)
	}
	// The activations alone: ResNet-18's layer1 at 64² holds 64×16×16
	// floats per module output; the step holds far more than one of them.
	if p1 < 64*16*16*4*10 {
		t.Errorf("peak for one 64² image %d bytes: implausibly small", p1)
	}
	mem, err := estimateMemory(b, specFor(&cfg, 4), 64, 512, 76)
	if err != nil {
		t.Fatal(err)
	}
	if mem.perImage <= 0 || mem.bytes(2) != mem.fixed+2*mem.perImage {
		t.Errorf("memory model %+v", mem)
	}
}

// TestFitError checks the refusal when the step cannot fit: it names the
// estimate, the memory available and a size that fits; with a forced
// micro-batch that one image would fit, it says to lower it.
func TestFitError(t *testing.T) {
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		t.Fatal(err)
	}
	r := &Run{cfg: Compat(), m: m, mem: memoryModel{perImage: 4e9, fixed: 1e9}}
	r.cfg.Size = 512
	if err := r.fitError(20e9); err != nil {
		t.Errorf("5 GB needed, 20 GB available: %v", err)
	}
	err = r.fitError(3e9)
	if err == nil {
		t.Fatal("5 GB needed, 3 GB available: no error")
	}
	// 3 GB·0.9 = 2.7 GB: 1 + 4·(s/512)² ≤ 2.7 for s ≤ 333, so 320 (a
	// multiple of 32, as ResNet takes).
	for _, want := range []string{"5.0 GB", "3.0 GB", "-size 320", "Clusters"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	r.cfg.MicroBatch = 4
	if err := r.fitError(10e9); err == nil || !strings.Contains(err.Error(), "-micro-batch") {
		t.Errorf("4 images (17 GB) in 10 GB: %v, want a hint to lower -micro-batch", err)
	}
	bad := Clean()
	bad.MicroBatch = -1
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "MicroBatch") {
		t.Errorf("MicroBatch -1: %v", err)
	}
}
