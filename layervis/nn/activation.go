package nn

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.

	"github.com/layervis/layervis/layervis/backend"
)

// ReLU returns max(x, 0) with PyTorch's gradient: 1 where x > 0 and 0
// elsewhere, including at x == 0 (graph.Max would pass the gradient at ties).
//
// In a graph marked by [RedirectReLUs] its gradient is redirected instead.
func ReLU(x *Node) *Node { return activation(x, false) }

// ReLU6 returns min(max(x, 0), 6) with TensorFlow's gradient: 1 where
// 0 < x < 6, else 0.
//
// In a graph marked by [RedirectReLUs] its gradient is redirected instead.
func ReLU6(x *Node) *Node { return activation(x, true) }

// activation returns the ReLU (capped: ReLU6) of x.
//
// XLA gets selects, which it fuses, and autodiff's gradient of them. The
// pure-Go backend runs a select as a branchy loop (about 2 ns per element
// on a ReLU's mask), so there the value is a Max (and Min) with a scalar
// (one branch-free pass each; Go's max gives +0 for −0 and NaN for NaN, as
// PyTorch's relu) and the gradient is set by hand: the incoming gradient's
// bits times a 0/1 mask (x > 0 as a bool's bytes, kept from the forward
// pass; 0 at NaN), in branch-free integer passes and the bitcasts' copies.
// Redirected graphs take the hand-set gradient in both forms.
func activation(x *Node, capped bool) *Node {
	return activationForm(x, capped, !backend.IsGo(x.Graph().Backend()))
}

// activationForm is activation in XLA's form (selects) or the pure-Go
// backend's; either runs on any backend.
func activationForm(x *Node, capped, xla bool) *Node {
	g, dt := x.Graph(), x.DType()
	zero := ScalarZero(g, dt)
	selects := func(x *Node) *Node {
		zeros := BroadcastLike(zero, x)
		y := Where(GreaterThan(x, zeros), x, zeros)
		if capped {
			sixes := AddScalar(ZerosLike(y), 6)
			y = Where(LessThan(y, sixes), y, sixes)
		}
		return y
	}
	redirected := Redirecting(g)
	if xla && !redirected {
		return selects(x)
	}
	ut, bits := unsignedOf[dt]
	bits = bits && !xla
	var y, live *Node
	y = withGradient(x, func(x *Node) *Node {
		if xla {
			return selects(x)
		}
		lo := zero
		if bits && !redirected {
			// Kept for the backward pass: 1 byte per element, not y's 4.
			// y's zero is read from it, so that a graph without gradients
			// has no unused node.
			live = GreaterThan(x, zero)
			if capped {
				live = And(live, LessThan(x, Scalar(g, dt, 6)))
			}
			lo = Where(firstElem(live), zero, zero)
		}
		y := Max(x, lo)
		if capped {
			y = Min(y, Scalar(g, dt, 6))
		}
		return y
	}, func(v *Node) *Node {
		// y ∈ [0, 6] decides as well as x: y > 0 iff x > 0, y < 6 iff x < 6.
		if live != nil {
			// The mask's conversion waits for v (after), or the backend
			// would run it, and hold 4 bytes per element, as y is computed.
			mask := ConvertDType(after(Bitcast(live, dtypes.Uint8), v), ut)
			return Bitcast(Mul(Bitcast(v, ut), mask), dt)
		}
		if bits {
			return redirectedBits(y, v, ut, capped)
		}
		in := GreaterThan(y, zero)
		if capped {
			in = And(in, LessThan(y, Scalar(g, dt, 6)))
		}
		grad := Where(in, v, zero)
		if redirected {
			return redirect(y, v, grad, capped)
		}
		return grad
	})
	return y
}

