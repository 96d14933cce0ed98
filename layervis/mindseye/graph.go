package mindseye

// Stage C's device side: the compiled computations. Images travel as 8-bit
// pixel values held in float32, [K, H, W, 3] in display (RGB) order; the
// conversion to the step space and the network's input (channel order,
// range, mean/std) and the quantization back to 8 bits happen inside the
// graph, so one step is one compiled computation.

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/torchvision"
)

// logPartition is log Z(1) = log(2e·K₁(1)), the log partition function of
// Barron's robust loss at α = 1 (K₁ the modified Bessel function of the
// second kind). The reference's adaptive loss adds it to every entry; it
// changes the reported loss, not the gradient.
const logPartition = 1.185495232349193

// netSpec says how pixels become network input and how the loss is scaled.
type netSpec struct {
	m       cnn.Model
	in      cnn.Input
	swap    bool   // reverse the channel axis between pixels and network
	target  string // pooled layer
	penalty string // L1 layer
	// distScale multiplies (mean Charbonnier + logPartition): K² with
	// Quirks.SquaredBatchTerms, else K (the sum of per-image means).
	// l1Scale multiplies λ·Σ|P|: K² or 1.
	distScale, l1Scale float64
	momentum           float64
	persistent         bool // keep the momentum buffer across steps
	withGrad           bool // also output the raw input gradient (tests)
}

// specFor returns the computation cfg describes for k images.
func specFor(cfg *Config, k int) *netSpec {
	in := cfg.Model.Input()
	s := &netSpec{
		m: cfg.Model, in: in, target: cfg.Target, penalty: cfg.Penalty,
		swap: (in.Order == "BGR") != cfg.Quirks.BGR, momentum: cfg.Momentum,
		persistent: !cfg.Quirks.FreshOptimizer,
	}
	kf := float64(k)
	if cfg.Quirks.SquaredBatchTerms {
		s.distScale, s.l1Scale = kf*kf, kf*kf
	} else {
		s.distScale, s.l1Scale = kf, 1
	}
	return s
}

// stepSpace is the space the gradient step is taken in, whatever the
// model's own input convention: torchvision's, (v − mean_c)/std_c with the
// ImageNet statistics and v in [0,1], where the reference's learning rates
// were set. A model with another convention (a TF.js model taking 0–255)
// gets its input from this space inside the graph, so the same learning
// rate changes the pixels as much as in the reference.
var stepSpace = torchvision.ImageNetInput

// sameConvention reports whether a and b normalize identically.
func sameConvention(a, b cnn.Input) bool {
	return a.Range == b.Range && slices.Equal(a.Mean, b.Mean) && slices.Equal(a.Std, b.Std)
}

// toStep maps pixels [B, H, W, 3] (0..255, display order) to the step space
// [B, 3, H, W] in the network's channel order.
func (s *netSpec) toStep(pixels *Node) *Node {
	if s.swap {
		pixels = Reverse(pixels, 3)
	}
	return cnn.NormalizeNode(DivScalar(TransposeAllAxes(pixels, 0, 3, 1, 2), 255), stepSpace)
}

// toModel maps the step space to the model's input.
func (s *netSpec) toModel(z *Node) *Node {
	if sameConvention(s.in, stepSpace) {
		return z
	}
	return cnn.NormalizeNode(cnn.DenormalizeNode(z, stepSpace), s.in)
}

// toPixels is the inverse of toStep followed by the reference's
// quantization (recreate_image): de-normalize, clip to [0,1], round half to
// even of v·255. It returns [B, H, W, 3] in display order.
func (s *netSpec) toPixels(z *Node) *Node {
	v := Round(MulScalar(ClipScalar(cnn.DenormalizeNode(z, stepSpace), 0, 1), 255))
	p := TransposeAllAxes(v, 0, 2, 3, 1)
	if s.swap {
		p = Reverse(p, 3)
	}
	return p
}

// layers builds the target's pooled activation and the penalty layer.
func (s *netSpec) layers(x *Node) (a, p *Node) {
	if s.target == s.penalty {
		t := s.m.Build(x, s.target)[0]
		return optvis.Pooled(t), t
	}
	out := s.m.Build(x, s.target, s.penalty)
	return optvis.Pooled(out[0]), out[1]
}

// loss returns the terms [activation, distance, L1] and their sum:
//
//	activation = −Σ_b Σ_j W_bj · a_bj · T_bj
//	distance   = distScale · (mean_bj (sqrt((a_bj − T_bj)² + 1) − 1) + log Z(1))
//	L1         = l1Scale · λ · Σ |P|
//
// W is the channel weight matrix (see channelWeights).
func (s *netSpec) loss(a, p, target, weights, lambda *Node) (terms []*Node, total *Node) {
	act := Neg(ReduceAllSum(Mul(Mul(weights, a), target)))
	dist := MulScalar(AddScalar(optvis.Charbonnier(a, target), logPartition), s.distScale)
	l1 := MulScalar(Mul(lambda, ReduceAllSum(Abs(p))), s.l1Scale)
	total = Add(Add(act, dist), l1)
	return []*Node{act, dist, l1}, total
}

