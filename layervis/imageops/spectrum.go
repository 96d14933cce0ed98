package imageops

import "math"

// HighFrequencyShare returns the share of an image's spectral power above
// cutoff, in cycles per pixel (Nyquist is 0.5; half-Nyquist, 0.25, is the
// usual noise check of a feature visualization): for each channel, the
// mean is removed and the power |F(u,v)|² of the 2-D discrete Fourier
// transform summed over the frequencies whose radius √(fu²+fv²) exceeds
// cutoff, divided by the power over all frequencies (the channels pooled).
// fu = u/w for u in [−w/2, w/2), fv likewise. A flat image gives 0.
//
// pix is an interleaved w×h×c image (see the package doc); the value range
// does not matter (the share is scale-free).
func HighFrequencyShare(pix []float32, w, h, c int, cutoff float64) float64 {
	checkImage("HighFrequencyShare", pix, w, h, c)
	cw, sw := dftTable(w)
	ch, sh := dftTable(h)
	var high, total float64
	re := make([]float64, w*h) // the row transforms, then reused
	im := make([]float64, w*h)
	plane := make([]float64, w*h)
	for k := range c {
		var mean float64
		for i := range plane {
			plane[i] = float64(pix[i*c+k])
			mean += plane[i]
		}
		mean /= float64(w * h)
		// Rows: R[y][u] = Σx p[y][x]·e^{−2πi·ux/w}.
		for y := range h {
			row := plane[y*w : (y+1)*w]
			for u := range w {
				var sr, si float64
				for x, v := range row {
					j := (u * x) % w
					sr += (v - mean) * cw[j]
					si -= (v - mean) * sw[j]
				}
				re[y*w+u], im[y*w+u] = sr, si
			}
		}
		// Columns: F[v][u] = Σy R[y][u]·e^{−2πi·vy/h}.
		for u := range w {
			fu := float64(u) / float64(w)
			if u >= (w+1)/2 {
				fu -= 1
			}
			for v := range h {
				var sr, si float64
				for y := range h {
					j := (v * y) % h
					a, b := re[y*w+u], im[y*w+u]
					sr += a*ch[j] + b*sh[j]
					si += b*ch[j] - a*sh[j]
				}
				fv := float64(v) / float64(h)
				if v >= (h+1)/2 {
					fv -= 1
				}
				p := sr*sr + si*si
				total += p
				if math.Hypot(fu, fv) > cutoff {
					high += p
				}
			}
		}
	}
	if total == 0 {
		return 0
	}
	return high / total
}

// dftTable returns cos and sin of 2πj/n for j in [0,n).
func dftTable(n int) (cos, sin []float64) {
	cos, sin = make([]float64, n), make([]float64, n)
	for j := range n {
		sin[j], cos[j] = math.Sincos(2 * math.Pi * float64(j) / float64(n))
	}
	return cos, sin
}