// redirectedBits is the pure-Go backend's redirected gradient (see
// RedirectReLUs) of y, a ReLU's (capped: ReLU6's) output, given v = dL/dy,
// in integer passes on the bits (of dtype ut): the true gradient is v's
// bits times liveMask; a stuck image passes v where y is 0 and v's sign
// bit is set, or y is 6 and it is clear (the −0 gradient of a unit at 6
// comes out +0).
func redirectedBits(y, v *Node, ut dtypes.DType, capped bool) *Node {
	bv := Bitcast(v, ut)
	live := liveMask(y, ut, capped)
	gb := Mul(bv, live)
	grad := Bitcast(gb, v.DType())
	size := ut.Bits()
	pass := BitwiseShiftRightLogicalScalar(bv, size-1) // v ≤ 0
	if capped {
		// Where y is 0 or 6, bit size−2 of y's bits is set only for 6.
		pass = BitwiseXor(pass, BitwiseShiftRightLogicalScalar(Bitcast(y, ut), size-2))
	}
	red := Bitcast(Mul(bv, Max(live, pass)), v.DType())
	// An image is stuck when its gradient is ±0 everywhere: the sum of its
	// magnitudes' bits, as floats (a product's adds, not a slow per-element
	// reduction), is 0.
	sign := Scalar(y.Graph(), ut, uint64(1)<<(size-1)) // exact as a float64, unlike 1<<63 − 1
	mag := ConvertDType(BitwiseAnd(gb, BitwiseNot(sign)), v.DType())
	b := 1
	if y.Rank() > 1 {
		b = y.Shape().Dim(0)
	}
	n := y.Shape().Size() / b
	sum := Dot(Reshape(mag, b, n), after(Ones(y.Graph(), shapes.Make(v.DType(), n)), mag)).Product()
	stuck := Equal(sum, ZerosLike(sum))
	if y.Rank() <= 1 {
		stuck = Reshape(stuck)
	}
	return Where(stuck, red, grad)
}

// unsignedOf maps the float dtypes whose bits liveMask reads to the
// unsigned integer of their size.
var unsignedOf = map[dtypes.DType]dtypes.DType{dtypes.Float32: dtypes.Uint32, dtypes.Float64: dtypes.Uint64}

// liveMask returns, for the output y of a ReLU (capped: ReLU6), an integer
// of dtype ut (y's size) that is 1 where the unit passes its gradient
// (0 < y, and y < 6 if capped) and 0 elsewhere, from y's bits: +0 is the
// only y ≤ 0 (its bits are 0) and 6 the only y ≥ 6, so
// min(bits, bits XOR bits(6), 1) is the mask. (A NaN passes its gradient,
// as in PyTorch.)
func liveMask(y *Node, ut dtypes.DType, capped bool) *Node {
	bits := Bitcast(y, ut)
	if capped {
		bits = Min(bits, BitwiseXor(bits, Bitcast(Scalar(y.Graph(), y.DType(), 6), ut)))
	}
	return MinScalar(bits, 1)
}

// redirectKey is the graph state set by RedirectReLUs.
type redirectKey struct{}

// RedirectReLUs marks g so that the [ReLU] and [ReLU6] built in it from
// now on (by the model builders too: layervis/tfjs, layervis/onnx and
// layervis/torchvision use them) take lucid's redirected gradient
// (lucid/misc/redirected_relu_grad.py), for a loss that is minimized: for
// each image of the batch (axis 0) whose true ReLU gradient is zero
// everywhere in the tensor, the gradient is passed through where it
// pushes the input back into the unit's live range (up where x ≤ 0; for
// ReLU6 also down where x ≥ 6) and blocked where it pushes further out;
// images that get some true gradient get exactly the true gradient. The
// values are unchanged.
//
// Feature visualization uses it for its first steps: a unit that is zero
// on the initial image has a zero gradient and never starts otherwise.
// Gradients of such a graph are not the function's true gradients, so
// mark only graphs built for that purpose.
func RedirectReLUs(g *Graph) { g.AttachState(redirectKey{}, true) }

// Redirecting reports whether g is marked by [RedirectReLUs]. Such a
// graph is built whole, not in [Bands]: the redirected gradient is decided
// per image, and each band's ReLUs would decide it for the band.
func Redirecting(g *Graph) bool { return g.State(redirectKey{}) != nil }

// redirect returns XLA's form of the redirected gradient (see
// RedirectReLUs) of y, a ReLU's (capped: ReLU6's) output, given v = dL/dy
// and grad, the true gradient. x ≤ 0 where y is 0 and x ≥ 6 where y is 6.
func redirect(y, v, grad *Node, capped bool) *Node {
	zero := ScalarZero(y.Graph(), y.DType())
	down := And(Equal(y, zero), GreaterThan(v, zero)) // descent would lower x further
	if capped {
		down = Or(down, And(Equal(y, Scalar(y.Graph(), y.DType(), 6)), LessThan(v, zero)))
	}
	peak := ReduceAllMax(Abs(grad))
	if y.Rank() > 1 {
		axes := make([]int, y.Rank()-1)
		for i := range axes {
			axes[i] = i + 1
		}
		peak = ReduceAndKeep(Abs(grad), ReduceMax, axes...)
	}
	stuck := BroadcastToDims(Equal(peak, ZerosLike(peak)), y.Shape().Dimensions...)
	return Where(stuck, Where(down, zero, v), grad)
}
