package cluster

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// samePartition reports whether labels a and b split the rows the same way,
// up to renaming the clusters.
func samePartition(a, b []int) bool {
	ab, ba := map[int]int{}, map[int]int{}
	for i := range a {
		if v, ok := ab[a[i]]; ok && v != b[i] {
			return false
		}
		if v, ok := ba[b[i]]; ok && v != a[i] {
			return false
		}
		ab[a[i]], ba[b[i]] = b[i], a[i]
	}
	return true
}

// TestKMeansSklearn compares KMeans with sklearn's KMeans on well-separated
// blobs: the same partition (up to label names), inertia, centres and
// distances.
func TestKMeansSklearn(t *testing.T) {
	type kmCase struct {
		n, d, k int
		sep     float64
	}
	cases := []kmCase{
		{300, 2, 3, 20},
		{500, 2, 10, 40},
		{120, 5, 4, 15},
		{50, 3, 1, 5},
	}
	xs := make([][]float64, len(cases))
	var args []map[string]any
	for i, tc := range cases {
		xs[i], _ = blobs(tc.n, tc.d, tc.k, tc.sep, uint64(7+i))
		args = append(args, map[string]any{"n": tc.n, "d": tc.d, "k": tc.k, "x": xs[i]})
	}
	var ref struct {
		Cases []struct {
			Labels        []int
			Inertia       float64
			Centres, Dist []float64
		}
	}
	reference(t, "kmeans", map[string]any{"cases": args}, &ref)
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d points in %d-D, k=%d", tc.n, tc.d, tc.k), func(t *testing.T) {
			r := ref.Cases[i]
			labels, centres, dist, err := KMeans(xs[i], tc.n, tc.d, tc.k, KMeansOptions{Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if !samePartition(labels, r.Labels) {
				t.Fatal("a different partition from sklearn's")
			}
			// Map our clusters to sklearn's to compare centres and
			// distances.
			perm := make([]int, tc.k)
			for j, l := range labels {
				perm[l] = r.Labels[j]
			}
			inertia := 0.0
			for j, l := range labels {
				inertia += dist[j*tc.k+l] * dist[j*tc.k+l]
			}
			if rel := math.Abs(inertia-r.Inertia) / r.Inertia; rel > 1e-6 {
				t.Errorf("inertia %v, sklearn %v (relative difference %g)", inertia, r.Inertia, rel)
			}
			for c := range tc.k {
				for j := range tc.d {
					if a, b := centres[c*tc.d+j], r.Centres[perm[c]*tc.d+j]; math.Abs(a-b) > 1e-9*(1+math.Abs(b)) {
						t.Errorf("centre %d[%d] = %v, sklearn %v", c, j, a, b)
					}
				}
				for j := range tc.n {
					if a, b := dist[j*tc.k+c], r.Dist[j*tc.k+perm[c]]; math.Abs(a-b) > 1e-9*(1+b) {
						t.Fatalf("distance of row %d to centre %d = %v, sklearn %v", j, c, a, b)
					}
				}
			}
		})
	}
}

// TestKMeansDeterministic checks that a seed gives the same result whatever
// GOMAXPROCS is, and that the result is a consistent clustering.
func TestKMeansDeterministic(t *testing.T) {
	x, _ := blobs(400, 3, 5, 3, 11) // overlapping blobs: restarts matter
	labels, centres, dist, err := KMeans(x, 400, 3, 5, KMeansOptions{Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	for _, procs := range []int{1, 3} {
		func() {
			defer setProcs(procs)()
			l2, c2, d2, err := KMeans(x, 400, 3, 5, KMeansOptions{Seed: 42})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(labels, l2) || !reflect.DeepEqual(centres, c2) || !reflect.DeepEqual(dist, d2) {
				t.Errorf("GOMAXPROCS %d: a different result", procs)
			}
		}()
	}
	// Every row is labelled with its nearest centre, and every centre is
	// the mean of its rows.
	for i, l := range labels {
		for c := range 5 {
			if dist[i*5+c] < dist[i*5+l] {
				t.Fatalf("row %d labelled %d but nearer centre %d", i, l, c)
			}
		}
	}
	for c := range 5 {
		for j := range 3 {
			s, m := 0.0, 0
			for i, l := range labels {
				if l == c {
					s += x[i*3+j]
					m++
				}
			}
			if math.Abs(s/float64(m)-centres[c*3+j]) > 1e-9 {
				t.Errorf("centre %d is not the mean of its rows", c)
			}
		}
	}
	// The restarts keep the best run: ten are no worse than the first
	// alone (the same seed gives the same first run).
	inertia := func(labels []int, dist []float64) float64 {
		s := 0.0
		for i, l := range labels {
			s += dist[i*5+l] * dist[i*5+l]
		}
		return s
	}
	l1, _, d1, err := KMeans(x, 400, 3, 5, KMeansOptions{Seed: 42, Restarts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if best, first := inertia(labels, dist), inertia(l1, d1); best > first {
		t.Errorf("inertia of the best of 10 runs %v > the first run's %v", best, first)
	} else {
		t.Logf("inertia: first run %v, best of 10 %v", first, best)
	}
}

func TestKMeansErrors(t *testing.T) {
	x, _ := blobs(6, 2, 2, 5, 1)
	for _, tc := range []struct {
		name    string
		x       []float64
		n, d, k int
		opts    KMeansOptions
		want    string
	}{
		{"k zero", x, 6, 2, 0, KMeansOptions{}, "need at least 1"},
		{"n < k", x, 6, 2, 7, KMeansOptions{}, "6 rows for 7 clusters"},
		{"d zero", nil, 6, 0, 2, KMeansOptions{}, "at least one value"},
		{"size", x[:5], 6, 2, 2, KMeansOptions{}, "5 values for 6 rows of 2"},
		{"NaN", append([]float64{math.NaN()}, x[1:]...), 6, 2, 2, KMeansOptions{}, "must be finite"},
		{"negative option", x, 6, 2, 2, KMeansOptions{Restarts: -1}, "must be finite and not negative"},
		{"NaN tol", x, 6, 2, 2, KMeansOptions{Tol: math.NaN()}, "must be finite and not negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := KMeans(tc.x, tc.n, tc.d, tc.k, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
