package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// TSNEOptions configures [TSNE]. The zero value gives the settings of
// scikit-learn's TSNE as the Mind's Eye reference ran it (sklearn 0.23).
type TSNEOptions struct {
	// Perplexity is the effective number of neighbours each point's
	// Gaussian is fitted to; 0 means 30. It is clipped to (n−1)/3, so that
	// a point's neighbourhood (about 3·perplexity points, what sklearn's
	// Barnes-Hut method considers) fits in the data: below n = 91 the
	// default is reduced, and below n = 4 it falls under 1, where each
	// point's affinities concentrate on its nearest neighbour.
	Perplexity float64
	// Iterations is the number of gradient steps, at least 250; 0 means
	// 1000. The first 250 use early exaggeration.
	Iterations int
	// LearningRate is the gradient step size; 0 means 200 (sklearn's
	// default before 1.2). A negative value selects sklearn ≥ 1.2's
	// 'auto' rate, max(n/12/4, 50).
	LearningRate float64
	// Seed seeds the random initial embedding.
	Seed uint64
	// Progress, if not nil, is called every 50 iterations and after the
	// last one with the iteration number (counted from 1) and the
	// Kullback-Leibler divergence of the embedding at the start of that
	// iteration (against the exaggerated affinities during early
	// exaggeration, as sklearn reports it).
	Progress func(iter int, kl float64)
}

// t-SNE constants, as in sklearn.manifold._t_sne.
const (
	tsneExaggeration        = 12.0
	tsneExplorationIters    = 250
	tsneCheckEvery          = 50
	tsneNoProgressIters     = 300
	tsneMinGradNorm         = 1e-7
	tsneMinGain             = 0.01
	tsnePerplexityTolerance = 1e-5
	tsneBinarySearchSteps   = 100
	machineEpsilon          = 2.220446049250313e-16 // np.finfo(np.double).eps
)

// TSNE embeds the rows of the n×d matrix x in 2-D with t-SNE and returns the
// n×2 embedding, row-major. It follows scikit-learn's
// TSNE(n_components=2, init='random', method='exact'):
//
//   - Affinities: squared Euclidean distances (in float64, which sklearn
//     rounds to float32); for each point a binary
//     search (100 steps, tolerance 1e-5 on the entropy) for the Gaussian
//     precision that gives the perplexity; the conditional probabilities
//     symmetrized and normalized, P = (P_j|i + P_i|j)/(2n), at least 2.2e-16.
//   - Embedding: N(0, 1e-4²) per coordinate from Seed; Student-t
//     similarities Q ∝ 1/(1+|y_i−y_j|²); gradient
//     4·Σ_j (P_ij − Q_ij)(y_i − y_j)/(1+|y_i−y_j|²).
//   - Optimization (sklearn's _gradient_descent): 250 iterations with P
//     exaggerated 12× and momentum 0.5, then the rest with momentum 0.8,
//     each phase starting with zero velocity and unit gains; per-coordinate
//     gains grow by 0.2 when the gradient changes sign against the last
//     update and shrink by a factor 0.8 otherwise (at least 0.01); the
//     learning rate of [TSNEOptions]. Every 50 iterations the run stops if
//     the gradient norm is at most 1e-7, or if the divergence has not
//     improved for 250 (first phase) or 300 iterations.
//
// The reference used sklearn's default Barnes-Hut approximation (angle 0.5);
// this exact O(n²) gradient, computed in parallel, is what Barnes-Hut
// approximates. It holds three n×n float64 matrices (24·n² bytes: 40 MB
// for the 1300 images of an ImageNet class) and takes about 10 CPU-seconds
// for n = 1300. The result depends on the random start, so it cannot match
// sklearn's, which draws its start from another generator; what carries over
// is the structure: clusters, neighbourhoods, divergence.
//
// It returns an error if n < 2, d < 1, x does not hold n·d values or holds
// NaN or ±Inf, or an option is out of range.
func TSNE(x []float64, n, d int, opts TSNEOptions) ([]float64, error) {
	if err := checkMatrix("TSNE", x, n, d); err != nil {
		return nil, err
	}
	if n < 2 {
		return nil, fmt.Errorf("cluster.TSNE: %d row: need at least 2 points to embed", n)
	}
	perplexity := opts.Perplexity
	switch {
	case perplexity == 0:
		perplexity = 30
	case !(perplexity > 0) || math.IsInf(perplexity, 1):
		return nil, fmt.Errorf("cluster.TSNE: perplexity %v must be positive and finite (0 for the default 30)", opts.Perplexity)
	}
	perplexity = min(perplexity, float64(n-1)/3)
	iters := opts.Iterations
	switch {
	case iters == 0:
		iters = 1000
	case iters < tsneExplorationIters:
		return nil, fmt.Errorf("cluster.TSNE: %d iterations: need at least %d (0 for the default 1000)", iters, tsneExplorationIters)
	}
	lr := opts.LearningRate
	switch {
	case lr == 0:
		lr = 200
	case lr < 0:
		lr = max(float64(n)/tsneExaggeration/4, 50)
	case math.IsNaN(lr) || math.IsInf(lr, 1):
		return nil, fmt.Errorf("cluster.TSNE: learning rate %v must be finite (0 for the default 200, negative for 'auto')", lr)
	}

	p := jointProbabilities(x, n, d, perplexity)
	rng := rand.New(rand.NewPCG(opts.Seed, 0x7453_4e45)) // "tSNE"
	y := make([]float64, 2*n)
	for i := range y {
		y[i] = 1e-4 * rng.NormFloat64()
	}
	t := &tsne{n: n, p: p, y: y, y0: make([]float64, n), y1: make([]float64, n),
		num: make([]float64, n*n), grad: make([]float64, 2*n), progress: opts.Progress}

	for i := range p {
		p[i] *= tsneExaggeration
	}
	last := t.descend(0, tsneExplorationIters, 0.5, lr, tsneExplorationIters)
	for i := range p {
		p[i] /= tsneExaggeration
	}
	t.descend(last+1, iters, 0.8, lr, tsneNoProgressIters)
	return y, nil
}

