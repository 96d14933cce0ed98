package imageops

import (
	"fmt"
	"math"
	"testing"
)

// TestZoomCubicSciPy compares ZoomCubic with scipy.ndimage.zoom, per channel
// in float64 and, as the Mind's Eye reference calls it, on a uint8 batch.
func TestZoomCubicSciPy(t *testing.T) {
	type zoomCase struct {
		w, h, c int
		zoom    float64
		whole   bool // also compare with the reference's uint8 batch zoom
	}
	cases := []zoomCase{
		{17, 20, 3, 1.2, true},
		{13, 9, 2, 2.5, false},
		{30, 24, 1, 0.7, false},
		{5, 4, 3, 1.2, true},
		{2, 3, 1, 1.5, false},
		{1, 6, 2, 1.2, false},
		{7, 7, 1, 1, false},
		{64, 48, 3, 1.17, true},
	}
	if !testing.Short() {
		cases = append(cases, zoomCase{512, 512, 3, 1.2, false})
	}
	imgs := make([][]float64, len(cases))
	var args []map[string]any
	for i, tc := range cases {
		imgs[i] = testImage(tc.w, tc.h, tc.c, uint64(20+i), false)
		args = append(args, map[string]any{"w": tc.w, "h": tc.h, "c": tc.c, "zoom": tc.zoom, "whole": tc.whole, "pix": imgs[i]})
	}
	var ref struct {
		Cases []struct {
			W, H    int
			Pix     []float64
			WholeU8 []int `json:"whole_u8"`
		}
		Scipy string
	}
	reference(t, "zoom", map[string]any{"cases": args}, &ref, "scipy")
	t.Logf("SciPy %s", ref.Scipy)
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%dx%dx%d by %v", tc.w, tc.h, tc.c, tc.zoom), func(t *testing.T) {
			r := ref.Cases[i]
			got, ow, oh := ZoomCubic(imgs[i], tc.w, tc.h, tc.c, tc.zoom)
			if ow != r.W || oh != r.H {
				t.Fatalf("output %dx%d, SciPy %dx%d", ow, oh, r.W, r.H)
			}
			worst, exact := 0.0, 0
			for j, v := range got {
				d := math.Abs(v - r.Pix[j])
				if d == 0 {
					exact++
				}
				worst = max(worst, d)
			}
			t.Logf("max |diff| %g, %d of %d bit-exact", worst, exact, len(got))
			if worst > 1e-9 {
				t.Errorf("max |diff| from SciPy %g > 1e-9", worst)
			}
			if !tc.whole {
				return
			}
			for j, v := range got {
				if u := RoundUint8(v); int(u) != r.WholeU8[j] {
					// Only a value within rounding of a half can round
					// differently from SciPy's 4-D zoom.
					if frac := v - math.Floor(v); math.Abs(frac-0.5) > 1e-9 {
						t.Errorf("value %d: RoundUint8(%v) = %d, SciPy's uint8 batch zoom %d", j, v, u, r.WholeU8[j])
					}
				}
			}
		})
	}
}

func TestZoomCubicPanics(t *testing.T) {
	src := make([]float64, 4*3*2)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"size", func() { ZoomCubic(src, 4, 4, 2, 1.2) }},
		{"zero zoom", func() { ZoomCubic(src, 4, 3, 2, 0) }},
		{"NaN zoom", func() { ZoomCubic(src, 4, 3, 2, math.NaN()) }},
		{"empty result", func() { ZoomCubic(src, 4, 3, 2, 0.1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}
