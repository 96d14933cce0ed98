package mindseye

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/internal/pyref"
	"github.com/layervis/layervis/layervis/npy"
)

// hostSchedule is a Stage C schedule as far as the host steps go.
type hostSchedule struct {
	name                 string
	size, k, iterations  int
	blur, denoise, msig  Range
	brightnessStep, step int // step: test every step-th blur iteration
}

// hostIteration is one blur iteration's host parameters.
type hostIteration struct {
	I      int     `json:"i"`
	MSig   float64 `json:"msig"`
	Sigma  float64 `json:"sigma"`
	Weight float64 `json:"weight"`
	Bright bool    `json:"bright"`
}

func (s hostSchedule) iterations10() []hostIteration {
	var out []hostIteration
	for i, n := 10, 0; i <= s.iterations; i, n = i+10, n+1 {
		if n%s.step != 0 && i != s.iterations/10*10 {
			continue
		}
		out = append(out, hostIteration{
			I:      i,
			MSig:   s.msig.At(i, s.iterations) * float64(s.size) / referenceSize,
			Sigma:  s.blur.At(i, s.iterations),
			Weight: s.denoise.At(i, s.iterations),
			Bright: i%s.brightnessStep == 0,
		})
	}
	return out
}

// hostStates returns k synthetic working images for blur iteration n: a
// smooth photo-like base (gradients, a sharp edge, a saturated white
// patch and a black one) with noise that grows towards the centre, as the
// optimization leaves it, in whole levels. denoise is the state after a
// simulated gradient step: more centre noise on top.
func hostStates(k, size, n int) (blur, denoise []float32) {
	rng := rand.New(rand.NewPCG(uint64(n), 11))
	blur = make([]float32, k*size*size*3)
	denoise = make([]float32, len(blur))
	c := float64(size) / 2
	for b := range k {
		fx, fy := 1+rng.Float64()*3, 1+rng.Float64()*3
		for y := range size {
			for x := range size {
				r := math.Hypot(float64(x)-c, float64(y)-c) / c
				centre := math.Max(0, 1-r)
				for ch := range 3 {
					v := 128 + 70*math.Sin(fx*float64(x)/float64(size)*math.Pi+float64(ch+b))*
						math.Cos(fy*float64(y)/float64(size)*math.Pi)
					if x > size*2/3 && y < size/4 {
						v += 90
					}
					if x < size/8 && y > size*7/8 {
						v = 0
					}
					v += rng.NormFloat64() * (3 + 25*centre)
					i := ((b*size+y)*size+x)*3 + ch
					blur[i] = float32(math.Min(math.Max(math.Round(v), 0), 255))
					d := float64(blur[i]) + rng.NormFloat64()*12*centre
					denoise[i] = float32(math.Min(math.Max(math.Round(d), 0), 255))
				}
			}
		}
	}
	return blur, denoise
}

// hostDiff counts the values of got that differ from want, and the largest
// difference in levels.
func hostDiff(got []float32, want []float32) (n int, worst float64) {
	for i, v := range want {
		if d := math.Abs(float64(got[i] - v)); d > 0 {
			n++
			worst = math.Max(worst, d)
		}
	}
	return n, worst
}

