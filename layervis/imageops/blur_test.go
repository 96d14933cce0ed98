package imageops

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/npy"
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

// scheduleSigmas returns the blur σ of every blur iteration (each 10th) of
// the Mind's Eye schedule from start to end over total iterations (the
// reference's find_new_val), rounded to float32 as imgaug passes σ on.
func scheduleSigmas(start, end float64, total int) []float64 {
	a := (start - end) / (1 - float64(total))
	b := (end - start*float64(total)) / (1 - float64(total))
	var out []float64
	for i := 10; i <= total; i += 10 {
		out = append(out, float64(float32(a*float64(i)+b)))
	}
	return out
}

// TestGaussianBlurSchedules compares GaussianBlur with cv2.GaussianBlur bit
// for bit at every σ of the reference schedule (0.9 → 0.2 over 2001
// iterations) and the example's quick one (0.5 → 0.1 over 301), with
// imgaug's 5×5 kernel, on whole-numbered images (as every Mind's Eye image
// is) of 64², 128² and 512² and on random float images. The outputs are
// compared through SHA-256 digests, so that the reference script returns a
// few bytes per blur; a mismatch is then shown value by value.
func TestGaussianBlurSchedules(t *testing.T) {
	sigmas := append(scheduleSigmas(0.9, 0.2, 2001), scheduleSigmas(0.5, 0.1, 301)...)
	type imgCase struct {
		name string
		size int
		pix  []float32
	}
	var cases []imgCase
	for i, size := range []int{64, 128, 512} {
		cases = append(cases, imgCase{fmt.Sprintf("whole %d²", size), size, toFloat32(testImage(size, size, 3, uint64(20+i), false))})
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, size := range []int{64, 128} {
		pix := make([]float32, size*size*3)
		for i := range pix {
			pix[i] = rng.Float32() * 255
		}
		cases = append(cases, imgCase{fmt.Sprintf("random float %d²", size), size, pix})
	}
	dir := t.TempDir()
	var args []map[string]any
	for i, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("img%d.npy", i))
		if err := npy.Write(path, []int{c.size, c.size, 3}, c.pix); err != nil {
			t.Fatal(err)
		}
		args = append(args, map[string]any{"path": path})
	}
	var ref struct{ Digests [][]string }
	reference(t, "blur_digests", map[string]any{"images": args, "sigmas": sigmas, "ksize": 5}, &ref, "cv2")
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := make([]float32, len(c.pix))
			bad := 0
			for j, sigma := range sigmas {
				GaussianBlur(dst, c.pix, c.size, c.size, 3, 5, sigma)
				if digest(dst) == ref.Digests[i][j] {
					continue
				}
				if bad++; bad > 3 {
					t.Fatal("more than 3 σ differ")
				}
				var full struct{ Pix [][]float64 }
				reference(t, "blur", map[string]any{"cases": []map[string]any{
					{"w": c.size, "h": c.size, "c": 3, "ksize": 5, "sigma": sigma, "pix": c.pix}}}, &full, "cv2")
				n, first := 0, -1
				for k, v := range dst {
					if v != float32(full.Pix[0][k]) {
						if n++; first < 0 {
							first = k
						}
					}
				}
				if first < 0 {
					t.Errorf("σ %v: the digests differ but the values do not", sigma)
					continue
				}
				t.Errorf("σ %v: %d values differ from OpenCV; value %d (x %d, y %d, channel %d) is %v, OpenCV %v",
					sigma, n, first, first/3%c.size, first/3/c.size, first%3, dst[first], full.Pix[0][first])
			}
		})
	}
}

// digest is the SHA-256 of pix as little-endian float32 values, in hex.
func digest(pix []float32) string {
	b := make([]byte, 4*len(pix))
	for i, v := range pix {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
