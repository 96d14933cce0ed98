// Package nn holds the convolutional-network building blocks layervis models
// are made of, as GoMLX graph-building functions on NHWC tensors.
//
// Each operation comes in two numerically equivalent forms:
//
//   - [Im2col]: convolutions as k² strided slices, a concatenation and one
//     matrix multiplication, max-pooling as strided slices and Max. The
//     pure-Go backend runs these 12–17× faster than its generic convolution.
//     It slices element by element but concatenates whole blocks, so
//     stride-1 convolutions take their k² taps as shifted copies of the
//     flattened input instead (zero rows before and after), compute on the
//     padded grid and crop once, where that costs less. Strided
//     convolutions over few channels (ResNet's 7×7/2 stem on 3) take them
//     from the space-to-depth input (s×s blocks as pixels), where they
//     are shifted copies too. Input gradients are the transposed
//     convolution or col2im, whichever costs less. Stride-1 3×3
//     convolutions of 128 channels and more, where the model keeps copies
//     of its kernels, are built by Winograd's F(2×2, 3×3) instead, their
//     input gradients too: 16 multiply-adds per 2×2 tile and channel pair
//     instead of 36.
//   - [Standard]: graph.Convolve and graph.MaxPool, which XLA fuses and runs
//     best.
//
// [FormFor] picks the form for a backend; models call it once per graph.
// Like all GoMLX graph-building functions, these panic on shape errors.
//
// The pure-Go backend runs Slice, Where and Transpose element by element
// (and Where with a branch per element), copies a reshaped weight at every
// run, and spreads only matrix products over cores; so there kernels are
// stored as the matrices the products take ([Conv2D.Window]), biases ride
// on an add the convolution makes anyway ([Conv2D.ApplyBias]), and ReLU,
// ReLU6 and the max-pool gradient use masks multiplied bit by bit instead
// of selects. Input gradients there multiply by copies of the kernels in
// other layouts that the models keep ([SetKeeper], [Copies]), as F(2×2,
// 3×3) convolutions do.
// scripts/opprof.sh shows what each op of a step costs.
//
// Files: conv.go (convolutions, both forms), shift.go (shifted taps),
// depth.go (strided convolutions from space-to-depth blocks), winograd.go
// (F(2×2, 3×3)), keep.go (kept copies of kernels), pool.go, activation.go (ReLU, ReLU6, the
// redirected gradient), bands.go (an image built in horizontal bands, one
// per core), nn.go (forms, per-channel ops, Linear).
package nn

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/backend"
)

// Form selects how convolutions and pooling are expressed in the graph.
type Form int

const (
	// Standard uses graph.Convolve and graph.MaxPool (best on XLA).
	Standard Form = iota
	// Im2col uses strided slices, concatenation and a matrix product (best on
	// the pure-Go backend).
	Im2col
)

// String returns "standard" or "im2col".
func (f Form) String() string {
	if f == Im2col {
		return "im2col"
	}
	return "standard"
}

// FormEnvVar names the environment variable that overrides [FormFor]:
// "standard" or "im2col" builds that form on any backend (to compare them,
// or to inspect the XLA graph on the pure-Go backend).
const FormEnvVar = "LAYERVIS_FORM"

// FormFor returns the form that runs fastest on the backend: [Im2col] on the
// pure-Go backend, [Standard] elsewhere, unless [FormEnvVar] says otherwise.
// It panics, as graph-building functions do, on an unknown FormEnvVar value.
func FormFor(b compute.Backend) Form {
	switch v := strings.TrimSpace(os.Getenv(FormEnvVar)); v {
	case "":
	case "standard":
		return Standard
	case "im2col":
		return Im2col
	default:
		exceptions.Panicf("%s=%q: want \"standard\", \"im2col\" or unset (the backend's best form)", FormEnvVar, v)
	}
	if backend.IsGo(b) {
		return Im2col
	}
	return Standard
}

// GlobalAvg averages x [B,H,W,C] over H and W, returning [B,C].
func GlobalAvg(x *Node) *Node { return ReduceMean(x, 1, 2) }

