package optvis

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/photo"
)

// testPhoto returns a smooth w×h colour image with some texture, values
// in [lo, hi].
func testPhoto(seed uint64, w, h int, lo, hi float64) *photo.RGB {
	rng := rand.New(rand.NewPCG(seed, 9))
	ph := &photo.RGB{W: w, H: h, Pix: make([]float32, 3*w*h)}
	fx, fy := rng.Float64()*3, rng.Float64()*3
	for y := range h {
		for x := range w {
			for c := range 3 {
				v := 0.5 + 0.3*math.Sin(fx*float64(x)/float64(w)*6+float64(c)) + 0.2*math.Cos(fy*float64(y)/float64(h)*6) + 0.1*rng.NormFloat64()
				ph.Pix[(y*w+x)*3+c] = float32(min(max(v, lo), hi))
			}
		}
	}
	return ph
}

// TestFromImageRoundTrip checks that a parameterization started from
// photos gives the photos back (the inverse sigmoid, colour matrix and
// forward DFT undo Param.Image), for even and odd sizes, both value maps,
// Fourier and pixel, with and without decorrelation; pixel values at 0
// and 1 come back within the half grey level FromImage clamps them by.
func TestFromImageRoundTrip(t *testing.T) {
	b := backend.MustGet()
	for _, c := range []struct {
		name   string
		p      Param
		w, h   int
		lo, hi float64
		tol    float64
	}{
		{"fourier 16x12", FourierParam(), 16, 12, 0.02, 0.98, 1e-4},
		{"fourier odd 9x15", FourierParam(), 9, 15, 0.02, 0.98, 1e-4},
		{"fourier decay 1.5", Param{Kind: Fourier, Decay: 1.5, Decorrelate: true}, 12, 12, 0.02, 0.98, 1e-4},
		{"fourier clip", Param{Kind: Fourier, Decay: 1, Decorrelate: true, Map: MapClip}, 10, 8, 0, 1, 1e-4},
		{"fourier saturated", FourierParam(), 16, 16, 0, 1, 0.5/255 + 1e-4},
		{"pixel", PixelParam(), 7, 5, 0.02, 0.98, 1e-4},
		{"pixel correlated clip", Param{Kind: Pixel, Map: MapClip}, 6, 6, 0, 1, 1e-6},
	} {
		t.Run(c.name, func(t *testing.T) {
			photos := []*photo.RGB{testPhoto(1, c.w, c.h, c.lo, c.hi), testPhoto(2, c.w, c.h, c.lo, c.hi)}
			p, err := FromImage(c.p, photos...)
			if err != nil {
				t.Fatal(err)
			}
			values, dims := p.Init(nil, 2, c.h, c.w)
			got := flat(t, MustExecOnce(b, func(v *Node) *Node { return p.Image(v, c.h, c.w, nil, DFTMatMul) },
				tensors.FromFlatDataAndDimensions(values, dims...)))
			var worst float64
			for bi, ph := range photos {
				for ch := range 3 {
					for i := range c.w * c.h {
						d := math.Abs(float64(got[(bi*3+ch)*c.w*c.h+i] - ph.Pix[i*3+ch]))
						worst = max(worst, d)
					}
				}
			}
			t.Logf("largest difference %.2g", worst)
			if worst > c.tol {
				t.Errorf("param(init(photo)) differs from the photo by up to %.3g (tolerance %.2g)", worst, c.tol)
			}
		})
	}
}

// TestFromImageErrors checks the refusals: MaCo, photos of mixed sizes, no
// photo, and a render whose batch or size does not match the photos.
func TestFromImageErrors(t *testing.T) {
	a, bb := testPhoto(1, 8, 8, 0, 1), testPhoto(1, 8, 6, 0, 1)
	for _, c := range []struct {
		name   string
		err    func() error
		substr string
	}{
		{"maco", func() error { _, err := FromImage(MaCoParam(), a); return err }, "maco"},
		{"mixed sizes", func() error { _, err := FromImage(FourierParam(), a, bb); return err }, "one size"},
		{"none", func() error { _, err := FromImage(FourierParam()); return err }, "at least one photo"},
		{"render size", func() error {
			p, err := FromImage(FourierParam(), a)
			if err != nil {
				return err
			}
			_, err = Render(context.Background(), backend.MustGet(), tiny(t), Channel("layer1.0", 1)).Size(32).Param(p).Steps(1).Done()
			return err
		}, "one photo per image, at the render size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if err == nil || !strings.Contains(err.Error(), c.substr) {
				t.Errorf("error %v, want one mentioning %q", err, c.substr)
			}
		})
	}
}