// TestHostMatchesReference runs the host steps of Stage C (the
// centre-weighted blur with the brightness step, and the centre-weighted
// TV denoising) from identical states with layervis and with a NumPy +
// OpenCV + scikit-image formulation of the reference's (testdata/
// host_ref.py), over the blur iterations of the quick schedule (the
// example's) and a sample of the reference schedule's. Each iteration may
// differ by at most one level on at most 0.1% of the values. With
// LAYERVIS_HOST_PARITY=full it runs every blur iteration of both schedules
// at their full sizes (minutes) and logs the numbers per iteration.
func TestHostMatchesReference(t *testing.T) {
	pyref.RequireModules(t, "numpy", "cv2", "skimage")
	full := os.Getenv("LAYERVIS_HOST_PARITY") == "full"
	schedules := []hostSchedule{
		{name: "quick", size: 128, k: 2, iterations: 301, blur: Range{0.5, 0.1}, denoise: Range{8, 32},
			msig: Range{600, 500}, brightnessStep: 50, step: 1},
		{name: "reference", size: 512, k: 1, iterations: 2001, blur: Range{0.9, 0.2}, denoise: Range{2, 8},
			msig: Range{420, 340}, brightnessStep: 50, step: 67},
	}
	if full {
		schedules[0].k = 4
		schedules[1].k, schedules[1].step = 2, 5
	}
	for _, s := range schedules {
		t.Run(s.name, func(t *testing.T) {
			its := s.iterations10()
			per := s.k * s.size * s.size * 3
			chunk := max(1, (16<<20)/(4*per)) // iterations per reference call: 16 MiB of input each
			var total, totalBad int
			worstFrac, worstLevel := 0.0, 0.0
			for lo := 0; lo < len(its); lo += chunk {
				part := its[lo:min(lo+chunk, len(its))]
				dir := t.TempDir()
				blurIn := make([]float32, 0, len(part)*per)
				denoiseIn := make([]float32, 0, len(part)*per)
				for _, it := range part {
					b, d := hostStates(s.k, s.size, it.I)
					blurIn, denoiseIn = append(blurIn, b...), append(denoiseIn, d...)
				}
				shape := []int{len(part), s.k, s.size, s.size, 3}
				for name, v := range map[string][]float32{"blur_in.npy": blurIn, "denoise_in.npy": denoiseIn} {
					if err := npy.Write(filepath.Join(dir, name), shape, v); err != nil {
						t.Fatal(err)
					}
				}
				var out struct{}
				pyref.JSON(t, []string{"numpy", "cv2", "skimage"}, "testdata/host_ref.py", "host",
					map[string]any{"dir": dir, "iterations": part}, &out)
				_, wantBlur, err := npy.Read(filepath.Join(dir, "blur_out.npy"))
				if err != nil {
					t.Fatal(err)
				}
				_, wantDenoise, err := npy.Read(filepath.Join(dir, "denoise_out.npy"))
				if err != nil {
					t.Fatal(err)
				}
				for n, it := range part {
					h := &host{k: s.k, size: s.size}
					mask1 := imageops.GaussianMask(s.size, s.size, it.MSig)
					mask2 := invert(mask1)
					bright := 0.0
					if it.Bright {
						bright = 5
					}
					h.cur = append([]float32(nil), blurIn[n*per:(n+1)*per]...)
					h.blurBlend(mask1, mask2, it.Sigma, bright)
					nb, wb := hostDiff(h.cur, wantBlur[n*per:(n+1)*per])
					h.cur = append([]float32(nil), denoiseIn[n*per:(n+1)*per]...)
					h.denoiseBlend(mask1, mask2, it.Weight, 100, 1e-3)
					nd, wd := hostDiff(h.cur, wantDenoise[n*per:(n+1)*per])
					msg := fmt.Sprintf("iteration %d (σ %.4g, weight %.4g, brightness %v): blur %d/%d values differ (max %g levels), denoise %d (max %g)",
						it.I, it.Sigma, it.Weight, it.Bright, nb, per, wb, nd, wd)
					if full {
						t.Log(msg)
					}
					bad := false
					for _, c := range [][2]float64{{float64(nb), wb}, {float64(nd), wd}} {
						total += per
						totalBad += int(c[0])
						worstFrac, worstLevel = math.Max(worstFrac, c[0]/float64(per)), math.Max(worstLevel, c[1])
						bad = bad || c[1] > 1 || c[0] > float64(per)/1000
					}
					if bad {
						t.Error(msg)
					}
				}
			}
			t.Logf("%s schedule, %d×%d², %d blur iterations: %d of %d values differ (worst iteration %.3f%%, at most %g levels)",
				s.name, s.k, s.size, len(its), totalBad, total, 100*worstFrac, worstLevel)
		})
	}
}
