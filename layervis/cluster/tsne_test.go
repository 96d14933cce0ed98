package cluster

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestTSNEBlobs embeds three well-separated Gaussian blobs and checks that
// they come out as three separated groups, that the divergence goes down,
// and (with scikit-learn) that neighbourhoods are kept as well as sklearn's
// own exact t-SNE keeps them.
func TestTSNEBlobs(t *testing.T) {
	const n, d, k = 150, 10, 3
	x, truth := blobs(n, d, k, 8, 5)
	var iters []int
	var kls []float64
	y, err := TSNE(x, n, d, TSNEOptions{Seed: 1, Perplexity: 20, Progress: func(it int, kl float64) {
		iters = append(iters, it)
		kls = append(kls, kl)
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("embedding holds %v", v)
		}
	}

	// Three separated groups: every point is nearer its own blob's
	// centroid than any other blob's, by a wide margin.
	var cent [k][2]float64
	var count [k]float64
	for i, c := range truth {
		cent[c][0] += y[2*i]
		cent[c][1] += y[2*i+1]
		count[c]++
	}
	for c := range cent {
		cent[c][0] /= count[c]
		cent[c][1] /= count[c]
	}
	radius := 0.0
	for i, c := range truth {
		radius = max(radius, math.Hypot(y[2*i]-cent[c][0], y[2*i+1]-cent[c][1]))
	}
	gap := math.Inf(1)
	for a := range k {
		for b := a + 1; b < k; b++ {
			gap = min(gap, math.Hypot(cent[a][0]-cent[b][0], cent[a][1]-cent[b][1]))
		}
	}
	t.Logf("largest blob radius %.3g, smallest distance between blob centres %.3g", radius, gap)
	if gap < 3*radius {
		t.Errorf("blobs not separated: radius %.3g, centres %.3g apart", radius, gap)
	}

	// The divergence is reported every 50 iterations and goes down over
	// the second phase (after early exaggeration).
	wantIters := []int{50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 550, 600, 650, 700, 750, 800, 850, 900, 950, 1000}
	if !reflect.DeepEqual(iters, wantIters) {
		t.Fatalf("progress at iterations %v, want every 50 up to 1000", iters)
	}
	t.Logf("KL at 300: %.4f, at 1000: %.4f", kls[5], kls[len(kls)-1])
	if !(kls[len(kls)-1] < kls[5]) {
		t.Errorf("KL went from %v to %v", kls[5], kls[len(kls)-1])
	}
	for i := 6; i < len(kls); i++ {
		if kls[i] > kls[i-1]*1.01 {
			t.Errorf("KL rose from %v to %v at iteration %d", kls[i-1], kls[i], iters[i])
		}
	}

	var ref struct {
		Trust    float64 `json:"trust"`
		RefTrust float64 `json:"ref_trust"`
		RefKL    float64 `json:"ref_kl"`
	}
	reference(t, "tsne", map[string]any{"n": n, "d": d, "x": x, "y": y, "perplexity": 20, "neighbors": 10}, &ref)
	t.Logf("trustworthiness %.4f (sklearn's exact t-SNE %.4f); KL %.4f (sklearn %.4f)", ref.Trust, ref.RefTrust, kls[len(kls)-1], ref.RefKL)
	if ref.Trust < ref.RefTrust-0.02 {
		t.Errorf("trustworthiness %.4f, sklearn's own t-SNE %.4f", ref.Trust, ref.RefTrust)
	}
	if kl := kls[len(kls)-1]; kl > ref.RefKL*1.1+0.02 {
		t.Errorf("final KL %.4f, sklearn's exact t-SNE reaches %.4f", kl, ref.RefKL)
	}
}

// TestTSNEDeterministic checks that a seed fixes the embedding, whatever
// GOMAXPROCS is, and that another seed gives another one.
func TestTSNEDeterministic(t *testing.T) {
	x, _ := blobs(40, 4, 2, 5, 9)
	opts := TSNEOptions{Seed: 7, Iterations: 300}
	y1, err := TSNE(x, 40, 4, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, procs := range []int{1, 3} {
		func() {
			defer setProcs(procs)()
			y2, err := TSNE(x, 40, 4, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(y1, y2) {
				t.Errorf("GOMAXPROCS %d: a different embedding", procs)
			}
		}()
	}
	opts.Seed = 8
	y3, err := TSNE(x, 40, 4, opts)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(y1, y3) {
		t.Error("seeds 7 and 8 gave the same embedding")
	}
}

// TestTSNESmall runs t-SNE on few points, where the perplexity is clipped.
func TestTSNESmall(t *testing.T) {
	for _, n := range []int{2, 3, 5, 12} {
		x, _ := blobs(n, 3, 1, 1, uint64(n))
		y, err := TSNE(x, n, 3, TSNEOptions{Seed: 1, Iterations: 250, LearningRate: -1})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range y {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("n=%d: embedding holds %v", n, v)
			}
		}
		if y[0] == y[2] && y[1] == y[3] {
			t.Errorf("n=%d: the first two points coincide", n)
		}
	}
}

func TestTSNEErrors(t *testing.T) {
	x, _ := blobs(10, 2, 2, 5, 1)
	for _, tc := range []struct {
		name string
		x    []float64
		n, d int
		opts TSNEOptions
		want string
	}{
		{"one point", x[:2], 1, 2, TSNEOptions{}, "at least 2 points"},
		{"size", x[:7], 10, 2, TSNEOptions{}, "7 values for 10 rows of 2"},
		{"NaN", append([]float64{math.NaN()}, x[1:]...), 10, 2, TSNEOptions{}, "must be finite"},
		{"perplexity", x, 10, 2, TSNEOptions{Perplexity: -1}, "perplexity -1"},
		{"iterations", x, 10, 2, TSNEOptions{Iterations: 100}, "at least 250"},
		{"learning rate", x, 10, 2, TSNEOptions{LearningRate: math.Inf(1)}, "learning rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TSNE(tc.x, tc.n, tc.d, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
