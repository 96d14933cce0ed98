package cluster

import (
	"fmt"
	"math"
)

// PCA projects the rows of the n×d matrix x onto their first k principal
// components and returns the n×k scores, row-major, as scikit-learn's
// PCA(n_components=k).fit_transform(x) does with its exact ('full') solver:
// the columns of x are centred, and with the singular value decomposition
// x − mean = U·S·Vᵀ (singular values descending) the result is U[:, :k]·S[:k].
// Each component's sign is fixed as sklearn's svd_flip does
// (u_based_decision=True, sklearn before 1.5): the entry of largest
// magnitude in each column of U (the first such entry on a tie) is positive.
//
// The decomposition is computed from the eigenvectors of the smaller of the
// Gram matrix (x−mean)(x−mean)ᵀ and the scatter matrix (x−mean)ᵀ(x−mean),
// in O(n·d·min(n,d) + min(n,d)³). sklearn's default svd_solver='auto'
// switches to a randomized, approximate SVD when max(n,d) > 500 and
// k < 0.8·min(n,d) (the reference's 1300 images × 2048 channels to 50
// components); PCA always returns the exact decomposition. A component
// whose singular value is 0 (k beyond the rank of the centred data) has
// arbitrary direction, there as here.
//
// It returns an error if n, d or k is less than 1, k > min(n, d), x does not
// hold n·d values, or x holds NaN or ±Inf.
func PCA(x []float64, n, d, k int) ([]float64, error) {
	if err := checkMatrix("PCA", x, n, d); err != nil {
		return nil, err
	}
	if k < 1 || k > min(n, d) {
		return nil, fmt.Errorf("cluster.PCA: %d components of %d rows of %d values: need 1 ≤ k ≤ min(rows, values) = %d", k, n, d, min(n, d))
	}
	xc, _ := centre(x, n, d)
	scores := make([]float64, n*k)
	if n <= d {
		// Gram matrix: its eigenvectors are the columns of U, its
		// eigenvalues the squared singular values.
		g := gram(xc, n, d)
		values, vecs, err := symEigen(g, n)
		if err != nil {
			return nil, fmt.Errorf("cluster.PCA: %w", err)
		}
		for j := range k {
			idx := n - 1 - j // descending
			s := math.Sqrt(max(values[idx], 0))
			u := vecs[idx*n : (idx+1)*n]
			sign := flipSign(u)
			for i := range n {
				scores[i*k+j] = sign * u[i] * s
			}
		}
		return scores, nil
	}
	// Scatter matrix: its eigenvectors are the columns of V; the scores are
	// (x−mean)·V.
	_, vecs, err := symEigen(scatter(xc, n, d), d)
	if err != nil {
		return nil, fmt.Errorf("cluster.PCA: %w", err)
	}
	col := make([]float64, n)
	for j := range k {
		v := vecs[(d-1-j)*d : (d-j)*d]
		parallelChunks(n, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				col[i] = dot(xc[i*d:(i+1)*d], v)
			}
		})
		sign := flipSign(col)
		for i := range n {
			scores[i*k+j] = sign * col[i]
		}
	}
	return scores, nil
}

// flipSign returns the sign (±1) that makes u's entry of largest magnitude,
// the first one on a tie, positive, as sklearn's svd_flip.
func flipSign(u []float64) float64 {
	best := 0
	for i, v := range u {
		if math.Abs(v) > math.Abs(u[best]) {
			best = i
		}
	}
	if u[best] < 0 {
		return -1
	}
	return 1
}

// centre returns x minus the mean of its columns, and that mean.
func centre(x []float64, n, d int) (xc, mean []float64) {
	mean = make([]float64, d)
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	xc = make([]float64, n*d)
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			xc[i*d+j] = v - mean[j]
		}
	}
	return xc, mean
}

// gram returns the n×n matrix x·xᵀ of the n×d matrix x.
func gram(x []float64, n, d int) []float64 {
	g := make([]float64, n*n)
	parallelChunks(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*d : (i+1)*d]
			for j := 0; j <= i; j++ {
				g[i*n+j] = dot(xi, x[j*d:(j+1)*d])
			}
		}
	})
	fillUpper(g, n)
	return g
}

// scatter returns the d×d matrix xᵀ·x of the n×d matrix x.
func scatter(x []float64, n, d int) []float64 {
	s := make([]float64, d*d)
	parallelChunks(d, func(_, lo, hi int) {
		for a := lo; a < hi; a++ {
			row := s[a*d : a*d+a+1]
			for i := range n {
				xi := x[i*d : (i+1)*d]
				xa := xi[a]
				for b := range row {
					row[b] += xa * xi[b]
				}
			}
		}
	})
	fillUpper(s, d)
	return s
}

// fillUpper copies the lower triangle of the n×n matrix m to its upper one.
func fillUpper(m []float64, n int) {
	for i := range n {
		for j := i + 1; j < n; j++ {
			m[i*n+j] = m[j*n+i]
		}
	}
}

// dot returns the dot product of a and b (len(b) ≥ len(a)), summed in four
// interleaved partial sums.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+3 < len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
