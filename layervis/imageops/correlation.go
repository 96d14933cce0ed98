package imageops

import "math"

// GreyCorrelation returns the Pearson correlation of the grey levels (the
// mean over the c channels of each pixel) of two interleaved w×h×c
// images: 1 for the same picture up to brightness and contrast, near 0 for
// unrelated ones. It is NaN when either image is flat.
func GreyCorrelation(a, b []float32, w, h, c int) float64 {
	checkImage("GreyCorrelation", a, w, h, c)
	checkImage("GreyCorrelation", b, w, h, c)
	var sa, sb, saa, sbb, sab float64
	for i := range w * h {
		var x, y float64
		for ch := range c {
			x += float64(a[i*c+ch])
			y += float64(b[i*c+ch])
		}
		x, y = x/float64(c), y/float64(c)
		sa, sb, saa, sbb, sab = sa+x, sb+y, saa+x*x, sbb+y*y, sab+x*y
	}
	n := float64(w * h)
	return (sab - sa*sb/n) / math.Sqrt((saa-sa*sa/n)*(sbb-sb*sb/n))
}
