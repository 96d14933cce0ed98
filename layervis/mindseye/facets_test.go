package mindseye

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSchedules checks the linear schedules against the values the method
// note gives for the reference defaults.
func TestSchedules(t *testing.T) {
	c := Clean()
	cases := []struct {
		name string
		r    Range
		i    int
		want float64
	}{
		{"lr(1)", c.LR, 1, 0.5},
		{"lr(2001)", c.LR, 2001, 0.08},
		{"lr(1001)", c.LR, 1001, 0.29},
		{"mask sigma(1)", c.MaskSigma, 1, 420},
		{"mask sigma(2001)", c.MaskSigma, 2001, 340},
		{"blur sigma(2001)", c.BlurSigma, 2001, 0.2},
		{"denoise weight(1001)", c.DenoiseWeight, 1001, 5},
		{"lambda(1)", c.Lambda, 1, 1e-4},
		{"lambda(2001)", c.Lambda, 2001, 5e-4},
	}
	for _, tc := range cases {
		if got := tc.r.At(tc.i, c.Iterations); math.Abs(got-tc.want) > 1e-12*math.Max(1, math.Abs(tc.want)) {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := (Range{3, 7}).At(1, 1); got != 3 {
		t.Errorf("a one-iteration schedule = %v, want its start 3", got)
	}
}

// TestSoftWeights checks the exemplar weights: the reference's unshifted
// exp(1/d)/Σexp(1/d) gives "≈0.097–0.105" for distances 10..50 (method note
// §4.2; checked to ±0.0015 as the note rounds), the stable softmax gives the same values where both are defined,
// the unshifted form fails clearly where exp(1/d) overflows, and the stable
// one puts all weight on exemplars at distance 0.
func TestSoftWeights(t *testing.T) {
	d := []float64{10, 14, 18, 23, 27, 32, 36, 41, 45, 50}
	for _, unshifted := range []bool{true, false} {
		w, err := softWeights(d, unshifted)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for i, v := range w {
			sum += v
			if v < 0.097-0.0015 || v > 0.105+0.0015 {
				t.Errorf("unshifted=%v: weight of d=%v is %v, not ≈0.097–0.105", unshifted, d[i], v)
			}
			if i > 0 && v > w[i-1] {
				t.Errorf("unshifted=%v: weight grows with distance: %v", unshifted, w)
			}
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("unshifted=%v: weights sum to %v", unshifted, sum)
		}
	}
	a, _ := softWeights([]float64{0.5, 1, 2}, true)
	b, _ := softWeights([]float64{0.5, 1, 2}, false)
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-12 {
			t.Errorf("stable and unshifted softmax differ: %v vs %v", a, b)
		}
	}
	if _, err := softWeights([]float64{1e-3, 1}, true); err == nil || !strings.Contains(err.Error(), "UnshiftedSoftmax") {
		t.Errorf("unshifted softmax of d=1e-3: err = %v, want an overflow error naming the switch", err)
	}
	if _, err := softWeights([]float64{0, 1}, true); err == nil {
		t.Error("unshifted softmax with d=0: no error")
	}
	w, err := softWeights([]float64{0, 1, 0, 1e-3}, false)
	if err != nil || !slices.Equal(w, []float64{0.5, 0, 0.5, 0}) {
		t.Errorf("stable softmax with zero distances = %v, %v; want [0.5 0 0.5 0]", w, err)
	}
	w, err = softWeights([]float64{1e-3, 1}, false)
	if err != nil || !(w[0] > 0.999999) || math.IsNaN(w[1]) {
		t.Errorf("stable softmax of d=1e-3, 1 = %v, %v; want almost all weight on the first", w, err)
	}
}

// TestChannelCoupling checks that the per-channel count form of the compat
// activation term equals the reference's [K,K,n] product
// Σ_b Σ_k Σ_{j∈S_k} a_bj·T_bj, and the clean form equals
// Σ_b Σ_{j∈S_b} a_bj·T_bj.
func TestChannelCoupling(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const k, c, n = 4, 12, 3
	a, tg := make([]float64, k*c), make([]float64, k*c)
	for i := range a {
		a[i], tg[i] = rng.Float64(), rng.Float64()
	}
	sets := make([][]int, k)
	for i := range sets {
		sets[i] = rng.Perm(c)[:n]
		sets[i][0] = 5 // overlapping sets, so multiplicities matter
		slices.Sort(sets[i])
		sets[i] = slices.Compact(sets[i])
	}
	dot := func(w []float32) float64 {
		s := 0.0
		for i := range a {
			s += float64(w[i]) * a[i] * tg[i]
		}
		return s
	}
	nested := 0.0 // out[:, S] * T[:, S], summed: [K,K,n]
	for b := range k {
		for kk := range k {
			for _, j := range sets[kk] {
				nested += a[b*c+j] * tg[b*c+j]
			}
		}
	}
	if got := dot(channelWeights(sets, c, true)); math.Abs(got-nested) > 1e-12*math.Abs(nested) {
		t.Errorf("coupled weights give %v, the [K,K,n] sum is %v", got, nested)
	}
	own := 0.0
	for b := range k {
		for _, j := range sets[b] {
			own += a[b*c+j] * tg[b*c+j]
		}
	}
	if got := dot(channelWeights(sets, c, false)); math.Abs(got-own) > 1e-12*math.Abs(own) {
		t.Errorf("per-facet weights give %v, want %v", got, own)
	}
}

// TestTopChannels checks the reference's selection
// [j for j in range(C) if t[j] in sorted(t)[-n:]]: ascending index order and
// ties included.
func TestTopChannels(t *testing.T) {
	cases := []struct {
		t    []float64
		n    int
		want []int
	}{
		{[]float64{0.1, 0.9, 0.5, 0.7}, 2, []int{1, 3}},
		{[]float64{1, 3, 3, 2}, 1, []int{1, 2}},    // sorted(t)[-1:] = [3]: both 3s
		{[]float64{1, 3, 2, 2}, 2, []int{1, 2, 3}}, // [2, 3]: both 2s
		{[]float64{4, 1}, 5, []int{0, 1}},          // n > C: all
	}
	for _, tc := range cases {
		if got := topChannels(tc.t, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("topChannels(%v, %d) = %v, want %v", tc.t, tc.n, got, tc.want)
		}
	}
}

// TestExemplars checks nearest and farthest selection, the latter as
// numpy's argsort(d)[::-1][:m].
func TestExemplars(t *testing.T) {
	d := []float64{3, 1, 4, 1, 5}
	cases := []struct {
		farthest bool
		m        int
		want     []int
	}{
		{false, 3, []int{1, 3, 0}},
		{true, 3, []int{4, 2, 0}},
		{true, 5, []int{4, 2, 0, 3, 1}},
		{false, 9, []int{1, 3, 0, 2, 4}},
	}
	for _, tc := range cases {
		if got := exemplars(d, tc.m, tc.farthest); !slices.Equal(got, tc.want) {
			t.Errorf("exemplars(%v, %d, farthest=%v) = %v, want %v", d, tc.m, tc.farthest, got, tc.want)
		}
	}
}

// TestBlend checks that the initial image is the weighted sum truncated
// (not rounded) to 8 bits.
func TestBlend(t *testing.T) {
	got := blend([][]float32{{1, 255, 10, 0}, {2, 255, 11, 1}}, []float64{0.5, 0.5})
	if want := []float32{1, 255, 10, 0}; !slices.Equal(got, want) {
		t.Errorf("blend = %v, want %v", got, want)
	}
}

// TestBlurKernel checks imgaug's kernel size rule: 5 for every σ the
// schedules use, larger and odd beyond.
func TestBlurKernel(t *testing.T) {
	for _, tc := range []struct {
		sigma float64
		want  int
	}{{0.2, 5}, {0.9, 5}, {1.5, 5}, {1.6, 5}, {2, 7}, {3, 9}, {4, 11}, {6, 15}} {
		if got := blurKernel(tc.sigma); got != tc.want {
			t.Errorf("blurKernel(%v) = %d, want %d", tc.sigma, got, tc.want)
		}
	}
}