// stepFn is the whole gradient step, inputs
// [pixels, target, weights, mask, lr, lambda] (+ momentum buffer), outputs
// [new pixels, terms (act, dist, L1, total)] (+ new buffer) (+ gradient
// w.r.t. the step space).
func (s *netSpec) stepFn(_ *model.Scope, in []*Node) []*Node {
	pixels, target, weights, mask, lr, lambda := in[0], in[1], in[2], in[3], in[4], in[5]
	x := s.toStep(pixels)
	a, p := s.layers(s.toModel(x))
	terms, total := s.loss(a, p, target, weights, lambda)
	grad := Gradient(total, x)[0]
	g := Mul(grad, Reshape(mask, 1, 1, mask.Shape().Dim(0), mask.Shape().Dim(1)))
	// PyTorch's SGD(nesterov=True): buf = momentum·buf + g (buf = g on the
	// first step), update = g + momentum·buf.
	buf := g
	if s.persistent {
		buf = Add(MulScalar(in[6], s.momentum), g)
	}
	update := Add(g, MulScalar(buf, s.momentum))
	x = Sub(x, Mul(lr, update))
	out := []*Node{s.toPixels(x), Stack(append(terms, total), 0)}
	if s.persistent {
		out = append(out, buf)
	}
	if s.withGrad {
		out = append(out, grad)
	}
	return out
}

// measureFn evaluates images without changing them: inputs
// [pixels, target, weights, lambda], outputs [terms, pooled activations].
func (s *netSpec) measureFn(_ *model.Scope, in []*Node) []*Node {
	a, p := s.layers(s.toModel(s.toStep(in[0])))
	terms, total := s.loss(a, p, in[1], in[2], in[3])
	return []*Node{Stack(append(terms, total), 0), a}
}

// featuresFn returns the pooled target activations of pixels [B, H, W, 3].
func (s *netSpec) featuresFn(_ *model.Scope, pixels *Node) *Node {
	return optvis.Pooled(s.m.Build(s.toModel(s.toStep(pixels)), s.target)[0])
}

// stepResult is what one compiled step returns.
type stepResult struct {
	pixels []float32
	terms  Terms
	buf    *tensors.Tensor // persistent momentum buffer
	grad   []float32       // with netSpec.withGrad
}

// stepper runs the compiled step and measurement.
type stepper struct {
	spec          *netSpec
	step, measure *model.Exec
	k, size, c    int
}

func newStepper(b compute.Backend, spec *netSpec, k, size, c int) (*stepper, error) {
	step, err := model.NewExec(b, spec.m.Store(), spec.stepFn)
	if err != nil {
		return nil, fmt.Errorf("mindseye: building the step for %s: %w", spec.m.Name(), err)
	}
	measure, err := model.NewExec(b, spec.m.Store(), spec.measureFn)
	if err != nil {
		step.Finalize()
		return nil, fmt.Errorf("mindseye: building the measurement for %s: %w", spec.m.Name(), err)
	}
	return &stepper{spec: spec, step: step, measure: measure, k: k, size: size, c: c}, nil
}

func (st *stepper) finalize() {
	st.step.Finalize()
	st.measure.Finalize()
}

// run executes one step. buf is the momentum buffer (nil at the first step
// or without persistent momentum).
func (st *stepper) run(pixels, target, weights, mask []float32, lr, lambda float64, buf *tensors.Tensor) (res stepResult, err error) {
	x := tensors.FromFlatDataAndDimensions(pixels, st.k, st.size, st.size, 3)
	defer x.FinalizeAll()
	args := []any{
		x,
		tensors.FromFlatDataAndDimensions(target, st.k, st.c),
		tensors.FromFlatDataAndDimensions(weights, st.k, st.c),
		tensors.FromFlatDataAndDimensions(mask, st.size, st.size),
		float32(lr), float32(lambda),
	}
	if st.spec.persistent {
		if buf == nil {
			buf = tensors.FromShape(shapes.Make(dtypes.Float32, st.k, 3, st.size, st.size))
		}
		args = append(args, buf)
	}
	out, err := st.step.Exec(args...)
	if err != nil {
		return res, fmt.Errorf("mindseye: step: %w", err)
	}
	if res.pixels, err = tensors.CopyFlatData[float32](out[0]); err != nil {
		return res, err
	}
	if res.terms, err = termsOf(out[1]); err != nil {
		return res, err
	}
	i := 2
	if st.spec.persistent {
		res.buf = out[i]
		i++
	}
	if st.spec.withGrad {
		if res.grad, err = tensors.CopyFlatData[float32](out[i]); err != nil {
			return res, err
		}
	}
	for j, t := range out {
		if j != 2 || !st.spec.persistent {
			t.FinalizeAll()
		}
	}
	return res, nil
}

// evaluate returns the loss terms and pooled activations [K·C] of pixels.
func (st *stepper) evaluate(pixels, target, weights []float32, lambda float64) (Terms, []float32, error) {
	x := tensors.FromFlatDataAndDimensions(pixels, st.k, st.size, st.size, 3)
	defer x.FinalizeAll()
	out, err := st.measure.Exec(
		x,
		tensors.FromFlatDataAndDimensions(target, st.k, st.c),
		tensors.FromFlatDataAndDimensions(weights, st.k, st.c),
		float32(lambda))
	if err != nil {
		return Terms{}, nil, fmt.Errorf("mindseye: measuring the images: %w", err)
	}
	defer func() {
		for _, t := range out {
			t.FinalizeAll()
		}
	}()
	terms, err := termsOf(out[0])
	if err != nil {
		return Terms{}, nil, err
	}
	a, err := tensors.CopyFlatData[float32](out[1])
	return terms, a, err
}

func termsOf(t *tensors.Tensor) (Terms, error) {
	v, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return Terms{}, err
	}
	return Terms{Activation: float64(v[0]), Distance: float64(v[1]), L1: float64(v[2]), Total: float64(v[3])}, nil
}
