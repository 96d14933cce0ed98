package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// anisotropic returns n rows of d Gaussian values whose column j has
// standard deviation 10/(j+1) plus an offset, so that the singular values
// are well apart.
func anisotropic(n, d int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([]float64, n*d)
	for i := range n {
		for j := range d {
			x[i*d+j] = 5 + float64(j) + 10/float64(j+1)*rng.NormFloat64()
		}
	}
	return x
}

// TestPCASklearn compares PCA with sklearn's PCA(n_components=k).fit_transform.
func TestPCASklearn(t *testing.T) {
	type pcaCase struct{ n, d, k int }
	cases := []pcaCase{
		{40, 10, 3},  // scatter matrix (n > d)
		{12, 30, 5},  // Gram matrix (n ≤ d)
		{60, 8, 8},   // every component
		{6, 5, 5},    // as many components as the rank allows
		{25, 25, 24}, // square
		{3, 1, 1},    // one column
	}
	xs := make([][]float64, len(cases))
	var args []map[string]any
	for i, tc := range cases {
		xs[i] = anisotropic(tc.n, tc.d, uint64(i))
		args = append(args, map[string]any{"n": tc.n, "d": tc.d, "k": tc.k, "x": xs[i]})
	}
	var ref struct {
		Scores  [][]float64
		Sklearn string
	}
	reference(t, "pca", map[string]any{"cases": args}, &ref)
	t.Logf("scikit-learn %s", ref.Sklearn)
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%dx%d to %d", tc.n, tc.d, tc.k), func(t *testing.T) {
			got, err := PCA(xs[i], tc.n, tc.d, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for j, v := range got {
				worst = max(worst, math.Abs(v-ref.Scores[i][j]))
			}
			t.Logf("max |diff| %g", worst)
			if worst > 1e-8 {
				t.Errorf("max |diff| from sklearn %g > 1e-8", worst)
			}
		})
	}
}

func TestPCAErrors(t *testing.T) {
	x := anisotropic(4, 3, 1)
	for _, tc := range []struct {
		name    string
		x       []float64
		n, d, k int
		want    string
	}{
		{"k too large", x, 4, 3, 4, "min(rows, values) = 3"},
		{"k zero", x, 4, 3, 0, "need 1 ≤ k"},
		{"no rows", nil, 0, 3, 1, "at least one row"},
		{"no columns", nil, 4, 0, 1, "at least one value"},
		{"size", x[:11], 4, 3, 2, "11 values for 4 rows of 3"},
		{"NaN", append(append([]float64{}, x[:5]...), append([]float64{math.NaN()}, x[6:]...)...), 4, 3, 2, "row 1, column 2"},
		{"Inf", append([]float64{math.Inf(-1)}, x[1:]...), 4, 3, 2, "must be finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PCA(tc.x, tc.n, tc.d, tc.k)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestPCADeterministic checks that PCA gives the same bits whatever
// GOMAXPROCS is, on a size where its eigen solver works in parallel.
func TestPCADeterministic(t *testing.T) {
	x := anisotropic(300, 400, 4)
	want, err := PCA(x, 300, 400, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, procs := range []int{1, 3} {
		func() {
			defer setProcs(procs)()
			got, err := PCA(x, 300, 400, 20)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GOMAXPROCS %d: different scores", procs)
			}
		}()
	}
}
