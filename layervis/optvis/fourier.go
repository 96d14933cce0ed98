package optvis

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
)

// DFT selects how the inverse 2-D real DFT of the Fourier
// parameterizations is expressed in the graph.
type DFT int

const (
	// DFTAuto uses DFTMatMul on the pure-Go backend, which has no FFT op,
	// and DFTFFT elsewhere.
	DFTAuto DFT = iota
	// DFTMatMul writes the transform as two matrix products with cosine and
	// sine bases: O(H²·W) per image, fine at 128–512².
	DFTMatMul
	// DFTFFT uses GoMLX's InverseFFT and InverseRealFFT ops (XLA).
	DFTFFT
)

// String returns "auto", "matmul" or "fft".
func (d DFT) String() string {
	switch d {
	case DFTMatMul:
		return "matmul"
	case DFTFFT:
		return "fft"
	}
	return "auto"
}

// spectrumWidth is the number of frequency columns lucid's rfft2d_freqs
// keeps for width w: w/2+1 for even w, w/2+2 for odd w (the inverse
// transform then has length w+1 and is cropped).
func spectrumWidth(w int) int {
	if w%2 == 1 {
		return w/2 + 2
	}
	return w/2 + 1
}

// fftfreq is numpy.fft.fftfreq(n)[i]: the frequency of bin i in cycles
// per sample.
func fftfreq(i, n int) float64 {
	if i < (n+1)/2 {
		return float64(i) / float64(n)
	}
	return float64(i-n) / float64(n)
}

// FreqScale returns lucid's spectrum scale for an h×w image, [h × L] with
// L = spectrumWidth(w), row-major:
//
//	sqrt(w·h) / max(f, 1/max(w,h))^decay,  f = sqrt(fx² + fy²)
//
// so that white noise in the parameters becomes 1/f^decay ("pink") noise in
// the image.
func FreqScale(h, w int, decay float64) []float32 {
	l := spectrumWidth(w)
	out := make([]float32, h*l)
	floor := 1 / float64(max(w, h))
	for i := range h {
		fy := fftfreq(i, h)
		for j := range l {
			fx := fftfreq(j, w)
			f := math.Max(math.Sqrt(fx*fx+fy*fy), floor)
			out[i*l+j] = float32(math.Sqrt(float64(w*h)) / math.Pow(f, decay))
		}
	}
	return out
}

// InverseRealDFT2 returns numpy.fft.irfft2 of the spectrum re + i·im
// ([..., h, L]) over its last two axes, cropped to [..., h, w]: the
// inverse length along the last axis is 2(L−1), as numpy's default. form
// says how the transform is written (DFTAuto is taken as DFTMatMul).
func InverseRealDFT2(re, im *Node, w int, form DFT) *Node {
	if form == DFTFFT {
		return irfft2FFT(re, im, w)
	}
	return irfft2MatMul(re, im, w)
}

// irfft2MatMul writes irfft2 as two matrix products. Along the first axis
// (length h, full complex inverse DFT, unnormalized):
//
//	[Yr; Yi] = [[C, −S], [S, C]] · [Xr; Xi],  C_mk = cos(2πmk/h), S_mk = sin(2πmk/h)
//
// then along the last (real inverse of length N = 2(L−1)):
//
//	x_mn = 1/(hN) Σ_l c_l (Yr_ml cos(2πln/N) − Yi_ml sin(2πln/N))
//
// with c_l = 1 for l = 0 and l = N/2, else 2 (the Hermitian half counted
// twice; numpy likewise ignores the imaginary part of those two bins,
// which the sine terms do as sin = 0 there).
func irfft2MatMul(re, im *Node, w int) *Node {
	g := re.Graph()
	rank := re.Rank()
	h, l := re.Shape().Dim(-2), re.Shape().Dim(-1)
	n := 2 * (l - 1)
	a := make([]float32, 4*h*h)
	for m := range h {
		for k := range h {
			ang := 2 * math.Pi * float64(m*k%h) / float64(h)
			c, s := float32(math.Cos(ang)), float32(math.Sin(ang))
			a[m*2*h+k], a[m*2*h+h+k] = c, -s
			a[(h+m)*2*h+k], a[(h+m)*2*h+h+k] = s, c
		}
	}
	b := make([]float32, 2*l*w)
	for j := range l {
		c := 2.0
		if j == 0 || 2*j == n {
			c = 1
		}
		c /= float64(h * n)
		for i := range w {
			ang := 2 * math.Pi * float64(j*i%n) / float64(n)
			b[j*w+i] = float32(c * math.Cos(ang))
			b[(l+j)*w+i] = float32(-c * math.Sin(ang))
		}
	}
	x := Concatenate([]*Node{re, im}, rank-2)            // [..., 2h, L]
	y := Dot(x, Reshape(Const(g, a), 2*h, 2*h)).General( // contract the 2h axis of x with A's columns
		[]int{rank - 2}, nil, []int{1}, nil) // [..., L, 2h]
	yr := Slice(y, AxisRange().Spacer(), AxisRange(0, h))   // [..., L, h]
	yi := Slice(y, AxisRange().Spacer(), AxisRange(h, 2*h)) // [..., L, h]
	yc := Concatenate([]*Node{yr, yi}, rank-2)              // [..., 2L, h]
	return Dot(yc, Reshape(Const(g, b), 2*l, w)).General(   // [..., h, w]
		[]int{rank - 2}, nil, []int{0}, nil)
}

// irfft2FFT writes irfft2 with GoMLX's FFT ops: an inverse complex FFT
// along the first axis, then an inverse real FFT along the last, cropped
// to w columns.
func irfft2FFT(re, im *Node, w int) *Node {
	rank := re.Rank()
	l := re.Shape().Dim(-1)
	perm := make([]int, rank)
	for i := range perm {
		perm[i] = i
	}
	perm[rank-2], perm[rank-1] = rank-1, rank-2
	x := TransposeAllAxes(Complex(re, im), perm...) // [..., L, h]
	x = TransposeAllAxes(InverseFFT(x), perm...)    // [..., h, L]
	out := InverseRealFFT(x, 2*(l-1))               // [..., h, N]
	if out.Shape().Dim(-1) != w {
		out = Slice(out, AxisRange().Spacer(), AxisRange(0, w))
	}
	return out
}
