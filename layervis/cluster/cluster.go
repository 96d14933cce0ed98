// Package cluster holds the clustering steps of the Mind's Eye method (see
// layervis/mindseye), ports of the scikit-learn estimators the reference
// implementation calls:
//
//   - [PCA]: sklearn.decomposition.PCA(n_components=k).fit_transform;
//   - [TSNE]: sklearn.manifold.TSNE(n_components=2), with the exact
//     gradient instead of Barnes-Hut;
//   - [KMeans]: sklearn.cluster.KMeans(n_clusters=k) with k-means++ and
//     restarts, returning labels, centres and KMeans.transform's distances.
//
// Data are float64 row-major matrices: row i of an n×d matrix x is
// x[i*d:(i+1)*d]. The functions return an error naming the problem for bad
// sizes and non-finite input, never panic, and are deterministic: given the
// same input and seed they return the same bits whatever GOMAXPROCS is, as
// their parallel loops split work into fixed chunks and combine the chunks'
// results in order. Random numbers come from math/rand/v2's PCG.
package cluster

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// checkMatrix returns an error unless x is a finite n×d matrix with n, d ≥ 1.
func checkMatrix(fn string, x []float64, n, d int) error {
	if n < 1 || d < 1 {
		return fmt.Errorf("cluster.%s: %d rows of %d values: need at least one row of at least one value", fn, n, d)
	}
	if len(x) != n*d {
		return fmt.Errorf("cluster.%s: %d values for %d rows of %d (want %d); pass x row-major", fn, len(x), n, d, n*d)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("cluster.%s: value %v at row %d, column %d: the input must be finite (drop or impute that row)", fn, v, i/d, i%d)
		}
	}
	return nil
}

// chunk is the number of rows one parallel task handles. It is fixed, so
// that per-chunk partial sums, and therefore results, do not depend on
// GOMAXPROCS.
const chunk = 64

// parallelChunks calls fn(c, lo, hi) for the chunks [lo,hi) of [0,n), chunk
// rows each (c numbering them), on up to GOMAXPROCS goroutines, and waits.
func parallelChunks(n int, fn func(c, lo, hi int)) {
	chunks := (n + chunk - 1) / chunk
	workers := min(runtime.GOMAXPROCS(0), chunks)
	if workers <= 1 {
		for c := range chunks {
			fn(c, c*chunk, min(n, (c+1)*chunk))
		}
		return
	}
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range next {
				fn(c, c*chunk, min(n, (c+1)*chunk))
			}
		})
	}
	wg.Wait()
}
