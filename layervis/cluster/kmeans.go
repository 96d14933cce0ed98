package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// KMeansOptions configures [KMeans]. The zero value gives scikit-learn's
// defaults, which the Mind's Eye reference used.
type KMeansOptions struct {
	// Restarts is the number of k-means++ initializations (sklearn's
	// n_init); the best result is kept. 0 means 10.
	Restarts int
	// MaxIter bounds the Lloyd iterations of each run; 0 means 300.
	MaxIter int
	// Tol stops a run when the centres' total squared movement in an
	// iteration is at most Tol times the mean variance of the columns of x;
	// 0 means 1e-4.
	Tol float64
	// Seed seeds the initializations.
	Seed uint64
}

// KMeans clusters the rows of the n×d matrix x into k clusters as
// scikit-learn's KMeans(n_clusters=k, init='k-means++', n_init=Restarts,
// max_iter=MaxIter, tol=Tol, algorithm='lloyd') does, and returns each row's
// cluster label (n), the centres (k×d, row-major) and the Euclidean distance
// of every row to every centre (n×k, KMeans.transform).
//
// Each restart:
//
//   - k-means++ (sklearn's _kmeans_plusplus): the first centre is a row
//     drawn uniformly; each further one is the best, by the resulting sum
//     of squared distances to the nearest centre, of 2+⌊ln k⌋ rows drawn
//     with probability proportional to their squared distance to the
//     nearest centre so far;
//   - Lloyd iterations: assign each row to its nearest centre (the first on
//     a tie), move each centre to the mean of its rows; a centre left
//     without rows takes the row farthest from its own centre; stop when
//     the assignment no longer changes, when the centres' total squared
//     movement is at most Tol·(mean column variance), or after MaxIter
//     iterations, and then assign the rows to the final centres;
//   - inertia: the sum of squared distances of the rows to their centres.
//
// The restart with the least inertia wins (the first one on a tie). As in
// sklearn the columns are centred (their mean subtracted) while clustering,
// which only improves rounding. Restarts run in parallel, each with its own
// random stream drawn in order from Seed, so the result does not depend on
// GOMAXPROCS.
//
// It returns an error if k < 1, n < k, d < 1, x does not hold n·d values or
// holds NaN or ±Inf, or an option is negative.
func KMeans(x []float64, n, d, k int, opts KMeansOptions) (labels []int, centres, dist []float64, err error) {
	if k < 1 {
		return nil, nil, nil, fmt.Errorf("cluster.KMeans: %d clusters: need at least 1", k)
	}
	if err := checkMatrix("KMeans", x, n, d); err != nil {
		return nil, nil, nil, err
	}
	if n < k {
		return nil, nil, nil, fmt.Errorf("cluster.KMeans: %d rows for %d clusters: need at least as many rows as clusters", n, k)
	}
	restarts, maxIter, tol := opts.Restarts, opts.MaxIter, opts.Tol
	if restarts < 0 || maxIter < 0 || tol < 0 || math.IsNaN(tol) || math.IsInf(tol, 1) {
		return nil, nil, nil, fmt.Errorf("cluster.KMeans: options %+v: Restarts, MaxIter and Tol must be finite and not negative (0 for the defaults)", opts)
	}
	if restarts == 0 {
		restarts = 10
	}
	if maxIter == 0 {
		maxIter = 300
	}
	if tol == 0 {
		tol = 1e-4
	}

	// Centre the columns; sklearn's tolerance is relative to their mean
	// variance.
	xc, mean := centre(x, n, d)
	variance := 0.0
	for _, v := range xc {
		variance += v * v
	}
	tol *= variance / float64(n) / float64(d)

	rng := rand.New(rand.NewPCG(opts.Seed, 0x6b6d_6561_6e73)) // "kmeans"
	seeds := make([]uint64, restarts)
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	runs := make([]kmeansRun, restarts)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for r := range runs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			runs[r] = lloyd(xc, n, d, k, maxIter, tol, rand.New(rand.NewPCG(seeds[r], uint64(r))))
		})
	}
	wg.Wait()
	best := 0
	for r := range runs {
		if runs[r].inertia < runs[best].inertia {
			best = r
		}
	}
	labels, centres = runs[best].labels, runs[best].centres
	dist = make([]float64, n*k)
	for i := range n {
		xi := x[i*d : (i+1)*d]
		for c := range k {
			s := 0.0
			for j, v := range centres[c*d : (c+1)*d] {
				t := xi[j] - (v + mean[j])
				s += t * t
			}
			dist[i*k+c] = math.Sqrt(s)
		}
	}
	for c := range k {
		for j := range d {
			centres[c*d+j] += mean[j]
		}
	}
	return labels, centres, dist, nil
}

// kmeansRun is the outcome of one restart, on centred data.
type kmeansRun struct {
	labels  []int
	centres []float64
	inertia float64
}

