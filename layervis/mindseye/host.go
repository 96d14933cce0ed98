package mindseye

// Stage C's host side: the K working images, the jitter canvas and the
// regularizers applied between gradient steps (§4.3 of the method note),
// each run in parallel over the images.

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/layervis/layervis/layervis/imageops"
)

// host holds the working images (8-bit values in float32, K×size×size×3,
// display RGB order) and the jitter canvas.
type host struct {
	k, size int
	cur     []float32
	// canvas is K×cs×cs×3, the 1.2× cubic zoom of the initial blends that
	// every iteration pastes onto; nil when there is no jitter.
	canvas []float32
	cs     int
	window float64
	rng    *rand.Rand
}

// pixels returns the number of values of one image.
func (h *host) pixels() int { return h.size * h.size * 3 }

// image returns the values of image i.
func (h *host) image(i int) []float32 { return h.cur[i*h.pixels() : (i+1)*h.pixels()] }

// newCanvas builds the jitter canvas: each blend zoomed by scale with a
// cubic B-spline (scipy.ndimage.zoom, order 3, mode constant), rounded half
// up and clamped to 8 bits as SciPy stores into uint8. scale ≤ 1 gives no
// canvas (no jitter).
func (h *host) newCanvas(scale, window float64) error {
	h.window = window
	if scale <= 1 {
		return nil
	}
	var canvases [][]float64
	var size int
	for i := range h.k {
		src := make([]float64, h.pixels())
		for j, v := range h.image(i) {
			src[j] = float64(v)
		}
		dst, ow, oh := imageops.ZoomCubic(src, h.size, h.size, 3, scale)
		if ow != oh || ow < h.size {
			return fmt.Errorf("mindseye: jitter canvas is %dx%d for %dx%d images at scale %g; use Scale > 1", ow, oh, h.size, h.size, scale)
		}
		size = ow
		canvases = append(canvases, dst)
	}
	if size == h.size {
		return nil // the zoom rounds back to the image size: no room to jitter
	}
	h.cs = size
	h.canvas = make([]float32, h.k*size*size*3)
	for i, c := range canvases {
		out := h.canvas[i*size*size*3:]
		for j, v := range c {
			out[j] = float32(imageops.RoundUint8(v))
		}
	}
	return nil
}

// offsets draws this iteration's window offset: per axis
// int(clip(N((cs−size)/2, ((cs−size)·window)²), 0, cs−size)), x first.
func (h *host) offsets() (ox, oy int) {
	margin := float64(h.cs - h.size)
	draw := func() int {
		v := margin/2 + margin*h.window*h.rng.NormFloat64()
		return int(min(max(v, 0), margin))
	}
	ox = draw()
	oy = draw()
	return ox, oy
}

// crop replaces the images with the canvas windows at (ox, oy). (The step
// pastes the images into the canvas, on the device: see paste.)
func (h *host) crop(ox, oy int) {
	row := h.size * 3
	for i := range h.k {
		img := h.image(i)
		cv := h.canvas[i*h.cs*h.cs*3:]
		for y := range h.size {
			copy(img[y*row:][:row], cv[((oy+y)*h.cs+ox)*3:][:row])
		}
	}
}

// blurKernel is imgaug's GaussianBlur kernel size for sigma: 3.3σ below
// σ = 3, 2.9σ below 5, else 2.6σ; at least 5; made odd.
func blurKernel(sigma float64) int {
	var k float64
	switch {
	case sigma < 3:
		k = 3.3 * sigma
	case sigma < 5:
		k = 2.9 * sigma
	default:
		k = 2.6 * sigma
	}
	ks := int(max(k, 5))
	if ks%2 == 0 {
		ks++
	}
	return ks
}

// invert returns the reference's mask2, |1 − m|, in float32 as its NumPy
// arrays compute it (where m is tiny, 1 − m rounds to 1 in float32).
func invert(m []float32) []float32 {
	out := make([]float32, len(m))
	for i, v := range m {
		out[i] = float32(math.Abs(float64(1 - v)))
	}
	return out
}

// The blends below compute in float32, as the reference's NumPy float32
// arrays do, rounding each product and sum to float32 (the explicit
// conversions keep Go from fusing a multiply and an add). Double precision
// would not be more faithful to the method: where mask1 is tiny (the
// periphery) X·mask2 + B·mask1 is exactly X in float32 but just below X in
// float64, so the truncation to 8 bits would darken the periphery by one
// level at every blur and every denoising.

// blurBlend is the centre-weighted blur: X·mask2 + blur(X)·mask1 (blur:
// cv2.GaussianBlur 5×5 or larger, reflect-101 borders, with σ rounded to
// float32 as imgaug passes it on; none for σ ≤ 1e-3, as imgaug), plus
// brightness then clipped to 0..255 when brightness is not 0, truncated to
// 8 bits.
func (h *host) blurBlend(mask1, mask2 []float32, sigma, brightness float64) {
	sigma = float64(float32(sigma))
	bright := float32(brightness)
	forEach(h.k, func(i int) {
		img := h.image(i)
		blurred := img
		if sigma > 1e-3 {
			blurred = make([]float32, len(img))
			imageops.GaussianBlur(blurred, img, h.size, h.size, 3, blurKernel(sigma), sigma)
		}
		for p := range h.size * h.size {
			m1, m2 := mask1[p], mask2[p]
			for c := range 3 {
				j := 3*p + c
				v := float32(img[j]*m2) + float32(blurred[j]*m1)
				if bright != 0 {
					v = min(max(v+bright, 0), 255)
				}
				img[j] = float32(imageops.TruncUint8(float64(v)))
			}
		}
	})
}

// denoiseBlend is the centre-weighted TV denoising: X·mask2 + D·mask1 with
// D = 255·denoise_tv_bregman(img_as_float(X), weight, maxIter, eps)
// (scikit-image's isotropic split Bregman, in float64, then float32 as the
// reference stores it), truncated to 8 bits.
func (h *host) denoiseBlend(mask1, mask2 []float32, weight float64, maxIter int, eps float64) {
	f := make([][]float64, h.k)
	for i := range h.k {
		f[i] = make([]float64, h.pixels())
		for j, v := range h.image(i) {
			f[i][j] = imageops.ImgAsFloat(uint8(v))
		}
	}
	denoised := imageops.DenoiseTVBregmanBatch(f, h.size, h.size, 3, weight, maxIter, eps)
	forEach(h.k, func(i int) {
		img, d := h.image(i), denoised[i]
		for p := range h.size * h.size {
			m1, m2 := mask1[p], mask2[p]
			for c := range 3 {
				j := 3*p + c
				dv := float32(float32(float32(d[j])*255) * m1)
				img[j] = float32(imageops.TruncUint8(float64(float32(img[j]*m2) + dv)))
			}
		}
	})
}
