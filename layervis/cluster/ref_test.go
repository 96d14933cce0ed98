package cluster

import (
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/layervis/layervis/layervis/internal/pyref"
)

// reference runs testdata/ref.py's operation op with the JSON encoding of in
// as its arguments and decodes its result into out. It skips the test (or
// fails it under CI) when python3 cannot import NumPy and scikit-learn.
func reference(t testing.TB, op string, in, out any) {
	t.Helper()
	pyref.JSON(t, []string{"numpy", "sklearn"}, filepath.Join("testdata", "ref.py"), op, in, out)
}

// blobs returns n points in d dimensions around k centres spaced sep apart
// (unit Gaussian noise), the points of centre c being rows c, c+k, c+2k, …,
// and each row's centre.
func blobs(n, d, k int, sep float64, seed uint64) ([]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 2))
	centres := make([]float64, k*d)
	for i := range centres {
		centres[i] = sep * rng.NormFloat64()
	}
	x := make([]float64, n*d)
	truth := make([]int, n)
	for i := range n {
		c := i % k
		truth[i] = c
		for j := range d {
			x[i*d+j] = centres[c*d+j] + rng.NormFloat64()
		}
	}
	return x, truth
}

// setProcs sets GOMAXPROCS and returns a function that restores it.
func setProcs(n int) func() {
	old := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }
}
