package mindseye

// Stage B: from the pooled features of every image to K facets, each with
// its exemplars, soft weights, target vector, channels and initial blend.

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/layervis/layervis/layervis/cluster"
	"github.com/layervis/layervis/layervis/imageops"
)

// Facet is one cluster of the image set and what the optimization aims at.
type Facet struct {
	// Index is the facet's number, 0-based (files use Index+1).
	Index int
	// Members are the images k-means assigned to the facet.
	Members []int
	// Centre is the k-means centre in the t-SNE map.
	Centre [2]float64
	// Nearest is the image nearest the centre (the plot's thumbnail).
	Nearest int
	// Exemplars are the M images blended into the initial image, with their
	// t-SNE distances to the centre and their soft weights (summing to 1).
	Exemplars []int
	Distances []float64
	Weights   []float64
	// Target is T_k, the weighted mean of the exemplars' pooled features.
	Target []float32
	// Channels is S_k, the channels with the largest Target values, in
	// ascending index order (more than n when values tie, as in the
	// reference).
	Channels []int
}

// embedding is Stage B's clustering result.
type embedding struct {
	points []float64 // N×2 t-SNE map
	labels []int     // k-means label of each image
	dist   []float64 // N×K distance of each image to each centre
	centre []float64 // K×2
}

// embed reduces the N×C features with PCA (to min(components, N−1)
// dimensions), maps them to 2-D with exact t-SNE (its perplexity lowered to
// (N−1)/3 for small sets) and clusters the map with k-means++ (restarts),
// all seeded. tsneProgress, if not nil, gets t-SNE's progress.
func embed(features []float64, n, c, k int, cfg *Config, seed uint64, tsneProgress func(iter int, kl float64)) (*embedding, error) {
	dims := min(cfg.PCAComponents, n-1, c)
	reduced, err := cluster.PCA(features, n, c, dims)
	if err != nil {
		return nil, fmt.Errorf("mindseye: PCA of %d feature vectors: %w", n, err)
	}
	points, err := cluster.TSNE(reduced, n, dims, cluster.TSNEOptions{
		Perplexity: cfg.Perplexity, Iterations: cfg.TSNEIterations,
		LearningRate: cfg.TSNELearningRate, Seed: seed, Progress: tsneProgress,
	})
	if err != nil {
		return nil, fmt.Errorf("mindseye: t-SNE of %d images: %w", n, err)
	}
	labels, centres, dist, err := cluster.KMeans(points, n, 2, k, cluster.KMeansOptions{
		Restarts: cfg.KMeansRestarts, MaxIter: 300, Tol: 1e-4, Seed: seed + 1,
	})
	if err != nil {
		return nil, fmt.Errorf("mindseye: k-means with %d clusters: %w", k, err)
	}
	return &embedding{points: points, labels: labels, dist: dist, centre: centres}, nil
}

// exemplars returns the indices of the m images nearest the centre (by
// ascending distance, ties in index order) or, with farthest, the m
// farthest (the reference's argsort(d)[::-1][:m]: descending distance, ties
// in descending index order).
func exemplars(dist []float64, m int, farthest bool) []int {
	idx := make([]int, len(dist))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return dist[idx[a]] < dist[idx[b]] })
	if farthest {
		slices.Reverse(idx)
	}
	return idx[:min(m, len(idx))]
}

// softWeights turns distances into weights summing to 1: the softmax of
// 1/d. unshifted computes it as the reference does, exp(1/d)/Σexp(1/d),
// and fails where that is not finite (an exemplar at or very near its
// centre); otherwise the maximum is subtracted first and exemplars at
// distance 0 share the weight equally (the limit of the softmax).
func softWeights(d []float64, unshifted bool) ([]float64, error) {
	w := make([]float64, len(d))
	for _, v := range d {
		if math.IsNaN(v) || v < 0 {
			return nil, fmt.Errorf("mindseye: exemplar distance %v is not a non-negative number", v)
		}
	}
	if unshifted {
		sum := 0.0
		for i, v := range d {
			w[i] = math.Exp(1 / v)
			sum += w[i]
		}
		if math.IsInf(sum, 0) || sum == 0 {
			near := slices.Min(d)
			return nil, fmt.Errorf("mindseye: exemplar weights exp(1/d) overflow: an exemplar lies at distance %g from its facet's centre (Quirks.UnshiftedSoftmax, the reference's formula, needs every distance above about 0.0014); turn Quirks.UnshiftedSoftmax off (the clean preset) for a stable softmax", near)
		}
		for i := range w {
			w[i] /= sum
		}
		return w, nil
	}
	if slices.Contains(d, 0) {
		zeros := 0
		for _, v := range d {
			if v == 0 {
				zeros++
			}
		}
		for i, v := range d {
			if v == 0 {
				w[i] = 1 / float64(zeros)
			}
		}
		return w, nil
	}
	top := math.Inf(-1)
	for _, v := range d {
		top = max(top, 1/v)
	}
	sum := 0.0
	for i, v := range d {
		w[i] = math.Exp(1/v - top)
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	return w, nil
}

// weightedTarget returns Σ_m w_m·features[e_m] (C values) in float64.
func weightedTarget(features []float64, c int, ex []int, w []float64) []float64 {
	t := make([]float64, c)
	for m, e := range ex {
		row := features[e*c : (e+1)*c]
		for j, v := range row {
			t[j] += w[m] * v
		}
	}
	return t
}

// topChannels returns the channels j whose t[j] is among the n largest
// values, in ascending index order, as the reference selects them
// ([j for j in range(C) if t[j] in sorted(t)[-n:]]): every channel equal to
// one of those values, so ties can give more than n.
func topChannels(t []float64, n int) []int {
	n = min(n, len(t))
	sorted := slices.Clone(t)
	slices.Sort(sorted)
	threshold := sorted[len(sorted)-n]
	var s []int
	for j, v := range t {
		if v >= threshold {
			s = append(s, j)
		}
	}
	return s
}

// channelWeights returns the K×C weights W of the activation term
// −Σ_b Σ_j W_bj·a_bj·T_bj. With coupled (Q2), the reference's
// out[:, S] with S a list of K channel lists gives the [K,K,n] product
// Σ_b Σ_k Σ_{j∈S_k} a_bj·T_bj, which is W_bj = cnt_j = #{k : j ∈ S_k}
// for every image b. Otherwise W_bj = 1 if j ∈ S_b, else 0.
func channelWeights(sets [][]int, c int, coupled bool) []float32 {
	k := len(sets)
	w := make([]float32, k*c)
	if coupled {
		cnt := make([]float32, c)
		for _, s := range sets {
			for _, j := range s {
				cnt[j]++
			}
		}
		for b := range k {
			copy(w[b*c:], cnt)
		}
		return w
	}
	for b, s := range sets {
		for _, j := range s {
			w[b*c+j] = 1
		}
	}
	return w
}

// blend returns the initial image of a facet: Σ_m w_m·image_m computed in
// float64 and truncated to 8 bits (the reference's astype(np.uint8)), for
// images of equal length holding values in 0..255.
func blend(images [][]float32, w []float64) []float32 {
	out := make([]float32, len(images[0]))
	for i := range out {
		s := 0.0
		for m, img := range images {
			s += w[m] * float64(img[i])
		}
		out[i] = float32(imageops.TruncUint8(s))
	}
	return out
}
