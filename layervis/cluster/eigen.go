package cluster

import (
	"errors"
	"math"
	"runtime"
	"sync"
)

// symEigen returns the eigenvalues of the symmetric n×n matrix a (row-major)
// in ascending order, and the eigenvectors
// as the rows of vecs (row i belongs to value i). It is the EISPACK tred2
// and tql2 pair (Householder reduction to tridiagonal form, then implicit
// QL), as in JAMA; a is overwritten.
func symEigen(a []float64, n int) (values, vecs []float64, err error) {
	d := make([]float64, n)
	e := make([]float64, n)
	tred2(a, n, d, e)
	if err := tql2(a, n, d, e); err != nil {
		return nil, nil, err
	}
	return d, a, nil
}

// tred2 reduces the symmetric n×n matrix v to tridiagonal form by
// Householder similarity transformations: on return d holds the diagonal, e
// the subdiagonal (in e[1:]) and v the transpose of the accumulated
// orthogonal transformation, row-major. It is JAMA's tred2 with V[a][b]
// stored at v[b*n+a], so that its inner loops, which run down columns of V,
// read contiguous memory; the independent column updates run in parallel.
func tred2(v []float64, n int, d, e []float64) {
	for j := range n {
		d[j] = v[j*n+n-1]
	}
	for i := n - 1; i > 0; i-- {
		// Scale to avoid under- and overflow.
		scale, h := 0.0, 0.0
		for _, x := range d[:i] {
			scale += math.Abs(x)
		}
		if scale == 0 {
			e[i] = d[i-1]
			for j := range i {
				d[j] = v[j*n+i-1]
				v[j*n+i] = 0
				v[i*n+j] = 0
			}
			d[i] = h
			continue
		}
		// Generate the Householder vector.
		for k := range i {
			d[k] /= scale
			h += d[k] * d[k]
		}
		f := d[i-1]
		g := math.Sqrt(h)
		if f > 0 {
			g = -g
		}
		e[i] = scale * g
		h -= f * g
		d[i-1] = f - g
		clear(e[:i])
		// Apply the similarity transformation to the remaining columns.
		for j := range i {
			f = d[j]
			v[i*n+j] = f
			col := v[j*n : j*n+i]
			g = e[j] + col[j]*f
			for k := j + 1; k < i; k++ {
				g += col[k] * d[k]
				e[k] += col[k] * f
			}
			e[j] = g
		}
		f = 0
		for j := range i {
			e[j] /= h
			f += e[j] * d[j]
		}
		hh := f / (h + h)
		for j := range i {
			e[j] -= hh * d[j]
		}
		columns(i, i, func(j int) {
			f, g := d[j], e[j]
			col := v[j*n : j*n+i]
			for k := j; k < i; k++ {
				col[k] -= f*e[k] + g*d[k]
			}
		})
		for j := range i {
			d[j] = v[j*n+i-1]
			v[j*n+i] = 0
		}
		d[i] = h
	}
	// Accumulate the transformations.
	for i := range n - 1 {
		v[i*n+n-1] = v[i*n+i]
		v[i*n+i] = 1
		next := v[(i+1)*n : (i+1)*n+i+1] // V[0..i][i+1]
		if h := d[i+1]; h != 0 {
			for k, x := range next {
				d[k] = x / h
			}
			columns(i+1, i+1, func(j int) {
				col := v[j*n : j*n+i+1]
				g := 0.0
				for k, x := range next {
					g += x * col[k]
				}
				for k := range col {
					col[k] -= g * d[k]
				}
			})
		}
		clear(next)
	}
	for j := range n {
		d[j] = v[j*n+n-1]
		v[j*n+n-1] = 0
	}
	v[n*n-1] = 1
	e[0] = 0
}

// columns calls fn(j) for j in [0,m), in parallel when the work, about m
// columns of length l, is large enough to pay for it. The calls must be
// independent.
func columns(m, l int, fn func(j int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || m*l < 1<<16 {
		for j := range m {
			fn(j)
		}
		return
	}
	// Interleave the columns: their lengths vary.
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for j := w; j < m; j += workers {
				fn(j)
			}
		})
	}
	wg.Wait()
}

