package optvis

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
)

// ImageLayer is the pseudo-layer name of the rendered images themselves,
// [B, 3, H, W] RGB in [0,1] before any transform: the layer of the image
// penalties ([L1], [L2], [TV]).
const ImageLayer = "optvis:image"

// Acts holds what an objective reads: the activations of the layers it
// names (NCHW, or [B, N] for vectors), and the images under [ImageLayer].
type Acts map[string]*Node

// Objective is a scalar function of a model's activations that rendering
// maximizes. Objectives compose: [Sum], [Objective.Scale],
// [Objective.Neg], and [Objective.At] restricts one to an image of the
// batch.
//
// Without At, an objective averages over the batch (lucid's convention),
// except [Diversity], which compares the images with one another.
type Objective struct {
	name   string
	layers []string
	inputs []string // graph inputs it reads from Acts ([Fed] data)
	build  func(a Acts) *Node
	terms  []Objective // the terms of a Sum, reported one by one
	// scale multiplies the value (0: 1); share > 0 multiplies it by B/share
	// (see [Objective.Share]). Both apply together, as one multiplication.
	scale float64
	share int
}

// NewObjective returns an objective named name that reads the given layers
// and computes build (a scalar graph function of their activations).
func NewObjective(name string, build func(a Acts) *Node, layers ...string) Objective {
	return Objective{name: name, layers: slices.Clone(layers), build: build}
}

// Name describes the objective, e.g. `channel(conv1:3)`.
func (o Objective) Name() string { return o.name }

// Layers lists the layers the objective reads (with [ImageLayer] if it
// reads the images).
func (o Objective) Layers() []string { return slices.Clone(o.layers) }

// Terms returns the terms of a [Sum], or o itself: the values rendering
// reports one by one.
func (o Objective) Terms() []Objective {
	if len(o.terms) > 0 {
		return slices.Clone(o.terms)
	}
	return []Objective{o}
}

// Build returns the objective's value, a scalar, from the activations.
// It panics, as graph-building functions do, if a layer it needs is
// missing from a.
func (o Objective) Build(a Acts) *Node {
	for _, l := range o.layers {
		if a[l] == nil {
			panic(fmt.Sprintf("optvis: objective %s needs layer %q, which was not built", o.name, l))
		}
	}
	for _, n := range o.inputs {
		if a[n] == nil {
			panic(fmt.Sprintf("optvis: objective %s reads the graph input %q, which the graph does not feed", o.name, n))
		}
	}
	v := o.build(a)
	f := 1.0
	if o.scale != 0 {
		f = o.scale
	}
	if o.share > 0 {
		if len(o.layers) == 0 {
			panic(fmt.Sprintf("optvis: objective %s: Share needs an objective that reads a layer (for the batch size)", o.name))
		}
		f *= float64(a[o.layers[0]].Shape().Dim(0)) / float64(o.share)
	}
	if o.scale != 0 || o.share > 0 {
		v = MulScalar(v, f)
	}
	return v
}

// IsZero reports whether o is the zero Objective (no function).
func (o Objective) IsZero() bool { return o.build == nil }

// Scale returns w·o. Scales (and [Objective.Share]) of one objective fold
// into a single multiplication.
func (o Objective) Scale(w float64) Objective {
	s := o.scale
	if s == 0 {
		s = 1
	}
	o.name, o.scale, o.terms = fmt.Sprintf("%g·%s", w, o.name), s*w, nil
	return o
}

// Share returns o as the share of a batch of k images that the batch of
// B it is built on carries: B/k·o. For an objective that averages over its
// batch, the shares of micro-batches that split k images add up to the
// value over all k, and each image's gradient is the one it has in the
// whole batch. The objective must read a layer (the batch size comes from
// its first).
func (o Objective) Share(k int) Objective {
	if k < 1 {
		panic(fmt.Sprintf("optvis: objective %s: Share(%d) needs a positive batch", o.name, k))
	}
	o.name, o.share, o.terms = fmt.Sprintf("%s/%d", o.name, k), k, nil
	return o
}

