package nn

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/support/exceptions"
)

// Bands is an NHWC activation [B,H,W,C] held as horizontal bands, the
// parts [B,h_i,W,C] from top to bottom (their heights sum to H); one band
// is the activation whole.
//
// The pure-Go backend runs every op but a matrix product on one core, and
// runs independent ops side by side: a network built band by band keeps
// the cores busy on a single image, as cnn.Build's parts do on a batch
// (layervis/torchvision, layervis/onnx and layervis/tfjs build their
// models so; cnn.Bands says how many bands).
//
// Per-pixel ops map over the bands ([Bands.Map], [Zip]); window ops
// ([Conv2D.ApplyBands], [Pool2D.MaxBands]) read the rows their bands' windows
// need from the bands next door, and pad only at the image's top and
// bottom, so every band computes exactly its rows of the whole result.
type Bands []*Node

// SplitRows returns x [B,H,W,C] as n bands (at most H) of nearly equal
// height, the taller ones last: of [SplitHeights](H, n) rows.
func SplitRows(x *Node, n int) Bands {
	hs := SplitHeights(x.Shape().Dim(1), n)
	if len(hs) == 1 {
		return Bands{x}
	}
	b := make(Bands, len(hs))
	start := 0
	for i, h := range hs {
		b[i] = Slice(x, AxisRange(), AxisRange(start, start+h))
		start += h
	}
	return b
}

// SplitHeights returns the heights of the bands SplitRows splits h rows
// into for n bands.
func SplitHeights(h, n int) []int {
	n = max(1, min(n, h))
	hs := make([]int, n)
	for i := range n {
		hs[i] = (i+1)*h/n - i*h/n
	}
	return hs
}

// Join returns the activation whole: the bands concatenated.
func (b Bands) Join() *Node {
	if len(b) == 1 {
		return b[0]
	}
	return Concatenate(b, 1)
}

// Map returns f applied to each band.
func (b Bands) Map(f func(x *Node) *Node) Bands {
	out := make(Bands, len(b))
	for i, x := range b {
		out[i] = f(x)
	}
	return out
}

// Zip returns f applied to the bands of a and b pair by pair; a and b must
// be split alike.
func Zip(a, b Bands, f func(x, y *Node) *Node) Bands {
	if len(a) != len(b) {
		exceptions.Panicf("nn.Zip: %d bands against %d", len(a), len(b))
	}
	out := make(Bands, len(a))
	for i := range a {
		if a[i].Shape().Dim(1) != b[i].Shape().Dim(1) {
			exceptions.Panicf("nn.Zip: band %d has %d rows against %d", i, a[i].Shape().Dim(1), b[i].Shape().Dim(1))
		}
		out[i] = f(a[i], b[i])
	}
	return out
}

// ApplyBands is [Conv2D.ApplyBias] on an activation held in bands.
func (c Conv2D) ApplyBands(form Form, x Bands, w, b *Node) Bands {
	if len(x) == 1 {
		return Bands{c.ApplyBias(form, x[0], w, b)}
	}
	k, _, _ := c.kernel(x[0], w)
	dil := [2]int{orOne(c.Dilation[0]), orOne(c.Dilation[1])}
	apply := func(seg *Node, rows [2]int, first int) *Node {
		c := c
		c.Pad[0], c.phase = rows, first%2
		return c.ApplyBias(form, seg, w, b)
	}
	window := func(x Bands) Bands { return x.window(k[0], orOne(c.Stride[0]), dil[0], c.Pad[0], apply) }
	span := (k[0] - 1) * dil[0]
	if form != Im2col || orOne(c.Groups) != 1 || c.Stride != [2]int{1, 1} && c.Stride != [2]int{} || span == 0 {
		return window(x)
	}
	if w.Rank() == 4 {
		w = Reshape(w, k[0]*k[1]*w.Shape().Dim(2), w.Shape().Dim(3))
	}
	return withBandGradient(x, window, func(v Bands) Bands { return c.bandsInputGrad(x, v, w, k, dil) })
}