// TestAccentuate accentuates a channel of a random ResNet-18 on a test
// photo, keeping an earlier layer's features (faccent) or the pixels
// (Horama): the channel's activation must rise clearly above the photo's
// while the image stays correlated with the photo; with no regularizer
// weight (alpha 0) the image must drift further from the photo than with
// it.
func TestAccentuate(t *testing.T) {
	m := tiny(t)
	b := backend.MustGet()
	ph := testPhoto(3, 32, 32, 0, 1)
	obj := Channel("layer2.0", 3)
	before := channelOn(t, obj, ph)
	corr := map[string]float64{}
	for _, c := range []struct {
		name  string
		reg   Objective
		alpha float64
	}{
		{"keep layer1", Keep(m, "layer1.0", ph), 0.3},
		{"keep pixels", KeepPixels(ph), 0.05},
		{"free", Keep(m, "layer1.0", ph), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, r, err := Accentuate(context.Background(), b, m, obj, c.reg, c.alpha, FourierParam(), ph)
			if err != nil {
				t.Fatal(err)
			}
			if !(a.Balance > 0) || a.Weight != c.alpha*a.Balance {
				t.Fatalf("balance %g, weight %g", a.Balance, a.Weight)
			}
			res, err := r.Steps(40).Snapshots(1).Seed(1).LR(0.1).Done()
			if err != nil {
				t.Fatal(err)
			}
			if len(res.TermNames) != 2 || !strings.Contains(res.TermNames[1], "keep") {
				t.Errorf("terms %v", res.TermNames)
			}
			first, final := res.Snapshots[0], res.Final()
			act := final.Terms[0]
			corr[c.name] = imageops.GreyCorrelation(photo.FromImage(final.Images[0]).Pix, ph.Pix, ph.W, ph.H, 3)
			t.Logf("%s: balance %.3g; activation %.4f on the photo, %.4f after step 1, %.4f after 40; grey correlation with the photo %.3f",
				c.name, a.Balance, before, first.Terms[0], act, corr[c.name])
			if !(act > before+0.05 && act > 1.2*before) {
				t.Errorf("the activation went from %.4f (photo) to %.4f; it should rise clearly", before, act)
			}
			if c.alpha > 0 && corr[c.name] < 0.5 {
				t.Errorf("grey correlation with the photo %.3f < 0.5: the image is no longer the photo", corr[c.name])
			}
		})
	}
	if corr["free"] >= corr["keep layer1"] {
		t.Errorf("without the regularizer the image stays as close to the photo (correlation %.3f) as with it (%.3f)", corr["free"], corr["keep layer1"])
	}
}

// channelOn returns obj's value on the photo.
func channelOn(t *testing.T, obj Objective, ph *photo.RGB) float64 {
	t.Helper()
	v, _, err := Evaluate(backend.MustGet(), tiny(t), obj, ph)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestKeep checks that the regularizers are zero at the photo and grow
// with the distance from it.
func TestKeep(t *testing.T) {
	m := tiny(t)
	b := backend.MustGet()
	ph := testPhoto(4, 32, 32, 0.05, 0.95)
	for _, reg := range []Objective{Keep(m, "layer1.0", ph), KeepPixels(ph)} {
		var prev float64 = -1
		for _, shift := range []float32{0, 0.05, 0.2} {
			img := &photo.RGB{W: ph.W, H: ph.H, Pix: make([]float32, len(ph.Pix))}
			for i, v := range ph.Pix {
				img.Pix[i] = v + shift*float32(i%7-3)/3
			}
			v, _, err := Evaluate(b, m, reg, img)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s at shift %g: %.4g", reg.Name(), shift, v)
			if shift == 0 && v > 1e-3 {
				t.Errorf("%s is %.4g at the photo itself", reg.Name(), v)
			}
			if v <= prev {
				t.Errorf("%s does not grow with the distance: %.4g then %.4g", reg.Name(), prev, v)
			}
			prev = v
		}
	}
}
