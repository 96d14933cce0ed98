package imageops

import (
	"fmt"
	"math"
	"sync"
)

// GaussianKernel returns OpenCV's cv2.getGaussianKernel(ksize, sigma,
// cv2.CV_32F) for sigma > 0: the weights exp(−x²/(2σ²)) at x = i−(ksize−1)/2,
// normalized to sum 1 in float64 (OpenCV's bit-exact getGaussianKernel
// arithmetic, with Go's math.Exp in place of OpenCV's soft-float exp), then
// rounded to float32. It panics unless ksize is odd and positive and sigma > 0.
func GaussianKernel(ksize int, sigma float64) []float32 {
	if ksize <= 0 || ksize%2 == 0 {
		panic(fmt.Sprintf("imageops.GaussianKernel: ksize %d must be odd and positive", ksize))
	}
	if !(sigma > 0) || math.IsInf(sigma, 1) {
		panic(fmt.Sprintf("imageops.GaussianKernel: sigma %v must be positive and finite", sigma))
	}
	// As OpenCV: x runs over 2·(i−(n−1)/2) so that it stays an integer, and
	// the scale is −0.5·0.25/σ².
	scale2X := -0.125 / (sigma * sigma)
	half := ksize / 2
	values := make([]float64, half)
	sum := 0.0
	for i, x := 0, 1-ksize; i < half; i, x = i+1, x+2 {
		values[i] = math.Exp(float64(x*x) * scale2X)
		sum += values[i]
	}
	sum = sum*2 + 1
	mul := 1 / sum
	k := make([]float32, ksize)
	for i, v := range values {
		k[i] = float32(v * mul)
		k[ksize-1-i] = k[i]
	}
	k[half] = float32(mul)
	return k
}

// reflect101 maps coordinate p into [0,n) the way OpenCV's borderInterpolate
// does for BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba).
func reflect101(p, n int) int {
	if n == 1 {
		return 0
	}
	for p < 0 || p >= n {
		if p < 0 {
			p = -p
		} else {
			p = 2*n - 2 - p
		}
	}
	return p
}

// blurBuffers recycles GaussianBlur's intermediate image.
var blurBuffers sync.Pool

// GaussianBlur blurs the w×h×c float32 image src into dst with a ksize×ksize
// Gaussian of standard deviation sigma on both axes, exactly as
//
//	cv2.GaussianBlur(src, (ksize, ksize), sigmaX=sigma, sigmaY=sigma,
//	                 borderType=cv2.BORDER_REFLECT_101)
//
// does for a float32 image with OpenCV 4.x on a CPU with FMA (AVX2 and
// later), bit for bit: the float32 kernel of [GaussianKernel], a horizontal
// pass into a float32 intermediate, then a vertical pass, each with OpenCV's
// order of float32 fused multiply-adds (see filterRow and filterColumn;
// OpenCV on a CPU without FMA rounds the products separately, which changes
// some results by one ulp). Borders are reflected without repeating the edge
// (gfedcb|abcdefgh|gfedcba), and, as in OpenCV, an image one pixel wide or
// high is not filtered along that axis. This is imgaug's GaussianBlur(sigma)
// with its cv2 backend, which the Mind's Eye method uses with ksize 5.
//
// If sigma <= 1e-3 (where imgaug skips the blur) or ksize is 1, dst becomes a
// copy of src. dst and src must each hold w*h*c values and must not overlap.
// It panics if the sizes do not match, ksize is not odd and positive, sigma
// is NaN or infinite, or dst and src start at the same element.
func GaussianBlur(dst, src []float32, w, h, c, ksize int, sigma float64) {
	checkImage("GaussianBlur", src, w, h, c)
	checkImage("GaussianBlur", dst, w, h, c)
	if ksize <= 0 || ksize%2 == 0 {
		panic(fmt.Sprintf("imageops.GaussianBlur: ksize %d must be odd and positive", ksize))
	}
	if math.IsNaN(sigma) || math.IsInf(sigma, 0) {
		panic(fmt.Sprintf("imageops.GaussianBlur: sigma %v must be finite", sigma))
	}
	if &dst[0] == &src[0] {
		panic("imageops.GaussianBlur: dst and src must not alias")
	}
	if sigma <= 1e-3 || ksize == 1 {
		copy(dst, src)
		return
	}
	k := GaussianKernel(ksize, sigma)
	r := ksize / 2
	row := w * c
	// OpenCV filters neither along an axis of length 1.
	if h == 1 {
		horizontalPass(dst, src, w, h, c, k, r)
		return
	}
	var tmp []float32
	if b, ok := blurBuffers.Get().(*[]float32); ok && cap(*b) >= len(src) {
		tmp = (*b)[:len(src)]
	} else {
		tmp = make([]float32, len(src))
	}
	defer func() { blurBuffers.Put(&tmp) }()
	horizontalPass(tmp, src, w, h, c, k, r)

	// Vertical pass over the rows of tmp, reflected at the top and bottom.
	parallelRange(h, 16, func(lo, hi int) {
		rows := make([][]float32, 2*r+1)
		for y := lo; y < hi; y++ {
			for j := -r; j <= r; j++ {
				yy := reflect101(y+j, h)
				rows[j+r] = tmp[yy*row : (yy+1)*row]
			}
			filterColumn(dst[y*row:(y+1)*row], rows, k, r)
		}
	})
}

