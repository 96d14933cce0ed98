package optvis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/nn"
)

// Transform is a random augmentation applied to the images before the
// model sees them, drawn afresh at every step. The geometric transforms
// ([Padding], [Jitter], [Scale], [Rotate], [BoxCrop]) compose, in list order,
// into one resampling per image with bilinear interpolation (torch's
// grid_sample with align_corners=False); the model sees the centre
// render-size window of the result, or the crops of a BoxCrop. [Noise] is
// added last, whatever its place in the list.
//
// The random values are drawn on the host and fed to the compiled step as
// inputs (one affine map per image), so one compiled graph serves every
// step; the backend needs no dynamic slicing.
type Transform struct {
	kind   string
	px     int
	values []float64
	lo, hi float64
	crops  int
}

// Fill is the grey value shown where a transform brings in area outside
// the image (lucid's pad constant).
const Fill = 0.5

// Padding extends the canvas by px pixels of [Fill] on every side (lucid's
// transform.pad with mode constant 0.5).
func Padding(px int) Transform { return Transform{kind: "pad", px: px} }

// Jitter crops px pixels at a random offset in 0..px along each axis
// (lucid's transform.jitter): a random shift.
func Jitter(px int) Transform { return Transform{kind: "jitter", px: px} }

// Scale resizes the canvas by a factor drawn uniformly from factors
// (lucid's transform.random_scale).
func Scale(factors ...float64) Transform {
	return Transform{kind: "scale", values: slices.Clone(factors)}
}

// Rotate rotates the canvas about its centre by an angle in degrees drawn
// uniformly from degrees, counter-clockwise as displayed (lucid's
// transform.random_rotate).
func Rotate(degrees ...float64) Transform {
	return Transform{kind: "rotate", values: slices.Clone(degrees)}
}

// BoxCrop replaces each image by crops random square boxes of the canvas,
// each of side f·min(width, height) with f uniform in [lo, hi], at a
// uniform position, resized to the render size: MaCo's and Horama's
// augmentation. The model then sees crops×batch images; the objective is
// evaluated on each group of batch crops and averaged.
func BoxCrop(lo, hi float64, crops int) Transform {
	return Transform{kind: "boxcrop", lo: lo, hi: hi, crops: crops}
}

// Noise adds Gaussian noise of standard deviation sd to every pixel and
// colour channel (MaCo's noise).
func Noise(sd float64) Transform { return Transform{kind: "noise", values: []float64{sd}} }

// Standard returns lucid's standard_transforms: pad 12, jitter 8, scale
// 0.9–1.1 in steps of 0.02, rotate −10..10° (0 five more times), jitter 4.
func Standard() []Transform {
	var scales, angles []float64
	for i := range 11 {
		scales = append(scales, 1+float64(i-5)/50)
	}
	for a := -10; a <= 10; a++ {
		angles = append(angles, float64(a))
	}
	angles = append(angles, 0, 0, 0, 0, 0)
	return []Transform{Padding(12), Jitter(8), Scale(scales...), Rotate(angles...), Jitter(4)}
}

// String describes t, e.g. "jitter(8)".
func (t Transform) String() string {
	switch t.kind {
	case "pad", "jitter":
		return fmt.Sprintf("%s(%d)", t.kind, t.px)
	case "scale", "rotate":
		lo, hi := slices.Min(t.values), slices.Max(t.values)
		return fmt.Sprintf("%s(%g..%g)", t.kind, lo, hi)
	case "boxcrop":
		return fmt.Sprintf("boxcrop(%g..%g, %d)", t.lo, t.hi, t.crops)
	case "noise":
		return fmt.Sprintf("noise(%g)", t.values[0])
	}
	return "invalid"
}

