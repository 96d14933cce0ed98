package imageops

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// DenoiseTVBregman is scikit-image's
//
//	skimage.restoration.denoise_tv_bregman(img, weight, max_iter, eps, isotropic=True)
//
// (scikit-image 0.17, as the Mind's Eye reference calls it, and 0.19 without
// channel_axis, where max_iter is named max_num_iter) for a w×h×c float64
// image with values in [0,1]: total variation denoising by split-Bregman
// optimization, a bit-for-bit port of the Cython _denoise_tv_bregman. weight
// is the data fidelity (larger means less smoothing). For a uint8 image
// convert each value with [ImgAsFloat], as skimage's img_as_float does.
//
// With λ = 2·weight, u the image padded by one pixel (the padding rows and
// columns copy the image's second and last rows and columns and are never
// updated) and dx, dy, bx, by zero, each iteration sweeps the pixels in
// row-major order, channels innermost, updating u in place (Gauss-Seidel):
//
//	unew = (λ·(u[r+1,c] + u[r−1,c] + u[r,c+1] + u[r,c−1]
//	           + dx[r,c−1] − dx[r,c] + dy[r−1,c] − dy[r,c]
//	           − bx[r,c−1] + bx[r,c] − by[r−1,c] + by[r,c]) + weight·f[r,c]) / (weight + 4λ)
//
// then, with ux and uy the forward differences of the old u[r,c],
// tx = ux + bx, ty = uy + by and s = √(tx²+ty²), sets dx = sλtx/(sλ+1),
// dy = sλty/(sλ+1), bx += ux − dx and by += uy − dy. It stops after maxIter
// iterations or when the root mean square change of an iteration, over all
// pixels and channels, is at most eps. The channels only interact through
// that stopping rule (scikit-image 0.19's channel_axis=-1 instead denoises
// each channel with its own stopping rule).
//
// A sweep runs on up to GOMAXPROCS goroutines, each updating a row of its
// own a few pixels behind the row above, which is the sequential order's
// result exactly; use [DenoiseTVBregmanBatch] to denoise several images at
// once.
//
// It returns a new slice; img is not modified. It panics if img does not
// hold w*h*c values or w or h is less than 2 (where scikit-image fails).
func DenoiseTVBregman(img []float64, w, h, c int, weight float64, maxIter int, eps float64) []float64 {
	checkImage("DenoiseTVBregman", img, w, h, c)
	if w < 2 || h < 2 {
		panic(fmt.Sprintf("imageops.DenoiseTVBregman: a %dx%d image is too small (at least 2x2)", w, h))
	}
	return denoiseRows([][]float64{img}, w, h, c, weight, maxIter, eps, runtime.GOMAXPROCS(0))[0]
}

// DenoiseTVBregmanBatch applies [DenoiseTVBregman] to each of imgs (all
// w×h×c) on GOMAXPROCS goroutines, which sweep rows of all the images
// (see [DenoiseTVBregman]). The result is identical to calling
// DenoiseTVBregman on each image.
func DenoiseTVBregmanBatch(imgs [][]float64, w, h, c int, weight float64, maxIter int, eps float64) [][]float64 {
	for i, img := range imgs {
		checkImage(fmt.Sprintf("DenoiseTVBregmanBatch (image %d)", i), img, w, h, c)
	}
	if w < 2 || h < 2 {
		panic(fmt.Sprintf("imageops.DenoiseTVBregmanBatch: a %dx%d image is too small (at least 2x2)", w, h))
	}
	return denoiseRows(imgs, w, h, c, weight, maxIter, eps, runtime.GOMAXPROCS(0))
}

// bregman is the state of one denoising: f is the w×h×c image; u, dx, dy,
// bx and by are (h+2)×(w+2)×c, padded by one pixel on every side, stride
// values a row, all five cut from the pooled buf.
type bregman struct {
	w, h, c, stride      int
	weight, lam, norm    float64
	f, u, dx, dy, bx, by []float64
	buf                  *[]float64
}

// bregmanBuffers recycles the five padded arrays of a denoising.
var bregmanBuffers sync.Pool

func newBregman(f []float64, w, h, c int, weight float64) *bregman {
	n := (h + 2) * (w + 2) * c
	buf, ok := bregmanBuffers.Get().(*[]float64)
	if !ok || cap(*buf) < 5*n {
		s := make([]float64, 5*n)
		buf = &s
	}
	all := (*buf)[:5*n]
	lam := 2 * weight
	b := &bregman{
		w: w, h: h, c: c, stride: (w + 2) * c,
		weight: weight, lam: lam, norm: weight + 4*lam,
		f: f, u: all[:n:n], dx: all[n : 2*n : 2*n], dy: all[2*n : 3*n : 3*n], bx: all[3*n : 4*n : 4*n], by: all[4*n:],
		buf: buf,
	}
	b.reset()
	return b
}

