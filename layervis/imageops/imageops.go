// Package imageops holds the host-side image operations of the Mind's Eye
// method (see layervis/mindseye), each a port of the library function the
// reference implementation calls, reproducing its numerics:
//
//   - [GaussianBlur] and [GaussianKernel]: cv2.GaussianBlur and
//     cv2.getGaussianKernel on float32 images (OpenCV 4.x), bit for bit;
//   - [DenoiseTVBregman] and [DenoiseTVBregmanBatch]: scikit-image's
//     denoise_tv_bregman (split-Bregman total-variation denoising), bit for
//     bit, with [ImgAsFloat] for its uint8 conversion;
//   - [ZoomCubic]: scipy.ndimage.zoom with cubic splines, mode='constant',
//     bit for bit;
//   - [GaussianMask]: the method's centre-weighted gradient mask;
//   - [TruncUint8], [RoundHalfEven] and [RoundUint8]: NumPy's astype(uint8),
//     np.round and SciPy's uint8 output rounding.
//
// It also holds [HighFrequencyShare], the share of an image's spectral
// power above a frequency: the noise measure of a feature visualization
// (checked against NumPy's fft2).
//
// Images are interleaved (HWC) slices: the value of channel ch of pixel (x,y)
// of a w×h image with c channels is at index (y*w+x)*c+ch.
//
// The functions are pure Go, deterministic (the same input gives the same
// bits whatever GOMAXPROCS is) and spread their work over GOMAXPROCS
// goroutines where it pays. They check their arguments and panic with a
// message naming the problem when sizes do not match, like the rest of the
// standard library's slice-based APIs; they never fail otherwise.
package imageops

import (
	"fmt"
	"runtime"
	"sync"
)

// checkImage panics unless pix holds a w×h×c image.
func checkImage[T any](fn string, pix []T, w, h, c int) {
	if w <= 0 || h <= 0 || c <= 0 {
		panic(fmt.Sprintf("imageops.%s: image size %dx%dx%d must be positive", fn, w, h, c))
	}
	if len(pix) != w*h*c {
		panic(fmt.Sprintf("imageops.%s: %d values for a %dx%dx%d image (want %d)", fn, len(pix), w, h, c, w*h*c))
	}
}

// parallelRange calls fn on consecutive sub-ranges [lo,hi) of [0,n), at most
// one per GOMAXPROCS and each at least minChunk long, concurrently, and waits
// for them. fn must only write data that belongs to its own range.
func parallelRange(n, minChunk int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/max(1, minChunk)))
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range workers {
		lo, hi := i*n/workers, (i+1)*n/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}
