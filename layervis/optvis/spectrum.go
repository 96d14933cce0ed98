package optvis

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/photo"
)

// Spectrum returns the average magnitude spectrum of imgs for MaCo: each
// image is fitted to h×w (scaled to cover it, then centre-cropped), mapped
// to the decorrelated colour space (the inverse of [Recorrelate]), and the
// magnitudes |rfft2| of its three planes averaged over the images. The result is [3 × h × L] row-major, L = w/2+1 (w even).
//
// MaCo's authors use the ImageNet average; none is available offline, so
// layervis uses the demo photos ([DemoSpectrum]): the magnitude spectra of
// natural photos are alike (close to 1/f), and MaCo standardizes the image
// after the inverse transform, so only the spectrum's shape matters.
func Spectrum(imgs []*photo.RGB, h, w int) ([]float32, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("optvis: Spectrum needs at least one image")
	}
	l := spectrumWidth(w)
	sum := make([]float64, 3*h*l)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan *photo.RGB)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			part := make([]float64, len(sum))
			for img := range work {
				addSpectrum(part, fitHW(img, h, w), h, w)
			}
			mu.Lock()
			for i, v := range part {
				sum[i] += v
			}
			mu.Unlock()
		})
	}
	for _, img := range imgs {
		work <- img
	}
	close(work)
	wg.Wait()
	out := make([]float32, len(sum))
	for i, v := range sum {
		out[i] = float32(v / float64(len(imgs)))
	}
	return out, nil
}

// fitHW scales img (OpenCV INTER_AREA semantics) so that it covers h×w
// and crops the centre; an h×w image is returned as is.
func fitHW(img *photo.RGB, h, w int) *photo.RGB {
	if img.W == w && img.H == h {
		return img
	}
	f := max(float64(w)/float64(img.W), float64(h)/float64(img.H))
	sw := max(w, int(math.Round(float64(img.W)*f)))
	sh := max(h, int(math.Round(float64(img.H)*f)))
	return img.ResizeArea(sw, sh).CenterCrop(w, h)
}

// addSpectrum adds |rfft2| of img's decorrelated planes to sum [3, h, L]:
// a real DFT along each row, then a complex DFT along each column.
func addSpectrum(sum []float64, img *photo.RGB, h, w int) {
	l := spectrumWidth(w)
	n := 2 * (l - 1) // the transform length numpy's irfft2 assumes
	cw, sw := twiddles(n)
	ch, sh := twiddles(h)
	plane := make([]float64, h*w)
	re, im := make([]float64, h*l), make([]float64, h*l)
	for c := range 3 {
		for i := range h * w {
			p := img.Pix[i*3:]
			plane[i] = decorrelate([3]float64{float64(p[0]), float64(p[1]), float64(p[2])})[c]
		}
		for y := range h {
			row := plane[y*w : (y+1)*w]
			for k := range l {
				var sr, si float64
				for x, v := range row {
					t := k * x % n
					sr += v * cw[t]
					si -= v * sw[t]
				}
				re[y*l+k], im[y*l+k] = sr, si
			}
		}
		for k := range l {
			for u := range h {
				var sr, si float64
				for y := range h {
					t := u * y % h
					a, b := re[y*l+k], im[y*l+k]
					// (a + ib)·(cos − i·sin)
					sr += a*ch[t] + b*sh[t]
					si += b*ch[t] - a*sh[t]
				}
				sum[(c*h+u)*l+k] += math.Hypot(sr, si)
			}
		}
	}
}

// twiddles returns cos and sin of 2πt/n for t < n.
func twiddles(n int) (cos, sin []float64) {
	cos, sin = make([]float64, n), make([]float64, n)
	for t := range n {
		sin[t], cos[t] = math.Sincos(2 * math.Pi * float64(t) / float64(n))
	}
	return cos, sin
}

var (
	demoMu      sync.Mutex
	demoSpectra = map[[2]int][]float32{}
)

// DemoSpectrum returns [Spectrum] of the demo photos at h×w, computed
// once per size and process (a few seconds at 512²). The photos come
// from the asset cache (make assets).
func DemoSpectrum(h, w int) ([]float32, error) {
	demoMu.Lock()
	defer demoMu.Unlock()
	if s, ok := demoSpectra[[2]int{h, w}]; ok {
		return s, nil
	}
	paths, err := assets.DemoPhotos()
	if err != nil {
		return nil, fmt.Errorf("optvis: MaCo's magnitude spectrum is computed from the demo photos: %w", err)
	}
	imgs := make([]*photo.RGB, 0, len(paths))
	for _, p := range paths {
		img, err := photo.Load(p)
		if err != nil {
			return nil, fmt.Errorf("optvis: MaCo spectrum: %w", err)
		}
		imgs = append(imgs, img)
	}
	s, err := Spectrum(imgs, h, w)
	if err != nil {
		return nil, err
	}
	demoSpectra[[2]int{h, w}] = s
	return s, nil
}
