package nn

import (
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	timage "github.com/gomlx/gomlx/core/tensors/images"

	"github.com/layervis/layervis/layervis/backend"
)

// Pool2D describes a max or average pooling window over an NHWC input.
type Pool2D struct {
	Kernel [2]int
	Stride [2]int // zero values mean the kernel size
	Pad    [2][2]int
	// CeilMode adds bottom/right padding so a partial last window is kept,
	// as PyTorch's ceil_mode=True does.
	CeilMode bool
	// CountPad divides average pools by the full window size, padding
	// included (PyTorch's count_include_pad=True); otherwise by the number of
	// real pixels in the window.
	CountPad bool
}

func (p Pool2D) norm(x *Node) (k, s [2]int, pad [2][2]int) {
	k = p.Kernel
	s = [2]int{p.Stride[0], p.Stride[1]}
	for i := range 2 {
		if s[i] <= 0 {
			s[i] = k[i]
		}
	}
	pad = p.Pad
	if p.CeilMode {
		for i := range 2 {
			n := x.Shape().Dim(1 + i)
			span := n + pad[i][0] + pad[i][1] - k[i]
			out := (span+s[i]-1)/s[i] + 1
			// PyTorch: the last window must start inside the input or left padding.
			if (out-1)*s[i] >= n+pad[i][0] {
				out--
			}
			pad[i][1] = max(pad[i][1], (out-1)*s[i]+k[i]-n-pad[i][0])
		}
	}
	return k, s, pad
}

// Max builds max-pooling of x [B,H,W,C]; padding never wins the max.
func (p Pool2D) Max(form Form, x *Node) *Node {
	k, s, pad := p.norm(x)
	if form == Standard {
		if pad != ([2][2]int{}) {
			x = Pad(x, Scalar(x.Graph(), x.DType(), math.Inf(-1)), compute.PadAxis{}, compute.PadAxis{Start: pad[0][0], End: pad[0][1]},
				compute.PadAxis{Start: pad[1][0], End: pad[1][1]}, compute.PadAxis{})
		}
		return MaxPool(x).ChannelsAxis(timage.ChannelsLast).WindowPerAxis(k[0], k[1]).
			StridePerAxis(s[0], s[1]).NoPadding().Done()
	}
	var cols []*Node
	var out *Node
	return withInputGradient(x, func(x *Node) *Node {
		cols = taps(StopGradient(x), k, s, [2]int{1, 1}, pad, math.Inf(-1))
		out = cols[0]
		for _, c := range cols[1:] {
			out = Max(out, c)
		}
		return out
	}, nil, func(v *Node) *Node {
		grads := firstMaxGrads(cols, out, v, !backend.IsGo(v.Graph().Backend()))
		return untap(v.Graph(), func(t int, rows, cols [2]int) *Node {
			g := grads[t]
			if rows != [2]int{0, g.Shape().Dim(1)} || cols != [2]int{0, g.Shape().Dim(2)} {
				g = Slice(g, AxisRange(), AxisRange(rows[0], rows[1]), AxisRange(cols[0], cols[1]), AxisRange())
			}
			return g
		}, x.Shape(), k, s, [2]int{1, 1}, pad)
	})
}

// firstMaxGrads returns each tap's share of v, the gradient of the max
// of the taps cols (out): each window's gradient goes to the first tap
// holding its maximum, as in PyTorch. XLA's form (selects, which it fuses):
// left is what no earlier tap took. The pure-Go backend runs a select as a
// branchy loop, so in its form the taps' 0/1 hits (a bool's bytes) are
// chained in uint8 products, and a tap's share is v's bits times its own.
func firstMaxGrads(cols []*Node, out, v *Node, xla bool) []*Node {
	grads := make([]*Node, len(cols))
	ut, ok := unsignedOf[v.DType()]
	if !ok || xla {
		zero := ScalarZero(v.Graph(), v.DType())
		left := v
		for t, c := range cols {
			hit := Equal(c, out)
			grads[t] = Where(hit, left, zero)
			if t < len(cols)-1 {
				left = Where(hit, zero, left)
			}
		}
		return grads
	}
	bv := Bitcast(v, ut)
	var open *Node // uint8 1 where no earlier tap held the maximum
	for t, c := range cols {
		// The hits are computed, and held (a byte per element), as the
		// taps are; the chain waits for v (after), or the backend would run
		// it, and hold the 4-byte shares, in the forward pass.
		first := Bitcast(Equal(c, out), dtypes.Uint8)
		if t == 0 {
			first = after(first, v)
		} else {
			first = Mul(first, open)
		}
		if t < len(cols)-1 {
			if t == 0 {
				open = Sub(Scalar(v.Graph(), dtypes.Uint8, 1), first)
			} else {
				open = Sub(open, first)
			}
		}
		grads[t] = Bitcast(Mul(bv, ConvertDType(first, ut)), v.DType())
	}
	return grads
}

// Avg builds average pooling of x [B,H,W,C]. It is always written as strided
// slices (the pure-Go backend's padded AvgPool is unusable), which XLA fuses.
func (p Pool2D) Avg(x *Node) *Node {
	k, s, pad := p.norm(x)
	cols := taps(x, k, s, [2]int{1, 1}, pad, 0)
	sum := cols[0]
	for _, c := range cols[1:] {
		sum = Add(sum, c)
	}
	if pad == ([2][2]int{}) || p.CountPad && !p.CeilMode {
		return DivScalar(sum, float64(k[0]*k[1]))
	}
	// Divide by the number of counted pixels per window.
	h, w := x.Shape().Dim(1), x.Shape().Dim(2)
	ones := Ones(x.Graph(), shapes.Make(x.DType(), 1, h, w, 1))
	if p.CountPad {
		// Count the symmetric padding but not the ceil-mode extension.
		ones = Pad(ones, Scalar(x.Graph(), x.DType(), 1), compute.PadAxis{},
			compute.PadAxis{Start: p.Pad[0][0], End: p.Pad[0][1]},
			compute.PadAxis{Start: p.Pad[1][0], End: p.Pad[1][1]}, compute.PadAxis{})
		pad = [2][2]int{{0, pad[0][1] - p.Pad[0][1]}, {0, pad[1][1] - p.Pad[1][1]}}
	}
	cnt := taps(ones, k, s, [2]int{1, 1}, pad, 0)
	n := cnt[0]
	for _, c := range cnt[1:] {
		n = Add(n, c)
	}
	return Div(sum, StopGradient(n))
}