// bandsInputGrad returns, band by band, dL/dx of ApplyBands's stride-1
// convolution of x from v = dL/dy in bands: each band's is the input
// gradient (Conv2D.inputGrad, in whichever form costs less) of the band
// alone convolved with the rows of padding that give the rows of v whose
// windows meet the band, read from v's bands. Autodiff through the rows
// each band reads would compute the gradient of the band with those rows
// and cut it apart, in copies the pure-Go backend makes element by element.
func (c Conv2D) bandsInputGrad(x, v Bands, w *Node, k, dil [2]int) Bands {
	span, o := (k[0]-1)*dil[0], v.Height()
	xStarts, vStarts := x.starts(), v.starts()
	g := v[0].Graph()
	g.AttachState(kernelsKey{}, map[*Node]*Node{})
	defer g.AttachState(kernelsKey{}, nil)
	dx := make(Bands, len(x))
	for j, band := range x {
		a, b := xStarts[j], xStarts[j+1]
		r0, r1 := max(0, a+c.Pad[0][0]-span), min(o-1, b-1+c.Pad[0][0]) // rows of v that meet the band
		if r1 < r0 {
			dx[j] = ZerosLike(band)
		} else {
			cb := c
			cb.phase = a % 2
			top := a + c.Pad[0][0] - r0
			cb.Pad[0] = [2]int{top, r1 - r0 + 1 - (b - a) - top + span}
			seg := v.rows(r0, r1, 1, vStarts)
			dx[j] = cb.inputGrad(seg, w, k, band.Shape(), [2]int{1, 1}, dil)
		}
	}
	return dx
}

// withBandGradient returns f(x), whose gradient with respect to each band
// of x is that band of grad(v), v the bands of dL/df(x), instead of
// autodiff's through f (as withGradient for one node). f's bands must
// depend on x's for autodiff, each on its own at least. In each Gradient
// call, reverse autodiff visits f's bands (later nodes) before x's, so they
// record v before the first of x's computes grad(v) for all.
func withBandGradient(x Bands, f func(x Bands) Bands, grad func(v Bands) Bands) Bands {
	var y, v, dx Bands
	var fresh []bool // v[i] was recorded in this Gradient call
	held := make(Bands, len(x))
	for i := range x {
		held[i] = IdentityWithCustomGradient(x[i], func(_, _ *Node) *Node {
			if dx == nil {
				vs := make(Bands, len(v))
				for j := range v {
					vs[j] = v[j]
					if !fresh[j] { // y[j] does not reach this loss
						vs[j] = ZerosLike(y[j])
					}
					fresh[j] = false
				}
				dx = grad(vs)
				if len(dx) != len(x) {
					exceptions.Panicf("nn: a banded gradient has %d bands, want %d (internal error)", len(dx), len(x))
				}
			}
			if !dx[i].Shape().Equal(x[i].Shape()) {
				exceptions.Panicf("nn: a banded gradient's band %d is %s, want %s (internal error)", i, dx[i].Shape(), x[i].Shape())
			}
			return dx[i]
		})
	}
	y = f(held)
	v, fresh = make(Bands, len(y)), make([]bool, len(y))
	out := make(Bands, len(y))
	for i := range y {
		out[i] = IdentityWithCustomGradient(y[i], func(_, g *Node) *Node {
			v[i], fresh[i], dx = g, true, nil
			return g
		})
	}
	return out
}

// MaxBands is [Pool2D.Max] on an activation held in bands.
func (p Pool2D) MaxBands(form Form, x Bands) Bands {
	if len(x) == 1 {
		return Bands{p.Max(form, x[0])}
	}
	k, s, pad := p.norm(x.Height(), x[0].Shape().Dim(2))
	return x.window(k[0], s[0], 1, pad[0], func(seg *Node, rows [2]int, _ int) *Node {
		if e := (s[0] - seg.Shape().Dim(1)%s[0]) % s[0]; form == Im2col && e > 0 && rows[1] == 0 {
			// Fewer than s rows past the last window change nothing, and a
			// whole number of stride phases lets separableMax take it.
			d := seg.Shape().Clone()
			d.Dimensions[1] = e
			seg = Concatenate([]*Node{seg, BroadcastToShape(Scalar(seg.Graph(), seg.DType(), math.Inf(-1)), d)}, 1)
		}
		return Pool2D{Kernel: k, Stride: s, Pad: [2][2]int{rows, pad[1]}}.Max(form, seg)
	})
}

