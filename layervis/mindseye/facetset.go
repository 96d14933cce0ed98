package mindseye

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Stage B's orchestration: the facets of the image set (the arithmetic is
// in facets.go), their report entries and the host state they start from.

// buildFacets is Stage B.
func (r *Run) buildFacets(ctx context.Context, progress func(Event)) error {
	n := len(r.images)
	r.k, r.mUsed = r.cfg.Clusters, r.cfg.Exemplars
	if n <= r.k {
		r.warn(progress, StageFacets, "only %d images for %d clusters: using K = %d facets", n, r.k, n-1)
		r.k = n - 1
	}
	if n < r.mUsed {
		r.warn(progress, StageFacets, "only %d images for %d exemplars per facet: using M = %d", n, r.mUsed, n)
		r.mUsed = n
	}
	if r.cfg.TopChannels > r.c {
		r.warn(progress, StageFacets, "the target layer has %d channels, fewer than TopChannels %d: using all", r.c, r.cfg.TopChannels)
	}
	r.report.Clusters, r.report.Exemplars = r.k, r.mUsed
	r.note(progress, Event{Stage: StageFacets, Message: fmt.Sprintf("PCA, t-SNE and k-means of %d images into %d facets", n, r.k)})
	emb, err := embed(r.feats, n, r.c, r.k, &r.cfg, r.seed, func(iter int, kl float64) {
		r.note(progress, Event{Stage: StageFacets, Done: iter, Total: r.cfg.TSNEIterations,
			Message: fmt.Sprintf("t-SNE iteration %d/%d, KL divergence %.4g", iter, r.cfg.TSNEIterations, kl)})
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.emb = emb
	sets := make([][]int, r.k)
	r.target = make([]float32, r.k*r.c)
	blends := make([][]float32, r.k)
	r.facets = make([]Facet, r.k)
	for k := range r.k {
		d := make([]float64, n)
		for i := range n {
			d[i] = emb.dist[i*r.k+k]
		}
		f := Facet{Index: k, Centre: [2]float64{emb.centre[2*k], emb.centre[2*k+1]}}
		for i, l := range emb.labels {
			if l == k {
				f.Members = append(f.Members, i)
			}
		}
		f.Nearest = exemplars(d, 1, false)[0]
		f.Exemplars = exemplars(d, r.mUsed, r.cfg.Quirks.FarthestExemplars)
		for _, e := range f.Exemplars {
			f.Distances = append(f.Distances, d[e])
		}
		if f.Weights, err = softWeights(f.Distances, r.cfg.Quirks.UnshiftedSoftmax); err != nil {
			return fmt.Errorf("facet %d: %w", k+1, err)
		}
		t := weightedTarget(r.feats, r.c, f.Exemplars, f.Weights)
		f.Channels = topChannels(t, r.cfg.TopChannels)
		f.Target = make([]float32, r.c)
		for j, v := range t {
			f.Target[j] = float32(v)
		}
		copy(r.target[k*r.c:], f.Target)
		sets[k] = f.Channels
		// The initial blend, from the exemplars reloaded (Stage A keeps no
		// pixels, so large sets fit in memory).
		imgs := make([][]float32, len(f.Exemplars))
		errs := make([]error, len(f.Exemplars))
		forEach(len(f.Exemplars), func(m int) {
			imgs[m], errs[m] = loadPixels(r.images[f.Exemplars[m]], r.cfg.Size, r.cfg.QuantizeInputs)
		})
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("mindseye: reloading an exemplar of facet %d: %w", k+1, err)
		}
		blends[k] = blend(imgs, f.Weights)
		r.facets[k] = f
	}
	r.weights = channelWeights(sets, r.c, r.cfg.Quirks.CoupledChannels)
	r.host = &host{k: r.k, size: r.cfg.Size, cur: slices.Concat(blends...),
		rng: newRNG(r.seed)}
	r.report.Facets = make([]FacetReport, r.k)
	for k, f := range r.facets {
		dir, err := r.out.facetDir(k)
		if err != nil {
			return err
		}
		r.dirs = append(r.dirs, dir)
		fr := FacetReport{Index: k + 1, Dir: dir, Members: len(f.Members), Centre: f.Centre,
			Nearest: r.images[f.Nearest], Channels: f.Channels, Snapshots: []FacetSnapshot{}}
		for m, e := range f.Exemplars {
			fr.Exemplars = append(fr.Exemplars, Exemplar{File: r.images[e], Distance: f.Distances[m], Weight: f.Weights[m]})
		}
		r.report.Facets[k] = fr
	}
	return nil
}

// newRNG returns the window jitter's random source.
func newRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