// tsne is the state of one optimization: p the n×n joint probabilities
// (zero diagonal), y the n×2 embedding (y0 and y1 its columns, for the
// gradient), num the Student-t kernel 1/(1+|y_i−y_j|²) and grad the
// gradient.
type tsne struct {
	n                       int
	p, y, y0, y1, num, grad []float64
	progress                func(int, float64)
}

// descend runs sklearn's _gradient_descent from iteration it to end−1 and
// returns the last iteration run.
func (t *tsne) descend(it, end int, momentum, lr float64, noProgress int) int {
	update := make([]float64, len(t.y))
	gains := make([]float64, len(t.y))
	for i := range gains {
		gains[i] = 1
	}
	bestErr, bestIter := math.MaxFloat64, it
	i := it
	for ; i < end; i++ {
		check := (i+1)%tsneCheckEvery == 0
		kl := t.gradient(check || i == end-1)
		norm := 0.0
		for j, g := range t.grad {
			if update[j]*g < 0 {
				gains[j] += 0.2
			} else {
				gains[j] *= 0.8
			}
			gains[j] = max(gains[j], tsneMinGain)
			g *= gains[j]
			norm += g * g
			update[j] = momentum*update[j] - lr*g
			t.y[j] += update[j]
		}
		if t.progress != nil && (check || i == end-1) {
			t.progress(i+1, kl)
		}
		if !check {
			continue
		}
		if kl < bestErr {
			bestErr, bestIter = kl, i
		} else if i-bestIter > noProgress {
			break
		}
		if math.Sqrt(norm) <= tsneMinGradNorm {
			break
		}
	}
	return min(i, end-1)
}

