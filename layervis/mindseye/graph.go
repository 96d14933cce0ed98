package mindseye

// Stage C's device side: the compiled computations. Images travel as 8-bit
// pixel values held in float32, [K, H, W, 3] in display (RGB) order; the
// conversion to the step space and the network's input (channel order,
// range, mean/std) and the quantization back to 8 bits happen inside the
// graph, so one step is one compiled computation.

import (
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/optvis"
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
	// k is K, the facets of the whole batch: the loss of a micro-batch is
	// its images' share of the batch's loss (see objective).
	k int
	// distScale multiplies (mean Charbonnier + logPartition): K² with
	// Quirks.SquaredBatchTerms, else K (the sum of per-image means).
	// l1Scale multiplies λ·Σ|P|: K² or 1.
	distScale, l1Scale float64
	momentum           float64
	persistent         bool // keep the momentum buffer across steps
	jitter             bool // paste the input images into a canvas
	withGrad           bool // also output the raw input gradient (tests)
	// whole builds the network for the batch as one graph rather than in
	// backend.Branches parts (see cnn.Build): graphPeak simulates one op at
	// a time, and the parts' peaks add up when they run side by side.
	whole bool
}

// build returns the network's activations at layers for x.
func (s *netSpec) build(x *Node, layers ...string) []*Node {
	if s.whole {
		return s.m.Build(x, layers...)
	}
	return cnn.Build(s.m, x, layers...)
}