// rotate applies the Givens rotations (cs[i], ss[i]) of one QL sweep, for i
// from m−1 down to l, to the rows i and i+1 of vt, in parallel over blocks
// of columns when that pays.
func rotate(vt []float64, n, l, m int, cs, ss []float64) {
	apply := func(lo, hi int) {
		for i := m - 1; i >= l; i-- {
			c, s := cs[i], ss[i]
			vi, vi1 := vt[i*n+lo:i*n+hi], vt[(i+1)*n+lo:(i+1)*n+hi]
			vi1 = vi1[:len(vi)]
			for k, x := range vi {
				h := vi1[k]
				vi1[k] = s*x + c*h
				vi[k] = c*x - s*h
			}
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || (m-l)*n < 1<<15 {
		apply(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { apply(w*n/workers, (w+1)*n/workers) })
	}
	wg.Wait()
}

// errNoConvergence reports a QL iteration that did not converge.
var errNoConvergence = errors.New("the symmetric eigenvalue iteration did not converge")

// tql2 finds the eigenvalues and eigenvectors of the symmetric tridiagonal
// matrix (d, e[1:]) by the implicit QL method, applying the rotations to the
// rows of vt (the transposed transformation from tred2); it then sorts them
// by ascending eigenvalue.
func tql2(vt []float64, n int, d, e []float64) error {
	for i := 1; i < n; i++ {
		e[i-1] = e[i]
	}
	e[n-1] = 0
	f, tst1 := 0.0, 0.0
	const eps = 0x1p-52
	cs, ss := make([]float64, n), make([]float64, n)
	for l := range n {
		// Find a small subdiagonal element.
		tst1 = max(tst1, math.Abs(d[l])+math.Abs(e[l]))
		m := l
		for m < n-1 && math.Abs(e[m]) > eps*tst1 {
			m++
		}
		// If m == l, d[l] is an eigenvalue; otherwise iterate.
		for iter := 0; m > l; iter++ {
			if iter == 100 {
				return errNoConvergence
			}
			// Compute the implicit shift.
			g := d[l]
			p := (d[l+1] - g) / (2 * e[l])
			r := math.Hypot(p, 1)
			if p < 0 {
				r = -r
			}
			d[l] = e[l] / (p + r)
			d[l+1] = e[l] * (p + r)
			dl1 := d[l+1]
			h := g - d[l]
			for i := l + 2; i < n; i++ {
				d[i] -= h
			}
			f += h
			// Implicit QL transformation.
			p = d[m]
			c, c2, c3 := 1.0, 1.0, 1.0
			el1 := e[l+1]
			s, s2 := 0.0, 0.0
			for i := m - 1; i >= l; i-- {
				c3, c2, s2 = c2, c, s
				g = c * e[i]
				h = c * p
				r = math.Hypot(p, e[i])
				e[i+1] = s * r
				s = e[i] / r
				c = p / r
				p = c*d[i] - s*g
				d[i+1] = h + s*(c*g+s*d[i])
				cs[i], ss[i] = c, s
			}
			rotate(vt, n, l, m, cs, ss)
			p = -s * s2 * c3 * el1 * e[l] / dl1
			e[l] = s * p
			d[l] = c * p
			if math.Abs(e[l]) <= eps*tst1 {
				break
			}
		}
		d[l] += f
		e[l] = 0
	}
	// Sort by ascending eigenvalue.
	for i := range n - 1 {
		k, p := i, d[i]
		for j := i + 1; j < n; j++ {
			if d[j] < p {
				k, p = j, d[j]
			}
		}
		if k != i {
			d[k], d[i] = d[i], p
			vi, vk := vt[i*n:(i+1)*n], vt[k*n:(k+1)*n]
			for j := range vi {
				vi[j], vk[j] = vk[j], vi[j]
			}
		}
	}
	return nil
}