// horizontalPass filters each row of src, extended by r reflected pixels on
// either side, into dst (a copy when w is 1, as OpenCV does).
func horizontalPass(dst, src []float32, w, h, c int, k []float32, r int) {
	row := w * c
	if w == 1 {
		copy(dst, src)
		return
	}
	parallelRange(h, 16, func(lo, hi int) {
		ext := make([]float32, (w+2*r)*c)
		for y := lo; y < hi; y++ {
			s := src[y*row : (y+1)*row]
			copy(ext[r*c:], s)
			for j := 1; j <= r; j++ {
				copy(ext[(r-j)*c:(r-j+1)*c], s[reflect101(-j, w)*c:])
				copy(ext[(r+w-1+j)*c:(r+w+j)*c], s[reflect101(w-1+j, w)*c:])
			}
			filterRow(dst[y*row:(y+1)*row], ext, k, r, c)
		}
	})
}

// filterRow writes to out (len w·c) the symmetric filter k (centre r) of the
// extended row ext (len (w+2r)·c), in the order of OpenCV's row filters: for
// ksize 3 and 5 (SymmRowSmallVec_32f and its scalar pairs loop) the centre
// product is fused into the first pair's product and the second pair is fused
// on top, except that the last value of a row with an odd number of values
// (left to OpenCV's scalar loop) fuses the pairs, nearest first, onto the
// centre product; for larger kernels (RowVec_32f) the taps are accumulated
// left to right.
func filterRow(out, ext []float32, k []float32, r, c int) {
	mid := ext[r*c : r*c+len(out)]
	switch r {
	case 1:
		k0, k1 := k[1], k[2]
		left, right := ext[:len(out)], ext[2*c:2*c+len(out)]
		for i := range out {
			out[i] = fma32(k0, mid[i], k1*(left[i]+right[i]))
		}
	case 2:
		k0, k1, k2 := k[2], k[3], k[4]
		l2, l1 := ext[:len(out)], ext[c:c+len(out)]
		r1, r2 := ext[3*c:3*c+len(out)], ext[4*c:4*c+len(out)]
		for i := range out {
			// fma32 by hand, for inlining.
			p1 := k1 * (l1[i] + r1[i])
			t, ok := fma32Fast(k0, mid[i], p1)
			if !ok {
				t = fma32Tie(k0, mid[i], p1)
			}
			p2 := r2[i] + l2[i]
			if out[i], ok = fma32Fast(k2, p2, t); !ok {
				out[i] = fma32Tie(k2, p2, t)
			}
		}
	default:
		for i := range out {
			acc := k[0] * ext[i]
			for j := 1; j < len(k); j++ {
				acc = fma32(k[j], ext[i+j*c], acc)
			}
			out[i] = acc
		}
		return
	}
	if n := len(out); n%2 == 1 {
		i := r*c + n - 1
		acc := k[r] * ext[i]
		for j := 1; j <= r; j++ {
			acc = fma32(k[r+j], ext[i+j*c]+ext[i-j*c], acc)
		}
		out[n-1] = acc
	}
}

// filterColumn writes to out the symmetric filter k (centre r) of the 2r+1
// rows, rows[r] being the centre one, in the order of OpenCV's
// SymmColumnVec_32f: the centre product, then each pair of rows fused on top,
// nearest pair first.
func filterColumn(out []float32, rows [][]float32, k []float32, r int) {
	k0 := k[r]
	mid := rows[r][:len(out)]
	for i := range out {
		out[i] = k0 * mid[i]
	}
	for j := 1; j <= r; j++ {
		kj := k[r+j]
		up, down := rows[r-j][:len(out)], rows[r+j][:len(out)]
		for i := range out {
			// fma32 by hand, for inlining. The tie case needs the sum
			// before this pair, so out[i] is written once, at the end.
			p, acc := down[i]+up[i], out[i]
			v, ok := fma32Fast(kj, p, acc)
			if !ok {
				v = fma32Tie(kj, p, acc)
			}
			out[i] = v
		}
	}
}

// fma32 returns a·b+c rounded once to float32, as a float32 fused
// multiply-add instruction does. The product is exact in float64; the sum is
// rounded to float64 and then to float32, which is correct except when the
// float64 sum falls exactly halfway between two float32 values (or below
// float32's normal range, where a float32 ulp spans more float64 bits);
// fma32Tie handles those.
func fma32(a, b, c float32) float32 {
	if r, ok := fma32Fast(a, b, c); ok {
		return r
	}
	return fma32Tie(a, b, c)
}

// fma32Fast returns a·b+c rounded through float64 and true, or false when
// that may differ from a single rounding.
func fma32Fast(a, b, c float32) (float32, bool) {
	s := float64(a)*float64(b) + float64(c)
	bits := math.Float64bits(s)
	return float32(s), bits&(1<<29-1) != 1<<28 && bits&(0x7ff<<52) >= (1023-126)<<52
}

// fma32Tie is fma32 for the rare sums fma32Fast cannot round.
func fma32Tie(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	r := float32(s)
	if float64(r) == s {
		return r
	}
	other := math.Nextafter32(r, float32(math.Copysign(math.Inf(1), s-float64(r))))
	if s-float64(r) != float64(other)-s {
		return r
	}
	// s is a float32 tie: round by the sign of s's error (TwoSum).
	bb := s - p
	e := (p - (s - bb)) + (float64(c) - bb)
	switch {
	case e > 0:
		return max(r, other)
	case e < 0:
		return min(r, other)
	}
	return r
}
