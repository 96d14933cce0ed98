package imageops

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/internal/pyref"
)

// reference runs testdata/ref.py's operation op with the JSON encoding of in
// as its arguments and decodes its result into out. It skips the test (or
// fails it under CI) when python3 cannot import the modules.
func reference(t testing.TB, op string, in, out any, modules ...string) {
	t.Helper()
	pyref.JSON(t, append([]string{"numpy"}, modules...), filepath.Join("testdata", "ref.py"), op, in, out)
}

// testImage returns a w×h×c image of values in [0,255] that are exact in
// float32 and in decimal: smooth gradients, a sharp edge and noise, in
// steps of 1/16 when frac, whole numbers otherwise.
func testImage(w, h, c int, seed uint64, frac bool) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	pix := make([]float64, w*h*c)
	for y := range h {
		for x := range w {
			for ch := range c {
				v := 40 + 150*float64(x+ch*y)/float64(w+c*h)
				if x > w/2 && y < h/3 {
					v += 60
				}
				v += rng.NormFloat64() * 25
				if frac {
					v = float64(int(v*16)) / 16
				} else {
					v = float64(int(v))
				}
				pix[(y*w+x)*c+ch] = min(max(v, 0), 255)
			}
		}
	}
	return pix
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func nan() float64 { return math.NaN() }