// Offset returns o + c: a constant that changes the value reported, not
// the gradient (e.g. a loss's log partition function).
func (o Objective) Offset(c float64) Objective {
	return Objective{name: fmt.Sprintf("%s%+g", o.name, c), layers: o.layers, inputs: o.inputs,
		build: func(a Acts) *Node { return AddScalar(o.Build(a), c) }}
}

// ScaleBy returns w·o for a scalar w given as [Data]: fixed, or fed by the
// caller's graph at every step (a scheduled weight).
func (o Objective) ScaleBy(w Data) Objective {
	return Objective{name: fmt.Sprintf("%s·%s", w, o.name), layers: o.layers, inputs: w.with(o.inputs),
		build: func(a Acts) *Node {
			v := o.Build(a)
			return Mul(w.node(a, v, fmt.Sprintf("the weight of %s", o.name)), v)
		}}
}

// Neg returns −o.
func (o Objective) Neg() Objective {
	return Objective{name: "−" + o.name, layers: o.layers, inputs: o.inputs,
		build: func(a Acts) *Node { return Neg(o.Build(a)) }}
}

// Data is data an objective reads: per-image weights or targets ([B × C]
// row-major) or a scalar weight. It is fixed ([Fixed]: constants of the
// graph) or fed ([Fed]: a graph input that the caller's own step puts in
// [Acts] under a name, so that one compiled step serves batches with
// different data). [Render] and [Evaluate] feed nothing: give them fixed
// data.
type Data struct {
	values []float32
	input  string
}

// Fixed returns data of the given values.
func Fixed(values ...float32) Data { return Data{values: slices.Clone(values)} }

// Fed returns data read from Acts[name] (float32, of the shape the
// objective needs).
func Fed(name string) Data { return Data{input: name} }

// String returns the input's name, or the number of fixed values.
func (d Data) String() string {
	if d.input != "" {
		return d.input
	}
	if len(d.values) == 1 {
		return fmt.Sprintf("%g", d.values[0])
	}
	return fmt.Sprintf("[%d values]", len(d.values))
}

// with returns inputs plus d's input, if it is fed.
func (d Data) with(inputs []string) []string {
	if d.input == "" || slices.Contains(inputs, d.input) {
		return inputs
	}
	return append(slices.Clone(inputs), d.input)
}

// node returns d as a node of the given dimensions (a scalar without
// any) in like's graph and dtype; what names the data in a panic.
func (d Data) node(a Acts, like *Node, what string, dims ...int) *Node {
	n := 1
	for _, v := range dims {
		n *= v
	}
	var x *Node
	if d.input != "" {
		x = a[d.input]
		if x.Shape().Size() != n {
			panic(fmt.Sprintf("optvis: %s: the input %q has shape %s, %d values are needed (%v)", what, d.input, x.Shape(), n, dims))
		}
	} else {
		if len(d.values) != n {
			panic(fmt.Sprintf("optvis: %s: %d values for %v", what, len(d.values), dims))
		}
		x = Const(like.Graph(), slices.Clone(d.values))
	}
	return ConvertDType(Reshape(x, dims...), like.DType())
}

// At returns o evaluated on image i of the batch only.
func (o Objective) At(i int) Objective {
	return Objective{name: fmt.Sprintf("%s@%d", o.name, i), layers: o.layers, inputs: o.inputs,
		build: func(a Acts) *Node {
			one := make(Acts, len(a))
			for k, v := range a {
				if slices.Contains(o.inputs, k) {
					one[k] = v // fed data is the batch's
					continue
				}
				if i < 0 || i >= v.Shape().Dim(0) {
					panic(fmt.Sprintf("optvis: objective %s: batch index %d out of range [0,%d)", o.name, i, v.Shape().Dim(0)))
				}
				one[k] = Slice(v, AxisElem(i))
			}
			return o.Build(one)
		}}
}

