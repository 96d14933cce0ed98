package nn

import (
	"math"
	"slices"

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

// norm returns the window, strides and padding of p over an input of h×w
// pixels.
func (p Pool2D) norm(h, w int) (k, s [2]int, pad [2][2]int) {
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
			n := [2]int{h, w}[i]
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
	k, s, pad := p.norm(x.Shape().Dim(1), x.Shape().Dim(2))
	if form == Standard {
		if pad != ([2][2]int{}) {
			x = Pad(x, Scalar(x.Graph(), x.DType(), math.Inf(-1)), compute.PadAxis{}, compute.PadAxis{Start: pad[0][0], End: pad[0][1]},
				compute.PadAxis{Start: pad[1][0], End: pad[1][1]}, compute.PadAxis{})
		}
		return MaxPool(x).ChannelsAxis(timage.ChannelsLast).WindowPerAxis(k[0], k[1]).
			StridePerAxis(s[0], s[1]).NoPadding().Done()
	}
	if y, ok := separableMax(x, k, s, pad); ok {
		return y
	}
	return tapMax(x, k, s, pad)
}

// tapMax is the max-pooling of x by windows k at strides s with padding
// pad as the max of the windows' k[0]·k[1] taps (strided slices), with the
// first-maximum gradient (firstMaxGrads).
func tapMax(x *Node, k, s [2]int, pad [2][2]int) *Node {
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

// shift is one tap of a pooling window along an axis of length n = m·s
// (s the stride), read from the input's stride phase a (its elements a,
// a+s, a+2s...: m of them): output j reads the phase's element j+d,
// −Inf outside it. The tap is the phase's elements [from, to) padded by
// start and end to the o outputs.
type shift struct{ phase, from, to, start, end int }

// shifts returns the k taps of a window along an axis of length n (a
// multiple of s) padded by pad, in order; ok is false where a tap reads
// only padding.
func shifts(n, k, s int, pad [2]int) (taps []shift, ok bool) {
	m, o := n/s, OutSize(n, k, s, 1, pad)
	for t := range k {
		u := t - pad[0]
		a := (u%s + s) % s
		d := (u - a) / s
		from, to := max(0, d), min(m, o+d)
		if to <= from {
			return nil, false
		}
		taps = append(taps, shift{a, from, to, from - d, o - (from - d) - (to - from)})
	}
	return taps, true
}

// padAxis returns the Pad configuration of x that pads axis by start and end.
func padAxis(x *Node, axis, start, end int) []compute.PadAxis {
	cfg := make([]compute.PadAxis, x.Rank())
	cfg[axis] = compute.PadAxis{Start: start, End: end}
	return cfg
}

// apply returns the tap from phase z [B,.,.,C], whose axis holds the
// phase's m elements.
func (sh shift) apply(z *Node, axis, m int) *Node {
	if sh.from > 0 || sh.to < m {
		z = cut(z, axis, sh.from, sh.to)
	}
	return sh.place(z, axis)
}

// place returns the tap from the phase's elements [from, to), z, padded
// into place with −Inf.
func (sh shift) place(z *Node, axis int) *Node {
	if sh.start > 0 || sh.end > 0 {
		z = Pad(z, Scalar(z.Graph(), z.DType(), math.Inf(-1)), padAxis(z, axis, sh.start, sh.end)...)
	}
	return z
}

// adjoint returns the gradient of the phase (m elements on axis) from g,
// that of the tap apply returned.
func (sh shift) adjoint(g *Node, axis, m int) *Node {
	if sh.start > 0 || sh.end > 0 {
		g = cut(g, axis, sh.start, sh.start+sh.to-sh.from)
	}
	if sh.from > 0 || sh.to < m {
		g = Pad(g, ScalarZero(g.Graph(), g.DType()), padAxis(g, axis, sh.from, m-sh.to)...)
	}
	return g
}

// cut returns x [B,H,W,C] cut to [from, to) on axis 1 or 2, sliced as
// pairs of channels where it can (see pack); nothing differentiates
// through it.
func cut(x *Node, axis, from, to int) *Node {
	q, packed := pack(x)
	spec := []SliceAxisSpec{AxisRange(), AxisRange(), AxisRange(), AxisRange()}
	spec[axis] = AxisRange(from, to)
	if q = Slice(q, spec...); packed {
		return StopGradient(unpack(q)) // autodiff has no gradient of a bitcast
	}
	return q
}

// phaseCols returns the columns [from, to) of the stride phase (a, b) of
// x [B,H,W,C] (the pixels (s0·i+a, s1·j+b), [B,H/s0,W/s1,C]), sliced as
// pairs of channels where it can (see pack); nothing differentiates
// through it.
func phaseCols(x *Node, s [2]int, a, b, from, to int) *Node {
	q, packed := pack(x)
	d := q.Shape().Dimensions
	if s == [2]int{1, 1} && from == 0 && to == d[2] {
		return x
	}
	q = Reshape(q, d[0], d[1]/s[0], s[0], d[2]/s[1], s[1], d[3])
	q = Reshape(Slice(q, AxisRange(), AxisRange(), AxisElem(a), AxisRange(from, to), AxisElem(b), AxisRange()),
		d[0], d[1]/s[0], to-from, d[3])
	if packed {
		return StopGradient(unpack(q)) // autodiff has no gradient of a bitcast
	}
	return q
}

// phaseRanges returns the column ranges rs of x's stride phase (a, b) (see
// phaseCols): the phase is sliced once, in the pieces between the ranges'
// ends, and a range spanning several pieces is their concatenation, which
// the pure-Go backend copies by blocks, faster than it slices.
func phaseRanges(x *Node, s [2]int, a, b int, rs [][2]int) []*Node {
	var ends []int
	for _, r := range rs {
		ends = append(ends, r[0], r[1])
	}
	slices.Sort(ends)
	ends = slices.Compact(ends)
	pieces := make(map[int]*Node) // by first column
	out := make([]*Node, len(rs))
	for i, r := range rs {
		var parts []*Node
		for k := range len(ends) - 1 {
			if ends[k] < r[0] || ends[k+1] > r[1] {
				continue
			}
			if pieces[ends[k]] == nil {
				pieces[ends[k]] = phaseCols(x, s, a, b, ends[k], ends[k+1])
			}
			parts = append(parts, pieces[ends[k]])
		}
		if out[i] = parts[0]; len(parts) > 1 {
			out[i] = Concatenate(parts, 2)
		}
	}
	return out
}

// separableMax is the pure-Go backend's max-pooling of x [B,H,W,C] by
// windows k at strides s with padding pad, and its gradient, where H and W
// are multiples of s (ok is false, and nothing built, elsewhere): a max
// over each row of the window, then over the rows. Slices cost that
// backend about 2 ns per element, pads and concatenations a fraction of
// that, so the input is sliced once into its s0·s1 stride phases (as pairs
// of channels; a phase that two taps read in part and in full, in two
// pieces that are concatenated), each tap of a pass is a phase padded with
// −Inf into place (cut where it would reach past the outputs), and its
// gradient the tap's cut back out. The gradient routes each window's dL/dy
// to the first row holding its maximum, then to the first column of that
// row holding it: the first maximum in row-major order, as in PyTorch; the
// phases' gradients are interleaved by concatenation. ResNet's 3×3/2 pool
// slices 8 times its output's size, forward and backward, as pairs of
// channels, where the max of its 9 taps slices 14 times, channel by
// channel; it takes 6 maxes instead of 8.
func separableMax(x *Node, k, s [2]int, pad [2][2]int) (_ *Node, ok bool) {
	g := x.Graph()
	if !backend.IsGo(g.Backend()) || x.Shape().Dim(1)%s[0] != 0 || x.Shape().Dim(2)%s[1] != 0 {
		return nil, false
	}
	m := [2]int{x.Shape().Dim(1) / s[0], x.Shape().Dim(2) / s[1]}
	rows, ok := shifts(x.Shape().Dim(1), k[0], s[0], pad[0])
	if !ok {
		return nil, false
	}
	cols, ok := shifts(x.Shape().Dim(2), k[1], s[1], pad[1])
	if !ok {
		return nil, false
	}
	maxOf := func(ops []*Node) *Node {
		y := ops[0]
		for _, o := range ops[1:] {
			y = Max(y, o)
		}
		return y
	}
	var out *Node
	var vOps []*Node
	hOps := make([][]*Node, s[0]) // per row phase: the taps of its rows' max
	h := make([]*Node, s[0])      // per row phase: its rows' max
	return withInputGradient(x, func(x *Node) *Node {
		x = StopGradient(x)
		for _, r := range rows {
			a := r.phase
			if h[a] != nil {
				continue
			}
			hOps[a] = make([]*Node, len(cols))
			for b := range s[1] {
				var taps []int
				var rs [][2]int
				for t, c := range cols {
					if c.phase == b {
						taps, rs = append(taps, t), append(rs, [2]int{c.from, c.to})
					}
				}
				for i, z := range phaseRanges(x, s, a, b, rs) {
					hOps[a][taps[i]] = cols[taps[i]].place(z, 2)
				}
			}
			h[a] = maxOf(hOps[a])
		}
		for _, r := range rows {
			vOps = append(vOps, r.apply(h[r.phase], 1, m[0]))
		}
		out = maxOf(vOps)
		return out
	}, nil, func(v *Node) *Node {
		add := func(sum, x *Node) *Node {
			if sum == nil {
				return x
			}
			return Add(sum, x)
		}
		dh := make([]*Node, s[0])
		for t, gv := range firstMaxGrads(vOps, out, v, false) {
			dh[rows[t].phase] = add(dh[rows[t].phase], rows[t].adjoint(gv, 1, m[0]))
		}
		dx := make([]*Node, s[0]*s[1])
		for a, d := range dh {
			if d == nil {
				continue
			}
			for t, gh := range firstMaxGrads(hOps[a], h[a], d, false) {
				i := a*s[1] + cols[t].phase
				dx[i] = add(dx[i], cols[t].adjoint(gh, 2, m[1]))
			}
		}
		return interleave(g, dx, x.Shape(), m, s)
	}), true
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
	k, s, pad := p.norm(x.Shape().Dim(1), x.Shape().Dim(2))
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