// lloyd runs one k-means++ initialization and Lloyd's iterations on the
// (centred) n×d matrix x.
func lloyd(x []float64, n, d, k, maxIter int, tol float64, rng *rand.Rand) kmeansRun {
	centres := kmeansPlusPlus(x, n, d, k, rng)
	labels := make([]int, n)
	old := make([]int, n)
	for i := range old {
		old[i] = -1
	}
	sums := make([]float64, k*d)
	counts := make([]int, k)
	converged := false
	for range maxIter {
		assign(x, n, d, centres, k, labels)
		// New centres: the mean of each cluster's rows, summed in row
		// order.
		clear(sums)
		clear(counts)
		for i, l := range labels {
			counts[l]++
			for j, v := range x[i*d : (i+1)*d] {
				sums[l*d+j] += v
			}
		}
		relocateEmpty(x, n, d, centres, labels, sums, counts)
		shift := 0.0
		for c := range k {
			// A cluster whose only row was moved to an empty one keeps
			// the zero sum as its centre, as in sklearn.
			scale := 1.0
			if counts[c] > 0 {
				scale = 1 / float64(counts[c])
			}
			for j := range d {
				v := sums[c*d+j] * scale
				shift += (v - centres[c*d+j]) * (v - centres[c*d+j])
				centres[c*d+j] = v
			}
		}
		if slices.Equal(labels, old) {
			converged = true
			break
		}
		if shift <= tol {
			break
		}
		copy(old, labels)
	}
	if !converged {
		assign(x, n, d, centres, k, labels)
	}
	inertia := 0.0
	for i, l := range labels {
		inertia += sqDist(x[i*d:(i+1)*d], centres[l*d:(l+1)*d])
	}
	return kmeansRun{labels: labels, centres: centres, inertia: inertia}
}

// relocateEmpty gives each cluster without rows the row farthest from its
// own centre (the farthest for the first empty cluster, and so on), moving
// that row's contribution out of its old cluster: sklearn's
// _relocate_empty_clusters_dense.
func relocateEmpty(x []float64, n, d int, centres []float64, labels []int, sums []float64, counts []int) {
	var empty []int
	for c, m := range counts {
		if m == 0 {
			empty = append(empty, c)
		}
	}
	if len(empty) == 0 {
		return
	}
	far := make([]int, n)
	dist := make([]float64, n)
	for i := range n {
		far[i] = i
		dist[i] = sqDist(x[i*d:(i+1)*d], centres[labels[i]*d:(labels[i]+1)*d])
	}
	slices.SortStableFunc(far, func(a, b int) int {
		switch {
		case dist[a] > dist[b]:
			return -1
		case dist[a] < dist[b]:
			return 1
		}
		return 0
	})
	for e, c := range empty {
		i := far[e]
		old := labels[i]
		xi := x[i*d : (i+1)*d]
		for j, v := range xi {
			sums[old*d+j] -= v
			sums[c*d+j] = v
		}
		counts[old]--
		counts[c] = 1
	}
}

// kmeansPlusPlus picks k initial centres from the rows of x: sklearn's
// _kmeans_plusplus with 2+⌊ln k⌋ local trials.
func kmeansPlusPlus(x []float64, n, d, k int, rng *rand.Rand) []float64 {
	trials := 2 + int(math.Log(float64(k)))
	centres := make([]float64, k*d)
	first := rng.IntN(n)
	copy(centres, x[first*d:(first+1)*d])
	closest := make([]float64, n)
	pot := 0.0
	for i := range n {
		closest[i] = sqDist(x[i*d:(i+1)*d], centres[:d])
		pot += closest[i]
	}
	cum := make([]float64, n)
	cand := make([]float64, n)
	best := make([]float64, n)
	for c := 1; c < k; c++ {
		s := 0.0
		for i, v := range closest {
			s += v
			cum[i] = s
		}
		bestPot, bestID := math.Inf(1), -1
		for range trials {
			r := rng.Float64() * pot
			id, _ := slices.BinarySearch(cum, r) // first cum[id] ≥ r
			id = min(id, n-1)
			p := 0.0
			xc := x[id*d : (id+1)*d]
			for i := range n {
				cand[i] = min(closest[i], sqDist(x[i*d:(i+1)*d], xc))
				p += cand[i]
			}
			if p < bestPot {
				bestPot, bestID = p, id
				copy(best, cand)
			}
		}
		pot = bestPot
		copy(closest, best)
		copy(centres[c*d:(c+1)*d], x[bestID*d:(bestID+1)*d])
	}
	return centres
}

// assign sets labels[i] to the centre nearest row i (the first on a tie).
func assign(x []float64, n, d int, centres []float64, k int, labels []int) {
	parallelChunks(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*d : (i+1)*d]
			best, bestD := 0, math.Inf(1)
			for c := range k {
				if s := sqDist(xi, centres[c*d:(c+1)*d]); s < bestD {
					best, bestD = c, s
				}
			}
			labels[i] = best
		}
	})
}

// sqDist returns the squared Euclidean distance of a and b.
func sqDist(a, b []float64) float64 {
	b = b[:len(a)]
	s := 0.0
	for i, v := range a {
		t := v - b[i]
		s += t * t
	}
	return s
}
