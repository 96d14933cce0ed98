package imageops

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
)

// TestDenoiseTVBregmanSkimage compares DenoiseTVBregman with scikit-image's
// denoise_tv_bregman on uint8 images.
func TestDenoiseTVBregmanSkimage(t *testing.T) {
	type bregmanCase struct {
		w, h, c int
		weight  float64
		maxIter int
		eps     float64
	}
	cases := []bregmanCase{
		{23, 17, 3, 2, 100, 1e-3},
		{23, 17, 3, 8, 100, 1e-3},
		{16, 16, 3, 5, 100, 1e-3},
		{19, 11, 3, 2, 12, 1e-12}, // stops at max_iter
		{9, 14, 1, 0.5, 100, 1e-3},
		{2, 2, 2, 3, 100, 1e-3},
	}
	imgs := make([][]float64, len(cases))
	var args []map[string]any
	for i, tc := range cases {
		u8 := testImage(tc.w, tc.h, tc.c, uint64(10+i), false)
		imgs[i] = make([]float64, len(u8))
		for j, v := range u8 {
			imgs[i][j] = ImgAsFloat(uint8(v))
		}
		args = append(args, map[string]any{"w": tc.w, "h": tc.h, "c": tc.c, "weight": tc.weight,
			"max_iter": tc.maxIter, "eps": tc.eps, "pix": u8})
	}
	var ref struct {
		Pix     [][]float64
		Skimage string
	}
	reference(t, "bregman", map[string]any{"cases": args}, &ref, "skimage")
	t.Logf("scikit-image %s", ref.Skimage)
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%dx%dx%d weight %v", tc.w, tc.h, tc.c, tc.weight), func(t *testing.T) {
			got := DenoiseTVBregman(imgs[i], tc.w, tc.h, tc.c, tc.weight, tc.maxIter, tc.eps)
			worst, exact := 0.0, 0
			for j, v := range got {
				d := math.Abs(v - ref.Pix[i][j])
				if d == 0 {
					exact++
				}
				worst = max(worst, d)
			}
			t.Logf("max |diff| %g, %d of %d bit-exact", worst, exact, len(got))
			if worst > 1e-6 {
				t.Errorf("max |diff| from scikit-image %g > 1e-6", worst)
			}
		})
	}
}

// TestDenoiseTVBregmanBatch checks that the batch gives each image's own
// result, whatever GOMAXPROCS is, and leaves its input alone.
func TestDenoiseTVBregmanBatch(t *testing.T) {
	var imgs, want [][]float64
	for i := range 5 {
		img := testImage(12, 9, 3, uint64(40+i), false)
		for j, v := range img {
			img[j] = ImgAsFloat(uint8(v))
		}
		imgs = append(imgs, img)
		want = append(want, DenoiseTVBregman(img, 12, 9, 3, 2, 100, 1e-3))
	}
	before := append([]float64(nil), imgs[0]...)
	for _, procs := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			got := DenoiseTVBregmanBatch(imgs, 12, 9, 3, 2, 100, 1e-3)
			for i := range imgs {
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("image %d differs from DenoiseTVBregman's", i)
				}
			}
		})
	}
	if !slices.Equal(imgs[0], before) {
		t.Error("the input changed")
	}
	if slices.Equal(want[0], imgs[0]) {
		t.Error("denoising changed nothing")
	}
}

// sequentialTV denoises img in scikit-image's order, row after row.
func sequentialTV(img []float64, w, h, c int, weight float64, maxIter int, eps float64) (out []float64, sweeps int) {
	b := newBregman(img, w, h, c, weight)
	total := float64(w * h * c)
	for rmse := math.MaxFloat64; sweeps < maxIter && rmse > eps; sweeps++ {
		rmse = math.Sqrt(b.sweep() / total)
	}
	out = b.result()
	b.release()
	return out, sweeps
}

