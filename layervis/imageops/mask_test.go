package imageops

import (
	"fmt"
	"math"
	"testing"
)

// TestGaussianMaskNote checks the 512×512 mask against the values the
// method note (§4.5) gives along a radius from the centre, to one unit in
// the last digit the note prints (its 0.018 at r=200 for msig 420 is
// 0.0175 rounded twice), and the masks' means.
func TestGaussianMaskNote(t *testing.T) {
	const size = 512
	type point struct {
		r        int
		want, in float64 // the note's value, and one unit of its last digit
	}
	for _, tc := range []struct {
		msig   float64
		points []point
		mean   float64
	}{
		{420, []point{{0, 1.00, 0.01}, {50, 0.78, 0.01}, {100, 0.37, 0.01}, {150, 0.10, 0.01}, {200, 0.018, 0.001}, {255, 0.0014, 0.0001}}, 0.119},
		{340, []point{{0, 1.00, 0.01}, {50, 0.69, 0.01}, {100, 0.22, 0.01}, {150, 0.031, 0.001}, {200, 0.002, 0.001}, {255, 0.0, 0.1}}, 0.079},
	} {
		t.Run(fmt.Sprint(tc.msig), func(t *testing.T) {
			m := GaussianMask(size, size, tc.msig)
			for _, p := range tc.points {
				got := float64(m[size/2*size+size/2+p.r]) // r pixels right of the centre
				if math.Abs(got-p.want) > p.in {
					t.Errorf("r=%d: %.4g, note %v", p.r, got, p.want)
				}
			}
			sum := 0.0
			for _, v := range m {
				sum += float64(v)
			}
			if mean := sum / float64(len(m)); math.Abs(mean-tc.mean) > 0.001 {
				t.Errorf("mean %.4g, note %v", mean, tc.mean)
			}
			// The peak is at r = 1, not at the centre.
			centre, next := m[size/2*size+size/2], m[size/2*size+size/2+1]
			if next != 1 || !(centre < 1) {
				t.Errorf("centre %v, r=1 %v: want the peak 1 at r=1", centre, next)
			}
		})
	}
}

// TestGaussianMaskNumPy compares GaussianMask bit for bit with the
// reference's formula evaluated by NumPy in the reference's precision
// (float64 values stored as float32, normalized in float32).
func TestGaussianMaskNumPy(t *testing.T) {
	type maskCase struct {
		w, h int
		msig float64
	}
	cases := []maskCase{{64, 48, 20}, {31, 17, 9.5}, {512, 512, 420}, {2, 1, 3}}
	var args []map[string]any
	for _, tc := range cases {
		args = append(args, map[string]any{"w": tc.w, "h": tc.h, "msig": tc.msig})
	}
	var ref struct{ Masks [][]float64 }
	reference(t, "mask", map[string]any{"cases": args}, &ref)
	for i, tc := range cases {
		m := GaussianMask(tc.w, tc.h, tc.msig)
		diff, worst := 0, 0.0
		for j, v := range m {
			if d := math.Abs(float64(v) - ref.Masks[i][j]); d > 0 {
				diff++
				worst = max(worst, d)
			}
		}
		if diff > 0 {
			t.Errorf("%dx%d msig %v: %d values differ from NumPy's, by up to %g", tc.w, tc.h, tc.msig, diff, worst)
		}
	}
}

// TestGaussianMaskFlat checks the mask of a width so large that the
// formula is flat: 1 everywhere (where the reference divides 0 by 0).
func TestGaussianMaskFlat(t *testing.T) {
	for _, msig := range []float64{1e300, math.MaxFloat64} {
		for i, v := range GaussianMask(7, 4, msig) {
			if v != 1 {
				t.Fatalf("msig %g: value %d is %v, want 1", msig, i, v)
			}
		}
	}
}
