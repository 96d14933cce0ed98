package imageops

import (
	"fmt"
	"testing"
)

// benchImages returns n 512×512×3 test images with uint8 values.
func benchImages(n int) [][]float64 {
	imgs := make([][]float64, n)
	for i := range imgs {
		imgs[i] = testImage(512, 512, 3, uint64(100+i), false)
	}
	return imgs
}

// BenchmarkGaussianBlur blurs 10 images of 512×512×3 (the Mind's Eye batch)
// with the 5×5 kernel; one op is the whole batch.
func BenchmarkGaussianBlur(b *testing.B) {
	var src, dst [][]float32
	for _, img := range benchImages(10) {
		src = append(src, toFloat32(img))
		dst = append(dst, make([]float32, len(img)))
	}
	b.ResetTimer()
	for b.Loop() {
		for i := range src {
			GaussianBlur(dst[i], src[i], 512, 512, 3, 5, 0.9)
		}
	}
}

// BenchmarkDenoiseTVBregman denoises 1, 3 and 10 images of 512×512×3 (10:
// the Mind's Eye batch) with weight 2, 100 iterations at most and eps 1e-3;
// one op is the whole batch.
func BenchmarkDenoiseTVBregman(b *testing.B) {
	imgs := benchImages(10)
	for _, img := range imgs {
		for j, v := range img {
			img[j] = ImgAsFloat(uint8(v))
		}
	}
	for _, n := range []int{1, 3, 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				DenoiseTVBregmanBatch(imgs[:n], 512, 512, 3, 2, 100, 1e-3)
			}
		})
	}
}

// BenchmarkZoomCubic zooms one 512×512×3 image by 1.2 (the Mind's Eye
// jitter canvas, made once per run for each of the 10 images).
func BenchmarkZoomCubic(b *testing.B) {
	img := benchImages(1)[0]
	for b.Loop() {
		ZoomCubic(img, 512, 512, 3, 1.2)
	}
}

// BenchmarkGaussianMask computes the 512×512 mask (once per iteration).
func BenchmarkGaussianMask(b *testing.B) {
	for b.Loop() {
		GaussianMask(512, 512, 420)
	}
}