// reset sets u to f padded and dx, dy, bx and by to zero, as before the
// first sweep.
func (b *bregman) reset() {
	clear((*b.buf)[:5*len(b.u)])
	f, w, h, c := b.f, b.w, b.h, b.c
	// u = f padded: the top padding row repeats the image's second row,
	// the left column its second column, the bottom and right ones its
	// last row and column; the corners stay 0 (they are never read).
	row := w * c
	for r := range h {
		copy(b.u[(r+1)*b.stride+c:], f[r*row:(r+1)*row])
	}
	copy(b.u[c:], f[row:2*row])
	copy(b.u[(h+1)*b.stride+c:], f[(h-1)*row:h*row])
	for r := range h {
		copy(b.u[(r+1)*b.stride:(r+1)*b.stride+c], f[r*row+c:r*row+2*c])
		copy(b.u[(r+1)*b.stride+(w+1)*c:(r+2)*b.stride], f[r*row+(w-1)*c:(r+1)*row])
	}
}

// release returns b's arrays to the pool; b must not be used afterwards.
func (b *bregman) release() {
	bregmanBuffers.Put(b.buf)
	*b = bregman{}
}

// run iterates until maxIter sweeps are done or the RMS change of a sweep is
// at most eps.
func (b *bregman) run(maxIter int, eps float64) {
	total := float64(b.w * b.h * b.c)
	rmse := math.MaxFloat64
	for it := 0; it < maxIter && rmse > eps; it++ {
		rmse = math.Sqrt(b.sweep() / total)
	}
}

// result returns the interior of u as a w×h×c image.
func (b *bregman) result() []float64 {
	row := b.w * b.c
	out := make([]float64, b.h*row)
	for r := range b.h {
		copy(out[r*row:(r+1)*row], b.u[(r+1)*b.stride+b.c:])
	}
	return out
}

// sweep does one Gauss-Seidel pass over the image and returns the sum of the
// squared changes of u, accumulated in scikit-image's order.
func (b *bregman) sweep() float64 {
	sum := 0.0
	for r := 1; r <= b.h; r++ {
		sum = b.span(r, b.c, (b.w+1)*b.c, sum)
	}
	return sum
}

// span updates row r (1 ≤ r ≤ h) at the padded row's indices j0 ≤ j < j1
// (index j is padded column j/c, channel j%c; the image's are c ≤ j <
// (w+1)·c), in order, and returns sum plus the squared changes of u, added
// in order. Index j reads the row above at j (updated), the row below at j
// (not yet updated) and its own row: rows r−1 and r+1 are otherwise
// untouched.
//
// The explicit float64 conversions stop the compiler from fusing a product
// into an addition, which would change the rounding.
func (b *bregman) span(r, j0, j1 int, sum float64) float64 {
	c, stride := b.c, b.stride
	lam, weight, norm := b.lam, b.weight, b.norm
	u, dx, dy, bx, by := b.u, b.dx, b.dy, b.bx, b.by
	// The row of f, and the rows of the arrays at this row, the one above
	// and the one below, sliced so that index j is padded index j (f's
	// index j-c), ending at j1.
	lo := r * stride
	fr := b.f[(r-1)*b.w*c : (r-1)*b.w*c+j1-c]
	uu, u0, ud := u[lo-stride:lo-stride+j1], u[lo:lo+j1+c], u[lo+stride:lo+stride+j1]
	dx0, bx0 := dx[lo:lo+j1], bx[lo:lo+j1]
	dyu, dy0 := dy[lo-stride:lo-stride+j1], dy[lo:lo+j1]
	byu, by0 := by[lo-stride:lo-stride+j1], by[lo:lo+j1]
	for j := j0; j < len(dx0); j++ {
		uprev := u0[j]
		ux := u0[j+c] - uprev
		uy := ud[j] - uprev
		unew := (float64(lam*(ud[j]+uu[j]+u0[j+c]+u0[j-c]+
			dx0[j-c]-dx0[j]+dyu[j]-dy0[j]-
			bx0[j-c]+bx0[j]-byu[j]+by0[j])) + float64(weight*fr[j-c])) / norm
		u0[j] = unew
		t := unew - uprev
		sum += float64(t * t)

		tx := ux + bx0[j]
		ty := uy + by0[j]
		s := math.Sqrt(float64(tx*tx) + float64(ty*ty))
		sl := float64(s * lam)
		dxx := float64(sl*tx) / (sl + 1)
		dyy := float64(sl*ty) / (sl + 1)
		dx0[j] = dxx
		dy0[j] = dyy
		bx0[j] += ux - dxx
		by0[j] += uy - dyy
	}
	return sum
}