// Sum returns the sum of the objectives; each is reported as a term. The
// sum of none is the zero Objective, which Render refuses.
func Sum(objs ...Objective) Objective {
	if len(objs) == 0 {
		return Objective{}
	}
	var layers, inputs, names []string
	var terms []Objective
	for _, o := range objs {
		for _, l := range o.layers {
			if !slices.Contains(layers, l) {
				layers = append(layers, l)
			}
		}
		for _, n := range o.inputs {
			if !slices.Contains(inputs, n) {
				inputs = append(inputs, n)
			}
		}
		names = append(names, o.name)
		terms = append(terms, o.Terms()...)
	}
	return Objective{name: strings.Join(names, " + "), layers: layers, inputs: inputs, terms: terms,
		build: func(a Acts) *Node {
			total := objs[0].Build(a)
			for _, o := range objs[1:] {
				total = Add(total, o.Build(a))
			}
			return total
		}}
}

// checkChannel panics if channel c is not in activation x's channel axis.
func checkChannel(name string, x *Node, c int) {
	if x.Rank() < 2 || c < 0 || c >= x.Shape().Dim(1) {
		panic(fmt.Sprintf("optvis: %s: channel %d out of range for activation %s", name, c, x.Shape()))
	}
}

// Channel is the mean activation of channel c of layer (over positions and
// images): the classic feature visualization. For a vector layer [B, N]
// it is unit c, so Channel on a class-logit layer is [ClassLogit].
func Channel(layer string, c int) Objective {
	name := fmt.Sprintf("channel(%s:%d)", layer, c)
	return NewObjective(name, func(a Acts) *Node {
		x := a[layer]
		checkChannel(name, x, c)
		return ReduceAllMean(Slice(x, AxisRange(), AxisElem(c)))
	}, layer)
}

// ClassLogit is the logit of class c in layer (a [B, classes] vector, or
// a per-class heatmap [B, classes, h, w] such as the demo detector's, whose
// mean is taken).
func ClassLogit(layer string, c int) Objective {
	o := Channel(layer, c)
	o.name = fmt.Sprintf("logit(%s:%d)", layer, c)
	return o
}

// Neuron is the activation of channel c of layer at one position, (x, y)
// if given, else the centre (h/2, w/2), averaged over the batch.
func Neuron(layer string, c int, pos ...int) Objective {
	name := fmt.Sprintf("neuron(%s:%d)", layer, c)
	return NewObjective(name, func(a Acts) *Node {
		x := a[layer]
		checkChannel(name, x, c)
		y0, x0 := at(name, x, pos)
		return ReduceAllMean(Slice(x, AxisRange(), AxisElem(c), AxisElem(y0), AxisElem(x0)))
	}, layer)
}

// at returns the (row, column) a neuron objective reads: pos = (x, y), or
// the centre.
func at(name string, x *Node, pos []int) (row, col int) {
	if x.Rank() != 4 {
		panic(fmt.Sprintf("optvis: %s needs a feature map [B,C,H,W], got %s", name, x.Shape()))
	}
	h, w := x.Shape().Dim(2), x.Shape().Dim(3)
	row, col = h/2, w/2
	if len(pos) == 2 {
		col, row = pos[0], pos[1]
	} else if len(pos) != 0 {
		panic(fmt.Sprintf("optvis: %s: give the position as x, y (got %v)", name, pos))
	}
	if row < 0 || row >= h || col < 0 || col >= w {
		panic(fmt.Sprintf("optvis: %s: position x=%d y=%d outside the %dx%d map", name, col, row, w, h))
	}
	return row, col
}

// DeepDream is the mean squared activation of layer (lucid's
// objectives.deepdream).
func DeepDream(layer string) Objective {
	return NewObjective(fmt.Sprintf("deepdream(%s)", layer), func(a Acts) *Node {
		return ReduceAllMean(Square(a[layer]))
	}, layer)
}

// Direction is the mean over positions and images of the dot product of
// layer's channel vector with vec (lucid's objectives.direction). With
// cossimPow > 0 the dot product is weighted by max(0.1, cos)^cossimPow,
// cos the cosine between the activation and vec (lucid's _dot_cossim), so
// that the direction, not just the magnitude, is matched.
func Direction(layer string, vec []float32, cossimPow float64) Objective {
	return NewObjective(fmt.Sprintf("direction(%s)", layer), func(a Acts) *Node {
		x := a[layer]
		return ReduceAllMean(dotCossim(x, vecLike(x, vec, "direction"), cossimPow))
	}, layer)
}