// gradient sets t.grad to the gradient of the KL divergence at t.y and, if
// withKL, returns the divergence (else 0).
func (t *tsne) gradient(withKL bool) float64 {
	n := t.n
	y0, y1 := t.y0, t.y1
	for i := range n {
		y0[i], y1[i] = t.y[2*i], t.y[2*i+1]
	}
	// The Student-t kernel num (computing the full rows is faster than
	// mirroring a triangle), and its sum.
	partial := make([]float64, (n+chunk-1)/chunk)
	parallelChunks(n, func(c, lo, hi int) {
		s := 0.0
		for i := lo; i < hi; i++ {
			row := t.num[i*n : (i+1)*n]
			a0, a1 := y0[:len(row)], y1[:len(row)]
			yi0, yi1 := y0[i], y1[i]
			for j := range row {
				d0, d1 := yi0-a0[j], yi1-a1[j]
				row[j] = 1 / (1 + d0*d0 + d1*d1)
			}
			row[i] = 0
			for _, v := range row {
				s += v
			}
		}
		partial[c] = s
	})
	z := 0.0
	for _, s := range partial {
		z += s
	}
	invZ := 1 / z
	parallelChunks(n, func(c, lo, hi int) {
		kl := 0.0
		for i := lo; i < hi; i++ {
			// The diagonal terms vanish: num and p are 0 there.
			yi0, yi1 := y0[i], y1[i]
			num, p := t.num[i*n:(i+1)*n], t.p[i*n:(i+1)*n]
			p, a0, a1 := p[:len(num)], y0[:len(num)], y1[:len(num)]
			// Two accumulators each, to shorten the dependency chains.
			g0, g1, h0, h1 := 0.0, 0.0, 0.0, 0.0
			j := 0
			for ; j+1 < len(num); j += 2 {
				q := max(num[j]*invZ, machineEpsilon)
				f := (p[j] - q) * num[j]
				g0 += f * (yi0 - a0[j])
				g1 += f * (yi1 - a1[j])
				q = max(num[j+1]*invZ, machineEpsilon)
				f = (p[j+1] - q) * num[j+1]
				h0 += f * (yi0 - a0[j+1])
				h1 += f * (yi1 - a1[j+1])
			}
			if j < len(num) {
				q := max(num[j]*invZ, machineEpsilon)
				f := (p[j] - q) * num[j]
				g0 += f * (yi0 - a0[j])
				g1 += f * (yi1 - a1[j])
			}
			t.grad[2*i], t.grad[2*i+1] = 4*(g0+h0), 4*(g1+h1)
			if withKL {
				for j, nj := range num {
					if j != i {
						kl += p[j] * math.Log(max(p[j], machineEpsilon)/max(nj*invZ, machineEpsilon))
					}
				}
			}
		}
		partial[c] = kl
	})
	kl := 0.0
	for _, v := range partial {
		kl += v
	}
	return kl
}

// jointProbabilities returns sklearn's symmetric t-SNE affinities of the
// rows of x for the perplexity, as an n×n matrix with a zero diagonal.
func jointProbabilities(x []float64, n, d int, perplexity float64) []float64 {
	cond := make([]float64, n*n)
	want := math.Log(perplexity)
	parallelChunks(n, func(_, lo, hi int) {
		dist := make([]float64, n)
		for i := lo; i < hi; i++ {
			xi := x[i*d : (i+1)*d]
			for j := range n {
				s := 0.0
				for k, v := range x[j*d : (j+1)*d] {
					s += (xi[k] - v) * (xi[k] - v)
				}
				dist[j] = s
			}
			binarySearchPerplexity(cond[i*n:(i+1)*n], dist, i, want)
		}
	})
	// P = (cond + condᵀ) / Σ(cond + condᵀ), at least machine epsilon off
	// the diagonal. Every conditional row sums to 1 (up to rounding), so
	// the total is 2n up to rounding; sum it as sklearn does, in order.
	p := make([]float64, n*n)
	total := 0.0
	for i := range n {
		for j := range n {
			p[i*n+j] = cond[i*n+j] + cond[j*n+i]
			total += p[i*n+j]
		}
	}
	total = max(total, machineEpsilon)
	for i := range n {
		for j := range n {
			if i != j {
				p[i*n+j] = max(p[i*n+j]/total, machineEpsilon)
			}
		}
	}
	return p
}

// binarySearchPerplexity sets row to the conditional probabilities P_j|i of
// point i, given its squared distances, with the Gaussian precision beta
// whose entropy is want = log(perplexity): sklearn's
// _binary_search_perplexity.
func binarySearchPerplexity(row, dist []float64, i int, want float64) {
	betaMin, betaMax, beta := math.Inf(-1), math.Inf(1), 1.0
	for range tsneBinarySearchSteps {
		sum := 0.0
		for j, d := range dist {
			if j != i {
				row[j] = math.Exp(-d * beta)
				sum += row[j]
			}
		}
		if sum == 0 {
			sum = 1e-8 // sklearn's EPSILON_DBL
		}
		sumDistP := 0.0
		for j, d := range dist {
			row[j] /= sum
			sumDistP += d * row[j]
		}
		entropy := math.Log(sum) + beta*sumDistP
		diff := entropy - want
		if math.Abs(diff) <= tsnePerplexityTolerance {
			return
		}
		if diff > 0 {
			betaMin = beta
			if math.IsInf(betaMax, 1) {
				beta *= 2
			} else {
				beta = (beta + betaMax) / 2
			}
		} else {
			betaMax = beta
			if math.IsInf(betaMin, -1) {
				beta /= 2
			} else {
				beta = (beta + betaMin) / 2
			}
		}
	}
}
