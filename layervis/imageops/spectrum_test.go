package imageops

import (
	"math"
	"testing"
)

// TestHighFrequencyShare compares the share with NumPy's fft2 on images of
// odd and even sizes, and checks the cases whose answer is known.
func TestHighFrequencyShare(t *testing.T) {
	type hfCase struct {
		Pix    []float64 `json:"pix"`
		W      int       `json:"w"`
		H      int       `json:"h"`
		C      int       `json:"c"`
		Cutoff float64   `json:"cutoff"`
	}
	cases := []hfCase{
		{testImage(16, 12, 3, 1, true), 16, 12, 3, 0.25},
		{testImage(9, 13, 1, 2, false), 9, 13, 1, 0.25},
		{testImage(32, 32, 3, 3, true), 32, 32, 3, 0.1},
	}
	var ref struct {
		Share []float64 `json:"share"`
	}
	reference(t, "hf_share", map[string]any{"cases": cases}, &ref)
	for i, tc := range cases {
		got := HighFrequencyShare(toFloat32(tc.Pix), tc.W, tc.H, tc.C, tc.Cutoff)
		if math.Abs(got-ref.Share[i]) > 1e-9 {
			t.Errorf("case %d (%dx%dx%d, cutoff %g): %.12f, NumPy %.12f", i, tc.W, tc.H, tc.C, tc.Cutoff, got, ref.Share[i])
		}
	}

	// Known answers: a checkerboard is all Nyquist, a flat image nothing, a
	// slow sine wave all below the cutoff.
	const n = 8
	checker, flat, sine := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for y := range n {
		for x := range n {
			checker[y*n+x] = float32((x + y) % 2)
			flat[y*n+x] = 3
			sine[y*n+x] = float32(math.Sin(2 * math.Pi * float64(x) / n))
		}
	}
	for _, tc := range []struct {
		name string
		pix  []float32
		want float64
	}{{"checkerboard", checker, 1}, {"flat", flat, 0}, {"slow sine", sine, 0}} {
		if got := HighFrequencyShare(tc.pix, n, n, 1, 0.25); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: %g, want %g", tc.name, got, tc.want)
		}
	}
}