// TestDenoiseRows checks that rows swept side by side, by any number of
// workers over any number of images, give the sequential order's result bit
// for bit, stopping after the same sweep; with every stopping decision left
// open by rounding (sumSlack raised), the images are denoised again in the
// sequential order, with the same result.
func TestDenoiseRows(t *testing.T) {
	type rowsCase struct {
		w, h, c, n int
		weight     float64
		maxIter    int
		eps        float64
	}
	cases := []rowsCase{
		{200, 40, 3, 1, 2, 100, 1e-3}, // rows of several chunks
		{37, 23, 3, 3, 8, 100, 1e-3},  // odd sizes, one chunk a row
		{64, 9, 1, 2, 0.5, 100, 1e-3}, // one channel
		{2, 2, 2, 4, 3, 100, 1e-3},    // the smallest image
		{33, 31, 3, 2, 2, 7, 1e-12},   // stops at maxIter
		{33, 31, 3, 2, 2, 100, 10},    // stops after the first sweep
		{33, 31, 3, 2, 2, 0, 1e-3},    // no sweep
		{150, 70, 3, 5, 5, 100, 2e-3}, // more images than workers
	}
	for _, tc := range cases {
		var imgs, want [][]float64
		sweeps := 0
		for i := range tc.n {
			img := testImage(tc.w, tc.h, tc.c, uint64(70+i), false)
			for j, v := range img {
				img[j] = ImgAsFloat(uint8(v))
			}
			imgs = append(imgs, img)
			out, n := sequentialTV(img, tc.w, tc.h, tc.c, tc.weight, tc.maxIter, tc.eps)
			want = append(want, out)
			sweeps = max(sweeps, n)
		}
		for _, slack := range []float64{sumSlack, 1e300} {
			for _, workers := range []int{1, 2, 3, 8} {
				name := fmt.Sprintf("%dx%dx%d·%d %d sweeps/%d workers/slack %g", tc.w, tc.h, tc.c, tc.n, sweeps, workers, slack)
				t.Run(name, func(t *testing.T) {
					defer func(s float64) { sumSlack = s }(sumSlack)
					sumSlack = slack
					got := denoiseRows(imgs, tc.w, tc.h, tc.c, tc.weight, tc.maxIter, tc.eps, workers)
					for i := range imgs {
						if !slices.Equal(got[i], want[i]) {
							t.Errorf("image %d differs from the sequential order's result", i)
						}
					}
				})
			}
		}
	}
}

// TestDecide checks the stopping rule's decision for a sum in another
// order: decided far from eps, left open within rounding of it.
func TestDecide(t *testing.T) {
	const n, eps = 1000, 1e-3
	at := eps * eps * n // sqrt(at/n) = eps
	for _, tc := range []struct {
		sum      float64
		cont, ok bool
	}{
		{0, false, true},
		{at / 2, false, true},
		{at * 2, true, true},
		{at * (1 - 1e-9), false, true},
		{at * (1 + 1e-9), true, true},
		{at, false, false},
		{math.Nextafter(at, 1), false, false},
		{math.Inf(1), true, false},
		{math.NaN(), false, false},
	} {
		cont, ok := decide(tc.sum, n, eps)
		if ok != tc.ok || ok && cont != tc.cont {
			t.Errorf("decide(%v) = %v, %v; want %v, %v", tc.sum, cont, ok, tc.cont, tc.ok)
		}
	}
}

func TestDenoiseTVBregmanPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short", func() { DenoiseTVBregman(make([]float64, 5), 2, 2, 2, 1, 10, 1e-3) }},
		{"one row", func() { DenoiseTVBregman(make([]float64, 6), 2, 1, 3, 1, 10, 1e-3) }},
		{"one column", func() { DenoiseTVBregman(make([]float64, 6), 1, 2, 3, 1, 10, 1e-3) }},
		{"batch size", func() {
			DenoiseTVBregmanBatch([][]float64{make([]float64, 8), make([]float64, 7)}, 2, 2, 2, 1, 10, 1e-3)
		}},
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
