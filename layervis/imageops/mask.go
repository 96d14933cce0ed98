package imageops

import (
	"fmt"
	"math"
)

// dblEpsilon is C's DBL_EPSILON (Python's sys.float_info.epsilon).
const dblEpsilon = 2.220446049250313e-16

// GaussianMask returns the Mind's Eye method's centre mask mask1, h×w
// row-major, for the width parameter msig: with the integer centre
// (w/2, h/2) (Python's W//2) and r the distance of pixel (x,y) from it,
//
//	m(r) = 1/(msig·√(2π)) · ε^(0.5·((r−1)/msig)²),  ε = 2.220446049250313e-16,
//
// normalized to (m − min m)/(max m − min m). As in the reference, m is
// computed in float64 and stored as float32, and the normalization is
// computed in float32. Since ε^(z²/2) = exp(−z²·ln(1/ε)/2), m is a Gaussian
// in r of standard deviation msig/√ln(1/ε) ≈ msig/6.0 that peaks at r = 1,
// not at the centre (so the centre pixel is slightly below 1). The method's
// second mask is |1 − mask1|.
//
// It panics unless w and h are positive, the image has more than one pixel,
// and msig is positive and finite.
func GaussianMask(w, h int, msig float64) []float32 {
	if w <= 0 || h <= 0 || w*h < 2 {
		panic(fmt.Sprintf("imageops.GaussianMask: size %dx%d must be positive and more than one pixel", w, h))
	}
	if !(msig > 0) || math.IsInf(msig, 1) {
		panic(fmt.Sprintf("imageops.GaussianMask: msig %v must be positive and finite", msig))
	}
	scale := 1 / (msig * math.Sqrt(2*math.Pi))
	// m depends on |x−cx| and |y−cy| only: compute it once for each pair.
	cx, cy := w/2, h/2
	tw, th := max(cx, w-1-cx)+1, max(cy, h-1-cy)+1
	tab := make([]float32, tw*th)
	parallelRange(th, 8, func(lo, hi int) {
		for dy := lo; dy < hi; dy++ {
			for dx := range tw {
				r := math.Sqrt(float64(dy*dy + dx*dx))
				z := (r - 1) / msig
				tab[dy*tw+dx] = float32(scale * math.Pow(dblEpsilon, 0.5*(z*z)))
			}
		}
	})
	lo, hi := tab[0], tab[0]
	for _, v := range tab {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i, v := range tab {
		if hi == lo {
			// msig so large that m is flat: the reference divides 0 by
			// 0; here the mask is 1 everywhere.
			tab[i] = 1
		} else {
			tab[i] = (v - lo) / (hi - lo)
		}
	}
	m := make([]float32, w*h)
	parallelRange(h, 32, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			row := tab[abs(y-cy)*tw:]
			out := m[y*w : (y+1)*w]
			for x := range out {
				out[x] = row[abs(x-cx)]
			}
		}
	})
	return m
}

// abs returns |v|.
func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