// DirectionNeuron is [Direction] at one position of layer: (x, y) if
// given, else the centre.
func DirectionNeuron(layer string, vec []float32, cossimPow float64, pos ...int) Objective {
	name := fmt.Sprintf("direction_neuron(%s)", layer)
	return NewObjective(name, func(a Acts) *Node {
		x := a[layer]
		y0, x0 := at(name, x, pos)
		x = Slice(x, AxisRange(), AxisRange(), AxisElem(y0), AxisElem(x0))
		return ReduceAllMean(dotCossim(x, vecLike(x, vec, name), cossimPow))
	}, layer)
}

// vecLike returns vec as a constant broadcastable along x's channel axis
// ([1, C, 1, 1] or [1, C]).
func vecLike(x *Node, vec []float32, name string) *Node {
	if x.Rank() < 2 || x.Shape().Dim(1) != len(vec) {
		panic(fmt.Sprintf("optvis: %s: the vector has %d values, the layer %s", name, len(vec), x.Shape()))
	}
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[1] = len(vec)
	return Reshape(Const(x.Graph(), slices.Clone(vec)), dims...)
}

// dotCossim is lucid's _dot_cossim along the channel axis (1), per
// position: x·v, times max(0.1, cos)^pow when pow > 0.
func dotCossim(x, v *Node, pow float64) *Node {
	dot := ReduceSum(Mul(x, v), 1)
	if pow == 0 {
		return dot
	}
	const eps = 1e-4
	xn := Sqrt(ReduceSum(Square(x), 1))
	vn := Sqrt(ReduceAllSum(Square(v)))
	cos := Div(Div(dot, AddScalar(xn, eps)), AddScalar(vn, eps))
	return Mul(dot, Pow(MaxScalar(cos, 0.1), Scalar(cos.Graph(), cos.DType(), pow)))
}

// Diversity is lucid's diversity term with the sign for maximizing: minus
// the mean over images i of Σ_{j≠i} ⟨G_i, G_j⟩, G_i the Gram matrix of
// image i's activations in layer (channels × channels over positions)
// divided by its Frobenius norm (tf.nn.l2_normalize). Add it with a
// weight to make a batch of images differ. The weight depends on the
// model's activation scale: lucid used 100 with InceptionV1, but on the
// demo model, channel 7 of expanded_conv_5/expand/Relu with a batch of 3,
// weight 100 overwhelms the channel (activation 0.64 against 6.6 alone)
// while weight 1 keeps it (6.2) and gives three different arrangements of
// the feature.
func Diversity(layer string) Objective {
	return NewObjective(fmt.Sprintf("diversity(%s)", layer), func(a Acts) *Node {
		x := a[layer]
		if x.Rank() != 4 {
			panic(fmt.Sprintf("optvis: diversity needs a feature map [B,C,H,W], got %s", x.Shape()))
		}
		b, c := x.Shape().Dim(0), x.Shape().Dim(1)
		f := Reshape(x, b, c, -1)
		gram := Einsum("bcp,bdp->bcd", f, f)
		norm := Sqrt(MaxScalar(ReduceAndKeep(Square(gram), ReduceSum, 1, 2), 1e-10)) // tf.nn.l2_normalize
		gram = Reshape(Div(gram, norm), b, c*c)
		sim := Einsum("ik,jk->ij", gram, gram) // ⟨G_i, G_j⟩
		offDiag := Sub(ReduceAllSum(sim), ReduceAllSum(Mul(sim, eye(x.Graph(), b))))
		return DivScalar(Neg(offDiag), float64(b))
	}, layer)
}

// eye returns the n×n identity matrix.
func eye(g *Graph, n int) *Node {
	flat := make([]float32, n*n)
	for i := range n {
		flat[i*n+i] = 1
	}
	return Reshape(Const(g, flat), n, n)
}