// specFor returns the computation cfg describes for k images.
func specFor(cfg *Config, k int) *netSpec {
	in := cfg.Model.Input()
	s := &netSpec{
		m: cfg.Model, in: in, target: cfg.Target, penalty: cfg.Penalty, k: k,
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
var stepSpace = cnn.ImageNet()

// sameConvention reports whether a and b normalize identically.
func sameConvention(a, b cnn.Input) bool {
	return a.Range == b.Range && slices.Equal(a.Mean, b.Mean) && slices.Equal(a.Std, b.Std)
}

// levels is the 8-bit pixel parameterization of the step (see
// optvis.Levels).
func (s *netSpec) levels() optvis.Levels { return optvis.Levels{Space: stepSpace, Swap: s.swap} }

// toStep maps pixels [B, H, W, 3] (0..255, display order) to the step space
// [B, 3, H, W] in the network's channel order.
func (s *netSpec) toStep(pixels *Node) *Node { return s.levels().ToSpace(pixels) }

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
func (s *netSpec) toPixels(z *Node) *Node { return s.levels().Quantize(z) }

// layers builds the target's pooled activation and the penalty layer.
func (s *netSpec) layers(x *Node) (a, p *Node) {
	if s.target == s.penalty {
		t := s.build(x, s.target)[0]
		return optvis.Pooled(t), t
	}
	out := s.build(x, s.target, s.penalty)
	return optvis.Pooled(out[0]), out[1]
}

// What Stage C's step feeds the objective (see objective): the pooled
// target activations, each image's channel weights times its target
// (W⊙T), the targets and λ.
const (
	keyPooled  = "mindseye:pooled"
	keyWeights = "mindseye:weights"
	keyTarget  = "mindseye:target"
	keyLambda  = "mindseye:lambda"
)

// objective is the method's dual objective, to maximize, on the activation
// of the target layer under the name target (pooled or not) and the
// penalty layer's:
//
//	Σ_b Σ_j (W⊙T)_bj · a_bj  −  distScale·B/K·(Charbonnier(a, T) + log Z(1))  −  l1Scale·λ·Σ|P|
//
// for a batch of B of the K images (W the channel weight matrix, see
// channelWeights; Charbonnier the mean over the batch's B·C values). Every
// term is a sum over the images, so the micro-batches' terms add up to the
// whole batch's and each image's gradient is the same whichever
// micro-batch it is in. Stage C's step (stepFn, with the data fed as
// inputs) and the toolbox variant ([Run.ToolboxObjective], with it fixed)
// both optimize this one definition; the loss is its negation.
func (s *netSpec) objective(target string, weights, tgt, lambda optvis.Data) optvis.Objective {
	return optvis.Sum(
		optvis.ChannelSetOf(target, weights),
		optvis.PooledDistanceOf(target, tgt).Offset(-logPartition).Scale(s.distScale).Share(s.k),
		optvis.L1(s.penalty, 0).ScaleBy(lambda).Scale(-s.l1Scale),
	)
}

// loss returns the loss terms [activation, distance, L1] (the objective's
// terms, negated) and their sum for the pooled target activations a [B, C]
// and the penalty layer p, with the fed weights (W⊙T), target and λ.
func (s *netSpec) loss(a, p, weights, target, lambda *Node) (terms []*Node, total *Node) {
	acts := optvis.Acts{keyPooled: a, s.penalty: p, keyWeights: weights, keyTarget: target, keyLambda: lambda}
	obj := s.objective(keyPooled, optvis.Fed(keyWeights), optvis.Fed(keyTarget), optvis.Fed(keyLambda))
	for _, t := range obj.Terms() {
		v := Neg(t.Build(acts))
		terms = append(terms, v)
		if total == nil {
			total = v
		} else {
			total = Add(total, v)
		}
	}
	return terms, total
}

// weightedTarget32 returns W⊙T, the activation term's weights.
func weightedTarget32(w, t []float32) []float32 {
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = v * t[i]
	}
	return out
}

// Inputs of the step, in order; the canvas and offsets only with jitter,
// the momentum buffer only with persistent momentum.
const (
	inPixels = iota
	inTarget
	inWeights
	inMask
	inLR
	inLambda
	numFixedInputs
)

// stepFn is the whole gradient step of a micro-batch of B images, inputs
// [pixels, target, weights (W⊙T), mask, lr, lambda] (+ canvas, ox, oy) (+ momentum
// buffer), outputs [new pixels, terms (act, dist, L1, total), pooled
// activations [B, C]] (+ canvas with the input pixels pasted at (ox, oy))
// (+ new buffer) (+ gradient w.r.t. the step space). The terms and
// activations are those of the input pixels, so a step with lr = 0 measures
// the images without changing them.
func (s *netSpec) stepFn(_ *model.Scope, in []*Node) []*Node {
	pixels, target, weights, mask, lr, lambda := in[inPixels], in[inTarget], in[inWeights], in[inMask], in[inLR], in[inLambda]
	next := numFixedInputs
	x := s.toStep(pixels)
	a, p := s.layers(s.toModel(x))
	terms, total := s.loss(a, p, weights, target, lambda)
	grad := Gradient(total, x)[0]
	var canvas, buf *Node
	if s.jitter {
		canvas = paste(in[next], pixels, in[next+1], in[next+2])
		next += 3
	}
	if s.persistent {
		buf = in[next]
	}
	mask = Reshape(mask, 1, 1, mask.Shape().Dim(0), mask.Shape().Dim(1))
	x, buf = optvis.Nesterov{Momentum: s.momentum}.Update(x, grad, mask, buf, lr)
	out := []*Node{s.toPixels(x), Stack(append(terms, total), 0), a}
	if s.jitter {
		out = append(out, canvas)
	}
	if s.persistent {
		out = append(out, buf)
	}
	if s.withGrad {
		out = append(out, grad)
	}
	return out
}

// paste returns canvas [B, cs, cs, 3] with pixels [B, S, S, 3] written at
// column ox, row oy (int32 scalars, 0 ≤ ox, oy ≤ cs − S): the reference's
// canvas[:, :, oy:oy+S, ox:ox+S] = created. It is two gathers and a select,
// which every backend runs (the pure-Go one has no DynamicUpdateSlice).
func paste(canvas, pixels, ox, oy *Node) *Node {
	g := canvas.Graph()
	cs, size := canvas.Shape().Dim(1), pixels.Shape().Dim(1)
	pos := Iota(g, shapes.Make(dtypes.Int32, cs), 0)
	// src returns, for each canvas position along an axis, the image
	// position it shows (clamped) and whether it is inside the window.
	src := func(off *Node) (idx, inside *Node) {
		d := Sub(pos, off)
		idx = Clamp(ScalarZero(g, dtypes.Int32), d, Scalar(g, dtypes.Int32, size-1))
		inside = LogicalAnd(GreaterOrEqual(d, ScalarZero(g, dtypes.Int32)), LessThan(d, Scalar(g, dtypes.Int32, size)))
		return Reshape(idx, cs, 1), inside
	}
	iy, insideY := src(oy)
	ix, insideX := src(ox)
	rows := Gather(TransposeAllAxes(pixels, 1, 0, 2, 3), iy)                           // [cs(y), B, S(x), 3]
	moved := Gather(TransposeAllAxes(rows, 2, 0, 1, 3), ix)                            // [cs(x), cs(y), B, 3]
	moved = TransposeAllAxes(moved, 2, 1, 0, 3)                                        // [B, cs(y), cs(x), 3]
	window := LogicalAnd(Reshape(insideY, 1, cs, 1, 1), Reshape(insideX, 1, 1, cs, 1)) // [1, cs, cs, 1]
	return Where(BroadcastToShape(window, canvas.Shape()), moved, canvas)
}

// featuresFn returns the pooled target activations of pixels [B, H, W, 3].
func (s *netSpec) featuresFn(_ *model.Scope, pixels *Node) *Node {
	return optvis.Pooled(s.build(s.toModel(s.toStep(pixels)), s.target)[0])
}