func (t Transform) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("optvis: transform %s: "+format, append([]any{t}, args...)...)
	}
	switch t.kind {
	case "pad", "jitter":
		if t.px < 0 {
			return bad("negative size")
		}
	case "scale", "rotate":
		if len(t.values) == 0 {
			return fmt.Errorf("optvis: transform %s: give at least one value", t.kind)
		}
		for _, v := range t.values {
			if math.IsNaN(v) || math.IsInf(v, 0) || (t.kind == "scale" && v <= 0) {
				return bad("value %g is not allowed", v)
			}
		}
	case "boxcrop":
		if !(t.lo > 0 && t.lo <= t.hi && t.hi <= 1) || t.crops < 1 {
			return bad("needs 0 < lo ≤ hi ≤ 1 and at least one crop")
		}
	case "noise":
		if !(t.values[0] >= 0) {
			return bad("sd must be ≥ 0")
		}
	default:
		return fmt.Errorf("optvis: invalid (zero) Transform; use Padding, Jitter, Scale, Rotate, BoxCrop or Noise")
	}
	return nil
}

// describe joins the transforms' descriptions.
func describe(ts []Transform) string {
	if len(ts) == 0 {
		return "none"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// affine maps output coordinates to source coordinates: src = A·p + t, in
// continuous pixel coordinates (pixel (i, j) covers [j, j+1) × [i, i+1);
// p = (x, y)).
type affine struct{ a, b, c, d, tx, ty float64 }

var identity = affine{a: 1, d: 1}

// then returns m∘f: first f, then m.
func (m affine) then(f affine) affine {
	return affine{
		a: m.a*f.a + m.b*f.c, b: m.a*f.b + m.b*f.d,
		c: m.c*f.a + m.d*f.c, d: m.c*f.b + m.d*f.d,
		tx: m.a*f.tx + m.b*f.ty + m.tx, ty: m.c*f.tx + m.d*f.ty + m.ty,
	}
}

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.b*y + m.tx, m.c*x + m.d*y + m.ty
}

// rotation returns the map from a canvas of w×h rotated by deg degrees
// (counter-clockwise as displayed, y pointing down) back to the canvas.
func rotation(deg float64, w, h float64) affine {
	s, c := math.Sincos(deg * math.Pi / 180)
	cx, cy := w/2, h/2
	// src = R·(p − centre) + centre with R = [[cos, −sin], [sin, cos]]
	// (y down: this shows the content turned counter-clockwise).
	r := affine{a: c, b: -s, c: s, d: c}
	r.tx = cx - (r.a*cx + r.b*cy)
	r.ty = cy - (r.c*cx + r.d*cy)
	return r
}

// sampler draws the per-step sampling inputs of a list of transforms.
type sampler struct {
	ts        []Transform
	b, h, w   int // images and their size (the render size)
	crops     int
	noise     float64
	geometric bool
}

func newSampler(ts []Transform, b, h, w int) *sampler {
	s := &sampler{ts: ts, b: b, h: h, w: w, crops: 1}
	for _, t := range ts {
		switch t.kind {
		case "noise":
			s.noise = t.values[0]
		case "boxcrop":
			s.crops *= t.crops
			s.geometric = true
		default:
			s.geometric = true
		}
	}
	return s
}

// outputs is the number of images the model sees.
func (s *sampler) outputs() int { return s.b * s.crops }

// maps draws one affine map per output image (output o shows image
// o mod b).
func (s *sampler) maps(rng *rand.Rand) []affine {
	out := make([]affine, s.outputs())
	for o := range out {
		m := identity
		cw, ch := float64(s.w), float64(s.h)
		for _, t := range s.ts {
			switch t.kind {
			case "pad":
				p := float64(t.px)
				m = m.then(affine{a: 1, d: 1, tx: -p, ty: -p})
				cw, ch = cw+2*p, ch+2*p
			case "jitter":
				ox, oy := rng.IntN(t.px+1), rng.IntN(t.px+1)
				m = m.then(affine{a: 1, d: 1, tx: float64(ox), ty: float64(oy)})
				cw, ch = cw-float64(t.px), ch-float64(t.px)
			case "scale":
				f := t.values[rng.IntN(len(t.values))]
				nw, nh := math.Round(cw*f), math.Round(ch*f)
				m = m.then(affine{a: cw / nw, d: ch / nh})
				cw, ch = nw, nh
			case "rotate":
				m = m.then(rotation(t.values[rng.IntN(len(t.values))], cw, ch))
			case "boxcrop":
				side := (t.lo + (t.hi-t.lo)*rng.Float64()) * math.Min(cw, ch)
				x0, y0 := rng.Float64()*(cw-side), rng.Float64()*(ch-side)
				m = m.then(affine{a: side / float64(s.w), d: side / float64(s.h), tx: x0, ty: y0})
				cw, ch = float64(s.w), float64(s.h)
			}
		}
		// The model sees the centre render-size window of the canvas.
		out[o] = m.then(affine{a: 1, d: 1, tx: (cw - float64(s.w)) / 2, ty: (ch - float64(s.h)) / 2})
	}
	return out
}

// resample builds the transformed images [O, 3, h, w] from images
// [B, 3, h, w] and one affine map per output image, maps [O, 6] = (a, b,
// c, d, tx, ty) from output to source pixel coordinates (output o shows
// image o mod B): torch grid_sample's bilinear interpolation with
// align_corners false, where the area outside the image is [Fill]. The
// sampling positions and weights are computed in the graph from the maps,
// so a step's only random input is 6 numbers per image.
//
// The images are padded with 2 pixels of Fill on every side and laid out
// NHWC, one row of channels per pixel. Each output pixel reads its 2×2
// neighbourhood (its top-left neighbour clamped into the padding, so that
// a neighbourhood outside the image reads Fill: no mask) as two rows of a
// table of horizontal pixel pairs, and weighs the four pixels with one
// batched product. The gradient is written out: the weights times the
// output's gradient (a product again), summed into the pixel rows by one
// scatter.
//
// On the pure-Go backend, whose gather copies element by element, a
// float32 pairs table is gathered as float64 (two channels per element):
// half the copies. Padding and shifts are concatenations, which copy
// blocks (Pad copies element by element along a padded last axis).
func resample(img, maps *Node) *Node {
	g := img.Graph()
	b, c, h, w := img.Shape().Dim(0), img.Shape().Dim(1), img.Shape().Dim(2), img.Shape().Dim(3)
	o := maps.Shape().Dim(0)
	n, hp, wp := o*h*w, h+4, w+4 // output pixels, padded size
	rows := b * hp * wp
	coef := func(i int) *Node { return Reshape(Slice(maps, AxisRange(), AxisElem(i)), o, 1, 1) }
	grid := shapes.Make(maps.DType(), 1, h, w)
	xs := AddScalar(Iota(g, grid, 2), 0.5)
	ys := AddScalar(Iota(g, grid, 1), 0.5)
	// Source position, in pixel-index units (pixel centres at integers).
	u := AddScalar(Add(Add(Mul(coef(0), xs), Mul(coef(1), ys)), coef(4)), -0.5) // [O, h, w]
	v := AddScalar(Add(Add(Mul(coef(2), xs), Mul(coef(3), ys)), coef(5)), -0.5)
	x0, y0 := Floor(u), Floor(v)
	fx, fy := Sub(u, x0), Sub(v, y0)
	// Weights [n, 4] of the neighbours k = 2·dy + dx.
	wx := Stack([]*Node{OneMinus(fx), fx}, -1) // [O, h, w, 2]
	wy := Stack([]*Node{OneMinus(fy), fy}, -1)
	weight := StopGradient(Reshape(Mul(InsertAxes(wy, -1), InsertAxes(wx, -2)), n, 4))
	// Padded pixel of the top-left neighbour: a neighbourhood entirely
	// outside the image is moved into the padding.
	px := ConvertDType(AddScalar(ClipScalar(x0, -2, float64(w)), 2), dtypes.Int32)
	py := ConvertDType(AddScalar(ClipScalar(y0, -2, float64(h)), 2), dtypes.Int32)
	at := Add(MulScalar(py, float64(wp)), px)                                              // [O, h, w], in its image
	src := Mod(Iota(g, shapes.Make(dtypes.Int32, o, 1, 1), 0), Scalar(g, dtypes.Int32, b)) // image shown
	// rowsAt returns each output pixel's rows [n, len(offs), 1] in a table
	// of per rows an image: its image's first row, plus at, plus offs.
	rowsAt := func(per int, offs ...int32) *Node {
		first := InsertAxes(Add(at, MulScalar(src, float64(per))), -1)
		return Reshape(Add(first, Const(g, [][][][]int32{{{offs}}})), n, len(offs), 1)
	}
	// Rows of the four neighbours among all padded pixels [n, 4, 1], and
	// of the two pairs holding them [n, 2, 1]: pair q of an image holds its
	// padded pixels q−1 and q (each image has hp·wp+1 pairs).
	pixels := rowsAt(hp*wp, 0, 1, int32(wp), int32(wp+1))
	pairs := rowsAt(hp*wp+1, 1, int32(wp+1))
	wide := backend.IsGo(g.Backend()) && img.DType() == dtypes.Float32
	side := PadAxis{Start: 2, End: 2}
	fill := func(dims ...int) *Node { return BroadcastToDims(Scalar(g, img.DType(), Fill), dims...) }
	padded := Concatenate([]*Node{fill(b, c, h, 2), img, fill(b, c, h, 2)}, 3)
	padded = Reshape(Pad(padded, Scalar(g, img.DType(), Fill), PadAxis{}, PadAxis{}, side, PadAxis{}), b, c, hp*wp)
	out := nn.WithInputGradient(padded, func(padded *Node) *Node {
		// Pairs [b·(hp·wp+1), 2c]: the planes shifted by one pixel beside
		// the planes, then one transpose to rows.
		zero := Zeros(g, shapes.Make(padded.DType(), b, c, 1))
		planes := Concatenate([]*Node{Concatenate([]*Node{zero, padded}, 2), Concatenate([]*Node{padded, zero}, 2)}, 1)
		table := Reshape(TransposeAllAxes(planes, 0, 2, 1), b*(hp*wp+1), 2*c)
		var nb *Node
		if wide {
			nb = Bitcast(Gather(Bitcast(Reshape(table, b*(hp*wp+1), c, 2), dtypes.Float64), pairs), dtypes.Float32)
		} else {
			nb = Gather(table, pairs)
		}
		// Autodiff has no rule for the bitcasts, and its gradient of the
		// product would transpose the neighbours' gradients.
		nb = StopGradient(Reshape(nb, n, 4, c))
		return DotGeneral(weight, []int{1}, []int{0}, nb, []int{1}, []int{0}) // [n, c]
	}, func(v *Node) *Node {
		// v [n, c] → the neighbours' gradients [n, 4, c], summed per pixel.
		nb := DotGeneral(InsertAxes(weight, -1), []int{2}, []int{0}, InsertAxes(v, 1), []int{1}, []int{0})
		d := ScatterSum(Zeros(g, shapes.Make(img.DType(), rows, c)), pixels, nb, false, false)
		return TransposeAllAxes(Reshape(d, b, hp*wp, c), 0, 2, 1)
	})
	return TransposeAllAxes(Reshape(out, o, h, w, c), 0, 3, 1, 2)
}

// flatMaps returns maps as [len(maps) × 6] row-major (a, b, c, d, tx, ty),
// the input of resample.
func flatMaps(maps []affine) []float32 {
	out := make([]float32, 0, 6*len(maps))
	for _, m := range maps {
		out = append(out, float32(m.a), float32(m.b), float32(m.c), float32(m.d), float32(m.tx), float32(m.ty))
	}
	return out
}
