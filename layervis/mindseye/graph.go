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
	// its images' share of the batch's loss (see loss).
	k int
	// distScale multiplies (mean Charbonnier + logPartition): K² with
	// Quirks.SquaredBatchTerms, else K (the sum of per-image means).
	// l1Scale multiplies λ·Σ|P|: K² or 1.
	distScale, l1Scale float64
	momentum           float64
	persistent         bool // keep the momentum buffer across steps
	jitter             bool // paste the input images into a canvas
	withGrad           bool // also output the raw input gradient (tests)
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

// loss returns the terms [activation, distance, L1] and their sum for a
// micro-batch of B of the K images:
//
//	activation = −Σ_b Σ_j W_bj · a_bj · T_bj
//	distance   = distScale · (Σ_bj (sqrt((a_bj − T_bj)² + 1) − 1)/(K·C) + log Z(1)·B/K)
//	L1         = l1Scale · λ · Σ |P|
//
// W is the channel weight matrix (see channelWeights). Every term is a sum
// over the images, so the micro-batches' terms add up to the whole batch's
// (with B = K, distance is distScale · (mean + log Z(1))), and each image's
// gradient is the same whichever micro-batch it is in.
func (s *netSpec) loss(a, p, target, weights, lambda *Node) (terms []*Node, total *Node) {
	b := a.Shape().Dim(0)
	act := Neg(ReduceAllSum(Mul(Mul(weights, a), target)))
	// Charbonnier is the mean over this micro-batch's B·C values; B/K makes it
	// the whole batch's sum over K·C.
	dist := MulScalar(AddScalar(optvis.Charbonnier(a, target), logPartition), s.distScale*float64(b)/float64(s.k))
	l1 := MulScalar(Mul(lambda, ReduceAllSum(Abs(p))), s.l1Scale)
	total = Add(Add(act, dist), l1)
	return []*Node{act, dist, l1}, total
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
// [pixels, target, weights, mask, lr, lambda] (+ canvas, ox, oy) (+ momentum
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
	terms, total := s.loss(a, p, target, weights, lambda)
	grad := Gradient(total, x)[0]
	g := Mul(grad, Reshape(mask, 1, 1, mask.Shape().Dim(0), mask.Shape().Dim(1)))
	// PyTorch's SGD(nesterov=True): buf = momentum·buf + g (buf = g on the
	// first step), update = g + momentum·buf.
	buf := g
	var canvas *Node
	if s.jitter {
		canvas = paste(in[next], pixels, in[next+1], in[next+2])
		next += 3
	}
	if s.persistent {
		buf = Add(MulScalar(in[next], s.momentum), g)
	}
	update := Add(g, MulScalar(buf, s.momentum))
	x = Sub(x, Mul(lr, update))
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
	return optvis.Pooled(s.m.Build(s.toModel(s.toStep(pixels)), s.target)[0])
}
