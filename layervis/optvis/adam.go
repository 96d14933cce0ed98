package optvis

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
)

// Adam holds the settings of the Adam optimizer (Kingma & Ba), written in
// the graph exactly as torch.optim.Adam (no weight decay, no amsgrad).
type Adam struct {
	LR           float64 // learning rate (the schedule multiplies it)
	Beta1, Beta2 float64 // decay of the first and second moment estimates
	Eps          float64 // added to the denominator
}

// DefaultAdam returns Adam with learning rate 0.05 (lucid's render_vis
// default) and torch's betas (0.9, 0.999) and eps 1e-8.
func DefaultAdam() Adam { return Adam{LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

func (a Adam) check() error {
	if !(a.LR > 0) || math.IsInf(a.LR, 0) {
		return fmt.Errorf("optvis: Adam learning rate %g must be positive", a.LR)
	}
	if !(a.Beta1 >= 0 && a.Beta1 < 1 && a.Beta2 >= 0 && a.Beta2 < 1) {
		return fmt.Errorf("optvis: Adam betas (%g, %g) must be in [0, 1)", a.Beta1, a.Beta2)
	}
	if !(a.Eps >= 0) {
		return fmt.Errorf("optvis: Adam eps %g must be ≥ 0", a.Eps)
	}
	return nil
}

// Update returns one Adam step that minimizes: the new parameters and
// moment estimates, from parameters p, gradient grad, moments m and v,
// step number t (1 at the first step, a float scalar) and learning rate
// lr (a scalar):
//
//	m' = β1·m + (1−β1)·g,  v' = β2·v + (1−β2)·g²
//	p' = p − lr/(1−β1^t) · m' / (√v' / √(1−β2^t) + ε)
func (a Adam) Update(p, grad, m, v, t, lr *Node) (p2, m2, v2 *Node) {
	m2 = Add(MulScalar(m, a.Beta1), MulScalar(grad, 1-a.Beta1))
	v2 = Add(MulScalar(v, a.Beta2), MulScalar(Square(grad), 1-a.Beta2))
	bc1 := OneMinus(Pow(Scalar(t.Graph(), t.DType(), a.Beta1), t))
	bc2 := OneMinus(Pow(Scalar(t.Graph(), t.DType(), a.Beta2), t))
	denom := AddScalar(Div(Sqrt(v2), Sqrt(bc2)), a.Eps)
	p2 = Sub(p, Mul(Div(lr, bc1), Div(m2, denom)))
	return p2, m2, v2
}

// Cosine returns a learning-rate schedule for [Renderer.Schedule] that
// decays the multiplier from 1 at the first step to final at the last
// along half a cosine.
func Cosine(final float64) func(step, steps int) float64 {
	return func(step, steps int) float64 {
		if steps <= 1 {
			return 1
		}
		f := float64(step-1) / float64(steps-1)
		return final + (1-final)*(1+math.Cos(math.Pi*f))/2
	}
}
