package imageops

import (
	"testing"
)

func TestGaussianKernelOpenCV(t *testing.T) {
	ksizes := []int{3, 5, 5, 5, 5, 7, 9}
	sigmas := []float64{0.7, 0.9, 0.55, 0.2, 1.5, 1.1, 2}
	var ref struct{ Kernels [][]float64 }
	reference(t, "kernel", map[string]any{"ksize": ksizes, "sigma": sigmas}, &ref, "cv2")
	for i, k := range ksizes {
		got := GaussianKernel(k, sigmas[i])
		if len(got) != len(ref.Kernels[i]) {
			t.Fatalf("ksize %d: %d weights, OpenCV %d", k, len(got), len(ref.Kernels[i]))
		}
		for j, v := range got {
			if float64(v) != ref.Kernels[i][j] {
				t.Errorf("ksize %d sigma %v: weight %d = %v, OpenCV %v", k, sigmas[i], j, v, ref.Kernels[i][j])
			}
		}
	}
}

// TestGaussianBlurOpenCV compares GaussianBlur with cv2.GaussianBlur bit for
// bit.
func TestGaussianBlurOpenCV(t *testing.T) {
	type blurCase struct {
		name       string
		w, h, c, k int
		sigma      float64
		whole      bool // whole-numbered pixel values
	}
	cases := []blurCase{
		{"sigma0.9", 24, 16, 3, 5, 0.9, false},
		{"sigma0.2", 24, 16, 3, 5, 0.2, false},
		{"odd sizes", 17, 13, 3, 5, 0.55, false},
		{"whole numbers", 31, 9, 3, 5, 0.75, true},
		{"larger", 67, 45, 3, 5, 0.6, false},
		{"tiny", 3, 2, 3, 5, 1.2, false},
		{"one column", 1, 7, 2, 5, 0.9, false},
		{"one row", 9, 1, 3, 5, 0.9, false},
		{"one channel ksize 7", 20, 11, 1, 7, 1.5, false},
		{"ksize 3", 10, 10, 4, 3, 0.8, false},
	}
	srcs := make([][]float32, len(cases))
	var args []map[string]any
	for i, tc := range cases {
		srcs[i] = toFloat32(testImage(tc.w, tc.h, tc.c, uint64(i), !tc.whole))
		args = append(args, map[string]any{"w": tc.w, "h": tc.h, "c": tc.c, "ksize": tc.k, "sigma": tc.sigma, "pix": srcs[i]})
	}
	var ref struct{ Pix [][]float64 }
	reference(t, "blur", map[string]any{"cases": args}, &ref, "cv2")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, len(srcs[i]))
			GaussianBlur(dst, srcs[i], tc.w, tc.h, tc.c, tc.k, tc.sigma)
			for j, v := range dst {
				if want := float32(ref.Pix[i][j]); v != want {
					t.Fatalf("value %d (x %d, y %d, channel %d) = %v, OpenCV %v (OpenCV on a CPU without FMA differs by an ulp)",
						j, j/tc.c%tc.w, j/tc.c/tc.w, j%tc.c, v, want)
				}
			}
		})
	}
}

func TestGaussianBlurCopies(t *testing.T) {
	src := toFloat32(testImage(6, 5, 3, 9, true))
	for _, tc := range []struct {
		name  string
		k     int
		sigma float64
	}{{"sigma 1e-3", 5, 1e-3}, {"sigma 0", 5, 0}, {"negative sigma", 5, -1}, {"ksize 1", 1, 0.9}} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, len(src))
			GaussianBlur(dst, src, 6, 5, 3, tc.k, tc.sigma)
			for i := range dst {
				if dst[i] != src[i] {
					t.Fatalf("value %d = %v, want a copy (%v)", i, dst[i], src[i])
				}
			}
		})
	}
	dst := make([]float32, len(src))
	GaussianBlur(dst, src, 6, 5, 3, 5, 0.9)
	same := 0
	for i := range dst {
		if dst[i] == src[i] {
			same++
		}
	}
	if same == len(dst) {
		t.Error("sigma 0.9 left the image unchanged")
	}
}

func TestGaussianBlurPanics(t *testing.T) {
	src := make([]float32, 4*3*3)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short dst", func() { GaussianBlur(make([]float32, 5), src, 4, 3, 3, 5, 1) }},
		{"wrong size", func() { GaussianBlur(make([]float32, len(src)), src, 4, 4, 3, 5, 1) }},
		{"even ksize", func() { GaussianBlur(make([]float32, len(src)), src, 4, 3, 3, 4, 1) }},
		{"NaN sigma", func() { GaussianBlur(make([]float32, len(src)), src, 4, 3, 3, 5, nan()) }},
		{"alias", func() { GaussianBlur(src, src, 4, 3, 3, 5, 1) }},
		{"kernel ksize", func() { GaussianKernel(0, 1) }},
		{"kernel sigma", func() { GaussianKernel(5, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}
