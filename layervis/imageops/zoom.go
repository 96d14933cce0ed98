package imageops

import (
	"fmt"
	"math"
	"math/big"
)

// cubicPole is the pole of the cubic B-spline prefilter, √3−2, as SciPy
// writes it.
const cubicPole = -0.267949192431122706472553658494127633

// ZoomCubic resizes the w×h×c float64 image src by the factor zoom with
// cubic B-spline interpolation, each channel separately, exactly as
//
//	scipy.ndimage.zoom(src[:, :, ch], zoom, order=3, mode='constant',
//	                   cval=0.0, prefilter=True, grid_mode=False)
//
// computes it in float64 for each channel ch (SciPy 1.6 to 1.10, whose
// 'constant' mode here behaves as SciPy 1.5's), and returns the
// ow×oh×c result with oh = round(h·zoom) and ow = round(w·zoom) (rounding
// halves to even, as Python's round does).
//
// The steps are SciPy's:
//
//   - Prefilter: the exact cubic-spline coefficients of each channel,
//     computed along the columns and then along the rows by the recursive
//     filter of Unser et al. with pole √3−2, with the mirror boundary
//     (dcb|abcd|cba) that SciPy uses to prefilter in 'constant' mode.
//   - Sampling: output pixel (ox, oy) samples the spline at input
//     coordinates (ox·(w−1)/(ow−1), oy·(h−1)/(oh−1)) (a factor of 1 on an
//     axis whose output length is 1), so that the corners of input and
//     output coincide. A coordinate outside [0, w−1] or [0, h−1] (which
//     floating-point rounding can produce at the far edge) gives 0 (cval);
//     the 4×4 coefficients around any other sample are read with the mirror
//     boundary.
//
// The Mind's Eye reference zooms its uint8 [K,3,H,W] batch with
// zoom(x, (1, 1, scale, scale)), which also prefilters along the batch and
// channel axes and samples them at whole coordinates, where the spline
// reproduces its knots: the result equals this per-channel zoom up to
// floating-point rounding (about 1e-13). For a uint8 result like SciPy's,
// convert each value with [RoundUint8].
//
// It panics if src does not hold w*h*c values or zoom is not positive and
// finite.
func ZoomCubic(src []float64, w, h, c int, zoom float64) (dst []float64, ow, oh int) {
	checkImage("ZoomCubic", src, w, h, c)
	if !(zoom > 0) || math.IsInf(zoom, 1) {
		panic(fmt.Sprintf("imageops.ZoomCubic: zoom %v must be positive and finite", zoom))
	}
	oh, ow = int(math.RoundToEven(float64(h)*zoom)), int(math.RoundToEven(float64(w)*zoom))
	if oh < 1 || ow < 1 {
		panic(fmt.Sprintf("imageops.ZoomCubic: zoom %v turns %dx%d into an empty image", zoom, w, h))
	}
	ys, xs := newSampling(h, oh), newSampling(w, ow)
	dst = make([]float64, oh*ow*c)
	coef := make([]float64, h*w)
	line := make([]float64, max(w, h))
	for ch := range c {
		// Spline coefficients of this channel, planar (h×w).
		for i := range coef {
			coef[i] = src[i*c+ch]
		}
		if h > 1 {
			for x := range w {
				for y := range h {
					line[y] = coef[y*w+x]
				}
				splineFilter(line[:h])
				for y := range h {
					coef[y*w+x] = line[y]
				}
			}
		}
		if w > 1 {
			for y := range h {
				splineFilter(coef[y*w : (y+1)*w])
			}
		}
		parallelRange(oh, 32, func(lo, hi int) {
			for oy := lo; oy < hi; oy++ {
				sy := &ys[oy]
				for ox := range ow {
					sx := &xs[ox]
					v := 0.0
					if !sy.outside && !sx.outside {
						for a := range 4 {
							row := coef[sy.idx[a]*w:]
							for b := range 4 {
								v += float64(row[sx.idx[b]] * sy.weight[a] * sx.weight[b])
							}
						}
					}
					dst[(oy*ow+ox)*c+ch] = v
				}
			}
		})
	}
	return dst, ow, oh
}

