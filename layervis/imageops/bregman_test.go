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