// L1 is Σ|x − constant| over layer (lucid's objectives.L1): a penalty, so
// add it with a negative weight. On [ImageLayer] with constant 0.5 it
// pulls the image towards grey.
func L1(layer string, constant float64) Objective {
	return NewObjective(fmt.Sprintf("L1(%s)", layer), func(a Acts) *Node {
		x := a[layer]
		if constant != 0 {
			x = AddScalar(x, -constant)
		}
		return ReduceAllSum(Abs(x))
	}, layer)
}

// L2 is sqrt(ε + Σ(x − constant)²) over layer (lucid's objectives.L2,
// ε = 1e-6): a penalty.
func L2(layer string, constant float64) Objective {
	return NewObjective(fmt.Sprintf("L2(%s)", layer), func(a Acts) *Node {
		return Sqrt(AddScalar(ReduceAllSum(Square(AddScalar(a[layer], -constant))), 1e-6))
	}, layer)
}

// TV is the total variation of layer (tf.image.total_variation summed over
// the batch): Σ|x[i+1,j] − x[i,j]| + Σ|x[i,j+1] − x[i,j]| over the last
// two axes. A penalty; on [ImageLayer] it smooths the images.
func TV(layer string) Objective {
	return NewObjective(fmt.Sprintf("TV(%s)", layer), func(a Acts) *Node {
		x := a[layer]
		h, w := x.Shape().Dim(-2), x.Shape().Dim(-1)
		dy := Sub(Slice(x, AxisRange().Spacer(), AxisRange(1, h), AxisRange()), Slice(x, AxisRange().Spacer(), AxisRange(0, h-1), AxisRange()))
		dx := Sub(Slice(x, AxisRange().Spacer(), AxisRange(1, w)), Slice(x, AxisRange().Spacer(), AxisRange(0, w-1)))
		return Add(ReduceAllSum(Abs(dy)), ReduceAllSum(Abs(dx)))
	}, layer)
}

// Pooled is the global average pool of an activation: [B, C] from
// [B, C, h, w]; a [B, C] activation is returned as is.
func Pooled(a *Node) *Node {
	if a.Rank() == 4 {
		return ReduceMean(a, 2, 3)
	}
	return a
}

// Charbonnier is mean((√((a − t)² + 1) − 1)): Barron's robust loss at
// α = 1 (pseudo-Huber), averaged over every element.
func Charbonnier(a, t *Node) *Node {
	r := Sub(a, t)
	return ReduceAllMean(AddScalar(Sqrt(AddScalar(Square(r), 1)), -1))
}

// ChannelSet is the Mind's Eye activation term: Σ_b Σ_j W_bj · pool(a)_bj,
// the weighted pooled activation of layer, with weights [B × C] row-major
// (one row per image; zero outside an image's channel set).
func ChannelSet(layer string, weights []float32) Objective {
	return ChannelSetOf(layer, Fixed(weights...))
}

// ChannelSetOf is [ChannelSet] with the weights given as [Data].
func ChannelSetOf(layer string, weights Data) Objective {
	name := fmt.Sprintf("channel_set(%s)", layer)
	return NewObjective(name, func(a Acts) *Node {
		p := Pooled(a[layer])
		w := weights.node(a, p, name+"'s weights", p.Shape().Dim(0), p.Shape().Dim(1))
		return ReduceAllSum(Mul(p, w))
	}, layer).reads(weights)
}

// PooledDistance is the Mind's Eye distance term as an objective to
// maximize: −[Charbonnier] between the pooled activation of layer and a
// target [B × C] row-major.
func PooledDistance(layer string, target []float32) Objective {
	return PooledDistanceOf(layer, Fixed(target...))
}

// PooledDistanceOf is [PooledDistance] with the target given as [Data].
func PooledDistanceOf(layer string, target Data) Objective {
	name := fmt.Sprintf("pooled_distance(%s)", layer)
	return NewObjective(name, func(a Acts) *Node {
		p := Pooled(a[layer])
		return Neg(Charbonnier(p, target.node(a, p, name+"'s target", p.Shape().Dim(0), p.Shape().Dim(1))))
	}, layer).reads(target)
}

// reads returns o reading d's input too, if d is fed.
func (o Objective) reads(d Data) Objective {
	o.inputs = d.with(o.inputs)
	return o
}