// sample is where one output index samples an input axis: the four input
// indices (mirrored at the edges) and their cubic B-spline weights, or
// outside when the coordinate is off the axis (the value is then cval).
type sample struct {
	idx     [4]int
	weight  [4]float64
	outside bool
}

// newSampling maps each of the m output indices of an axis to the input axis
// of length n as SciPy's NI_ZoomShift does for order 3, mode 'constant' and
// grid_mode=False.
func newSampling(n, m int) []sample {
	zoom := 1.0
	if m > 1 {
		zoom = float64(n-1) / float64(m-1)
	}
	out := make([]sample, m)
	for k := range out {
		s := &out[k]
		cc := float64(k) * zoom
		if cc < 0 || cc > float64(n-1) {
			s.outside = true
			continue
		}
		start := int(math.Floor(cc)) - 1
		for j := range 4 {
			s.idx[j] = mirrorIndex(start+j, n)
		}
		// SciPy's get_spline_interpolation_weights for order 3.
		x := cc - math.Floor(cc)
		y, z := x, 1-x
		s.weight[1] = (float64(y*y*(y-2)*3) + 4) / 6
		s.weight[2] = (float64(z*z*(z-2)*3) + 4) / 6
		s.weight[0] = z * z * z / 6
		s.weight[3] = 1 - s.weight[0] - s.weight[1] - s.weight[2]
	}
	return out
}

// powExact returns x^k correctly rounded, as C's pow (glibc) gives it and
// math.Pow (repeated squaring) does not always.
func powExact(x float64, k int) float64 {
	const prec = 256
	b := new(big.Float).SetPrec(prec).SetFloat64(x)
	r := new(big.Float).SetPrec(prec).SetFloat64(1)
	for ; k > 0; k >>= 1 {
		if k&1 == 1 {
			r.Mul(r, b)
		}
		b.Mul(b, b)
	}
	f, _ := r.Float64()
	return f
}

// mirrorIndex maps i into [0,n) by mirroring about the end samples
// (dcb|abcd|cba), as SciPy does for out-of-range spline coefficients.
func mirrorIndex(i, n int) int {
	if n <= 1 {
		return 0
	}
	s2 := 2*n - 2
	if i < 0 {
		i = s2*(-i/s2) + i
		if i <= 1-n {
			return i + s2
		}
		return -i
	}
	if i >= n {
		i -= s2 * (i / s2)
		if i >= n {
			return s2 - i
		}
	}
	return i
}

// splineFilter turns the samples c (len ≥ 2) into cubic B-spline
// coefficients in place, with the mirror boundary: SciPy's apply_filter
// (ni_splines.c) for order 3.
func splineFilter(c []float64) {
	n := len(c)
	if n < 2 {
		return
	}
	z := float64(cubicPole) // a variable: Go would fold constants exactly
	gain := (1 - z) * (1 - 1/z)
	for i := range c {
		c[i] *= gain
	}
	// Causal initialization for the mirror boundary. (The float64
	// conversions keep the compiler from fusing multiply-adds, which would
	// round differently from SciPy.)
	zi := z
	zn1 := powExact(z, n-1)
	c[0] = c[0] + float64(zn1*c[n-1])
	for i := 1; i < n-1; i++ {
		c[0] += float64(zi * (c[i] + float64(zn1*c[n-1-i])))
		zi *= z
	}
	c[0] /= 1 - float64(zn1*zn1)
	for i := 1; i < n; i++ {
		c[i] += float64(z * c[i-1])
	}
	// Anticausal initialization and pass.
	c[n-1] = (float64(z*c[n-2]) + c[n-1]) * z / (float64(z*z) - 1)
	for i := n - 2; i >= 0; i-- {
		c[i] = z * (c[i+1] - c[i])
	}
}