// starts returns the bands' first rows, then the number of rows.
func (b Bands) starts() []int {
	s := make([]int, len(b)+1)
	for i, h := range b.Heights() {
		s[i+1] = s[i] + h
	}
	return s
}

// Heights returns the rows of each band.
func (b Bands) Heights() []int {
	hs := make([]int, len(b))
	for i, x := range b {
		hs[i] = x.Shape().Dim(1)
	}
	return hs
}

// Reduce returns f over the given axes, the rows (1) among them, of the
// whole activation: f of each band, the bands' results joined by join (Add
// for a sum, Max or Min for a maximum or minimum).
func (b Bands) Reduce(f func(x *Node, axes ...int) *Node, join func(x, y *Node) *Node, axes ...int) *Node {
	y := f(b[0], axes...)
	for _, x := range b[1:] {
		y = join(y, f(x, axes...))
	}
	return y
}

// Concat returns the bands of parts, split alike, concatenated along axis
// (not the rows) band by band.
func Concat(axis int, parts ...Bands) Bands {
	out := make(Bands, len(parts[0]))
	for i := range out {
		ps := make([]*Node, len(parts))
		for k, p := range parts {
			ps[k] = p[i]
		}
		out[i] = Concatenate(ps, axis)
	}
	return out
}

// Height returns the number of rows of the whole activation.
func (b Bands) Height() int { return b.starts()[len(b)] }

// window returns the bands of the result of a window op over b's rows:
// k taps (dilation d) at stride s, padded by pad at the top and bottom.
// f computes the op on a run of rows with the given row padding, whose
// first output row is first of the whole output. Output row
// r goes to the band that holds its window's centre row, so that the
// windows' rows come mostly from their own band; its band reads the rows
// its windows span, from the bands that hold them, and is padded only where
// they pass the image's edges. A single band is f of the whole, padded as
// given.
func (b Bands) window(k, s, d int, pad [2]int, f func(seg *Node, rows [2]int, first int) *Node) Bands {
	if len(b) == 1 {
		return Bands{f(b[0], pad, 0)}
	}
	h := b.Height()
	o := OutSize(h, k, s, d, pad)
	starts := b.starts()
	// Output row r's window centre is r·s − pad + (k−1)·d/2: the first row
	// of the band starting at input row a is the first whose centre is ≥ a.
	span := (k - 1) * d
	first := func(a int) int {
		return min(o, max(0, ceilDiv(2*(a+pad[0])-span, 2*s)))
	}
	var out Bands
	for i := range b {
		lo, hi := 0, o
		if i > 0 {
			lo = first(starts[i])
		}
		if i+1 < len(b) {
			hi = first(starts[i+1])
		}
		if hi <= lo {
			continue
		}
		need := [2]int{lo*s - pad[0], (hi-1)*s - pad[0] + span} // rows read, inclusive
		rows := [2]int{max(0, -need[0]), max(0, need[1]-(h-1))}
		seg := b.rows(max(need[0], 0), min(need[1], h-1), s, starts)
		y := f(seg, rows, lo)
		if y.Shape().Dim(1) != hi-lo {
			exceptions.Panicf("nn: a band's window op gave %d rows, want %d (internal error)", y.Shape().Dim(1), hi-lo)
		}
		out = append(out, y)
	}
	return out
}

// rows returns input rows [from, to] (inclusive) of the bands starting at
// starts, joined; rows past to are included where that saves slicing a
// band and they are fewer than the stride s (a window op at stride s then
// gives as many rows).
func (b Bands) rows(from, to, s int, starts []int) *Node {
	var parts []*Node
	for i, x := range b {
		a, e := starts[i], starts[i+1]
		if e <= from || a > to {
			continue
		}
		lo, hi := max(from, a)-a, min(to+1, e)-a
		if hi < e-a && e > to && e-1-to < s {
			hi = e - a
		}
		if lo == 0 && hi == e-a {
			parts = append(parts, x)
		} else {
			parts = append(parts, Slice(x, AxisRange(), AxisRange(lo, hi)))
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return Concatenate(parts, 1)
}

func ceilDiv(a, b int) int {
	if a <= 0 {
		return -(-a / b)
	}
	return (a + b - 1) / b
}