// Affine returns x·scale + shift with per-channel (last axis) vectors, the
// inference form of batch normalization.
func Affine(x, scale, shift *Node) *Node { return AddBias(Scale(x, scale), shift) }

// Scale multiplies x by a per-channel (last axis) vector.
func Scale(x, scale *Node) *Node { return Mul(x, channelwise(scale, x)) }

// AddBias adds a per-channel (last axis) vector to x.
func AddBias(x, bias *Node) *Node { return Add(x, channelwise(bias, x)) }

// channelwise broadcasts the per-channel vector v to the shape of x by
// prefixing x's leading axes. Elementwise ops on same-shaped operands are
// several times faster on the pure-Go backend than implicitly broadcast ones.
// That backend also runs BroadcastInDim element by element through an index
// iterator, so there the copies are made by concatenation (block copies)
// instead; XLA gets the broadcast, which it fuses.
func channelwise(v, x *Node) *Node {
	d := x.Shape().Dimensions
	if v.Rank() != 1 || v.Shape().Dim(0) != d[len(d)-1] {
		exceptions.Panicf("nn: per-channel vector %s does not fit %s", v.Shape(), x.Shape())
	}
	if !backend.IsGo(x.Graph().Backend()) {
		return BroadcastPrefix(v, d[:len(d)-1]...)
	}
	return Reshape(repeatRows(Reshape(after(v, x), 1, d[len(d)-1]), x.Shape().Size()/d[len(d)-1]), d...)
}

// after returns v, computed only once x is, on the pure-Go backend. That
// backend runs every op whose inputs are ready, so a value computed from the
// weights alone (a per-channel vector repeated to an activation's shape, a
// transposed kernel) would otherwise be computed as the step starts and held
// until used: on ResNet-152 at 512², one image, the step's peak resident
// set was 2.5 GB without this and 1.8 GB with it. It is a scheduling
// barrier, which passes v on without a copy where it is v's last use;
// gradients reach v, not x.
func after(v, x *Node) *Node {
	if !backend.IsGo(x.Graph().Backend()) {
		return v
	}
	return SchedulingBarrier(v, x)
}

// repeatRows returns n copies of x [r, c] stacked into [n·r, c], with one
// concatenation per base-8 digit of n and one for the result.
func repeatRows(x *Node, n int) *Node {
	const base = 8
	var parts []*Node
	for block := x; n > 0; n /= base {
		for range n % base {
			parts = append(parts, block)
		}
		if n >= base {
			block = Concatenate(slices.Repeat([]*Node{block}, base), 0)
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return Concatenate(parts, 0)
}

// BatchNormScaleShift folds inference batch-norm statistics into the scale and
// shift that [Affine] applies: scale = γ/√(var+eps), shift = β − mean·scale.
func BatchNormScaleShift(gamma, beta, mean, variance []float32, eps float64) (scale, shift []float32, err error) {
	n := len(gamma)
	if len(beta) != n || len(mean) != n || len(variance) != n {
		return nil, nil, fmt.Errorf("batch norm: parameter lengths differ: weight %d, bias %d, running_mean %d, running_var %d",
			n, len(beta), len(mean), len(variance))
	}
	scale, shift = make([]float32, n), make([]float32, n)
	for i := range n {
		s := float64(gamma[i]) / math.Sqrt(float64(variance[i])+eps)
		scale[i] = float32(s)
		shift[i] = float32(float64(beta[i]) - float64(mean[i])*s)
	}
	return scale, shift, nil
}

// Linear returns x·wᵀ + b for x [B,in], w [out,in] (PyTorch layout), b [out]
// (b may be nil).
func Linear(x, w, b *Node) *Node {
	y := DotGeneral(x, []int{1}, nil, w, []int{1}, nil)
	if b != nil {
		y = AddBias(y, b)
	}
	return y
}

// IsFloat32 panics unless x is float32: layervis models compute in float32.
func IsFloat32(x *Node) {
	if x.DType() != dtypes.Float32 {
		exceptions.Panicf("layervis models take float32 inputs, got %s", x.DType())
	}
}
