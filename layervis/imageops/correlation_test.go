package imageops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGreyCorrelation checks the grey-level correlation against its
// defining cases: an image with itself and with a brighter, contrastier
// copy (1), with its negative (−1), with unrelated noise (near 0), and a
// value computed by hand.
func TestGreyCorrelation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const w, h = 16, 12
	a := make([]float32, w*h*3)
	for i := range a {
		a[i] = rng.Float32()
	}
	affine, neg, noise := make([]float32, len(a)), make([]float32, len(a)), make([]float32, len(a))
	for i, v := range a {
		affine[i], neg[i], noise[i] = 2*v+0.3, 1-v, rng.Float32()
	}
	for _, c := range []struct {
		name string
		b    []float32
		want float64
		tol  float64
	}{
		{"self", a, 1, 1e-9},
		{"affine", affine, 1, 1e-6},
		{"negative", neg, -1, 1e-6},
		{"noise", noise, 0, 0.2},
	} {
		if got := GreyCorrelation(a, c.b, w, h, 3); math.Abs(got-c.want) > c.tol {
			t.Errorf("%s: %.4f, want %.4f", c.name, got, c.want)
		}
	}
	// Two 2×1 grey images: grey levels (1, 2) and (1, 3) correlate 1;
	// (1, 2, 3) with (1, 3, 2) over three pixels: 0.5.
	if got := GreyCorrelation([]float32{1, 2, 3}, []float32{1, 3, 2}, 3, 1, 1); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("by hand: %.6f, want 0.5", got)
	}
}
