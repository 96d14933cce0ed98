package optvis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/photo"
)

// Feature accentuation (Hamblin et al. 2024, "Feature Accentuation:
// Revealing 'What' Features Respond to in Natural Images"; faccent, and
// Horama's accentuation): start from a photo, in the parameterization's
// own space, and optimize towards an objective while a regularizer keeps an
// earlier layer's features (or the pixels) close to the photo's. The
// result shows what in this photo drives the objective.

// saturation is how far from 0 and 1 [FromImage] clamps pixel values
// before the inverse sigmoid: half an 8-bit grey level, so that the image
// the parameters give back rounds to the photo's 8-bit values.
const saturation = 0.5 / 255

// FromImage returns p set to start from the photos (one per image of the
// batch, all of the render's size): the photos are mapped back through
// p's value map (the inverse sigmoid, pixel values clamped half an 8-bit
// level inside (0,1); or the clip's identity), its colour decorrelation
// (the inverse colour matrix) and, for [Fourier], its spectrum (a forward
// real 2-D DFT divided by the 1/f scale), so that p's first image is the
// photo. MaCo constrains the magnitude spectrum, so it cannot start from a
// photo.
func FromImage(p Param, photos ...*photo.RGB) (Param, error) {
	if len(photos) == 0 {
		return p, fmt.Errorf("optvis: FromImage needs at least one photo")
	}
	if p.Kind == MaCo {
		return p, fmt.Errorf("optvis: the maco parameterization fixes the magnitude spectrum and cannot start from a photo; use fourier or pixel")
	}
	h, w := photos[0].H, photos[0].W
	for i, ph := range photos {
		if ph.W != w || ph.H != h || len(ph.Pix) != 3*w*h {
			return p, fmt.Errorf("optvis: FromImage: photo %d is %dx%d, photo 0 %dx%d; give photos of one size (cnn.Fit)", i, ph.W, ph.H, w, h)
		}
	}
	if w < 2 || h < 2 {
		return p, fmt.Errorf("optvis: FromImage: photo of %dx%d is too small", w, h)
	}
	n := len(photos)
	dims := p.shape(n, h, w)
	size := 1
	for _, d := range dims {
		size *= d
	}
	start := make([]float32, size)
	plane := make([]float64, h*w)
	for b, ph := range photos {
		for c := range 3 {
			for i := range h * w {
				plane[i] = p.unmap(ph.Pix[i*3:i*3+3], c)
			}
			if p.Kind == Pixel {
				for i, v := range plane {
					start[(b*3+c)*h*w+i] = float32(v)
				}
				continue
			}
			re, im := forwardRealDFT2(plane, h, w)
			l := spectrumWidth(w)
			scale := FreqScale(h, w, p.Decay)
			off := (b*3 + c) * h * l
			for i := range h * l {
				s := 4 / float64(scale[i]) // lucid's "magic" 4, and the 1/f scale
				start[off+i] = float32(re[i] * s)
				start[n*3*h*l+off+i] = float32(im[i] * s)
			}
		}
	}
	p.Start = start
	return p, nil
}

// unmap returns the value of colour channel c of the parameterized image
// (before the value map, in the decorrelated space if p decorrelates) that
// maps to the pixel rgb.
func (p Param) unmap(rgb []float32, c int) float64 {
	var v [3]float64
	for j := range 3 {
		v[j] = float64(rgb[j])
		if p.Map == MapSigmoid {
			x := min(max(v[j], saturation), 1-saturation)
			v[j] = math.Log(x / (1 - x))
		}
	}
	if p.Decorrelate {
		if p.Map == MapClip {
			for j := range 3 {
				v[j] -= ColorMean[j]
			}
		}
		v = decorrelate(v)
	}
	return v[c]
}

// forwardRealDFT2 returns numpy.fft.rfft2 of the h×w plane x (row-major)
// taken over N = 2(L−1) columns, L = spectrumWidth(w): for odd w the plane
// is extended by a copy of its last column, which [InverseRealDFT2] crops
// off again. The result is [h × L] row-major, real and imaginary parts.
func forwardRealDFT2(x []float64, h, w int) (re, im []float64) {
	l := spectrumWidth(w)
	n := 2 * (l - 1)
	// Along each row: R[m][j] = Σ_k x[m][k] e^{−2πi jk/N}.
	rr, ri := make([]float64, h*l), make([]float64, h*l)
	for j := range l {
		for k := range n {
			ang := 2 * math.Pi * float64(j*k%n) / float64(n)
			c, s := math.Cos(ang), math.Sin(ang)
			col := min(k, w-1)
			for m := range h {
				v := x[m*w+col]
				rr[m*l+j] += v * c
				ri[m*l+j] -= v * s
			}
		}
	}
	// Along each column: X[k][j] = Σ_m R[m][j] e^{−2πi km/h}.
	re, im = make([]float64, h*l), make([]float64, h*l)
	for k := range h {
		for m := range h {
			ang := 2 * math.Pi * float64(k*m%h) / float64(h)
			c, s := math.Cos(ang), math.Sin(ang)
			for j := range l {
				a, b := rr[m*l+j], ri[m*l+j]
				re[k*l+j] += a*c + b*s
				im[k*l+j] += b*c - a*s
			}
		}
	}
	return re, im
}

// checkStart returns an error if p's Start does not fit a batch of n
// images of h×w.
func (p Param) checkStart(n, h, w int) error {
	if p.Start == nil {
		return nil
	}
	size := 1
	for _, d := range p.shape(n, h, w) {
		size *= d
	}
	if len(p.Start) != size {
		return fmt.Errorf("optvis: the parameterization starts from %d values, a batch of %d %dx%d images needs %d: give FromImage one photo per image, at the render size",
			len(p.Start), n, w, h, size)
	}
	return nil
}

// photoBatch returns the photos as RGB images [n, 3, h, w] in [0,1].
func photoBatch(g *Graph, photos []*photo.RGB) *Node {
	h, w := photos[0].H, photos[0].W
	data := make([]float32, len(photos)*3*h*w)
	for b, ph := range photos {
		for c := range 3 {
			for i := range h * w {
				data[(b*3+c)*h*w+i] = ph.Pix[i*3+c]
			}
		}
	}
	return Reshape(Const(g, data), len(photos), 3, h, w)
}

// checkPhotos panics unless the photos match the images img [n,3,h,w].
func checkPhotos(name string, img *Node, photos []*photo.RGB) {
	if img.Rank() != 4 || img.Shape().Dim(0) != len(photos) || img.Shape().Dim(2) != photos[0].H || img.Shape().Dim(3) != photos[0].W {
		panic(fmt.Sprintf("optvis: %s: %d photos of %dx%d for images %s", name, len(photos), photos[0].W, photos[0].H, img.Shape()))
	}
}

// Keep is faccent's accentuation regularizer: the distance between the
// activations of layer on the rendered images (untransformed, through a
// second forward pass to layer) and on the photos (one per image, at the
// render size), the L2 norm over channels averaged over positions and
// images (faccent's l2_compare). A penalty: add it with a negative weight
// ([Accentuate] balances it). An earlier layer than the objective's keeps
// the photo's content while the objective changes what it responds to.
func Keep(m cnn.Model, layer string, photos ...*photo.RGB) Objective {
	name := fmt.Sprintf("keep(%s)", layer)
	return NewObjective(name, func(a Acts) *Node {
		img := a[ImageLayer]
		checkPhotos(name, img, photos)
		in := m.Input()
		outs := cnn.Build(m, toModel(Concatenate([]*Node{img, photoBatch(img.Graph(), photos)}, 0), in), layer)
		x := outs[0]
		n := len(photos)
		d := Sub(Slice(x, AxisRange(0, n)), StopGradient(Slice(x, AxisRange(n, 2*n))))
		return ReduceAllMean(Sqrt(AddScalar(ReduceSum(Square(d), 1), 1e-12)))
	}, ImageLayer)
}

// KeepPixels is Horama's accentuation penalty: the mean squared difference
// between the rendered images (untransformed, RGB in [0,1]) and the
// photos. A penalty: add it with a negative weight.
func KeepPixels(photos ...*photo.RGB) Objective {
	return NewObjective("keep(pixels)", func(a Acts) *Node {
		img := a[ImageLayer]
		checkPhotos("keep(pixels)", img, photos)
		return ReduceAllMean(Square(Sub(img, photoBatch(img.Graph(), photos))))
	}, ImageLayer)
}

// balanceNoise is the standard deviation of the pixel noise under which
// [Balance] measures the regularizer's gradient (faccent's noise_std): at
// the photo itself a distance to the photo has no gradient.
const balanceNoise = 0.02

// Balance returns faccent's balance between an objective and a
// regularizer: the ratio of the L1 norms of their gradients with respect
// to p's parameters at p's start (see [FromImage]), the regularizer's
// taken on the images with Gaussian pixel noise of standard deviation
// 0.02 (at the photo itself a distance to it has no gradient). Neither
// sees transforms. Rendering obj + −α·Balance·reg then starts with the
// regularizer α times as strong as the objective.
func Balance(b compute.Backend, m cnn.Model, p Param, obj, reg Objective, n, h, w int, seed uint64) (ratio float64, err error) {
	if b == nil {
		return 0, errNoBackend
	}
	if p.Start == nil {
		return 0, fmt.Errorf("optvis: Balance needs a parameterization that starts from photos (FromImage)")
	}
	if err := p.checkStart(n, h, w); err != nil {
		return 0, err
	}
	if err := checkLayers(m, obj, reg); err != nil {
		return 0, err
	}
	form := p.DFT
	if form == DFTAuto {
		form = DFTMatMul
		if !backend.IsGo(b) {
			form = DFTFFT
		}
	}
	fn := func(in []*Node) []*Node {
		v, noise := in[0], in[1]
		img := p.Image(v, h, w, nil, form)
		gObj := Gradient(ConvertDType(obj.Build(modelActs(m, img, obj)), dtypes.Float32), v)[0]
		noisy := Add(img, noise)
		gReg := Gradient(ConvertDType(reg.Build(modelActs(m, noisy, reg)), dtypes.Float32), v)[0]
		return []*Node{ReduceAllSum(Abs(gObj)), ReduceAllSum(Abs(gReg))}
	}
	dims := p.shape(n, h, w)
	rng := rand.New(rand.NewPCG(seed, 0x62616c61)) // "bala"
	noise := make([]float32, n*3*h*w)
	for i := range noise {
		noise[i] = float32(rng.NormFloat64() * balanceNoise)
	}
	norms, err := execModel(b, m, "balance", fn, tensors.FromFlatDataAndDimensions(p.Start, dims...),
		tensors.FromFlatDataAndDimensions(noise, n, 3, h, w))
	if err != nil {
		return 0, err
	}
	if !(norms[1] > 0) || math.IsInf(norms[0], 0) || math.IsNaN(norms[0]) {
		return 0, fmt.Errorf("optvis: balance: the gradients' norms are %g (objective) and %g (regularizer); the regularizer does not move the image", norms[0], norms[1])
	}
	if !(norms[0] > 0) {
		return 0, fmt.Errorf("optvis: balance: the objective %s has no gradient at the photo (a dead channel here?); choose another channel or photo", obj.Name())
	}
	return norms[0] / norms[1], nil
}

// AccentTransforms are the transforms [Accentuate] uses: a small jitter,
// scale and rotation (faccent uses box crops over 16 copies per step, too
// slow on a CPU).
func AccentTransforms() []Transform {
	return []Transform{Jitter(4), Scale(0.95, 1, 1.05), Rotate(-5, 0, 5), Jitter(2)}
}

// Accent is an accentuation set up by [Accentuate].
type Accent struct {
	// Param is the parameterization started from the photos.
	Param Param
	// Objective is obj − Weight·reg.
	Objective Objective
	// Balance is the gradient ratio [Balance] measured; Weight =
	// alpha·Balance.
	Balance, Weight float64
}

// Accentuate sets up feature accentuation of obj on the photos (same size,
// one per image of the batch): p (usually [FourierParam]) started from the
// photos, and obj plus the regularizer reg ([Keep] or [KeepPixels]) with
// the weight −alpha·[Balance] (faccent's accent_reg_alpha; 1 is its
// default). It returns the set-up and a Renderer configured with it (the
// photos' size, the batch, [AccentTransforms]); set Steps, LR, Progress…
// and call Done.
//
//	ph := cnn.Fit(img, 128)
//	a, r, err := optvis.Accentuate(ctx, b, m, optvis.Channel(layer, 7), optvis.Keep(m, early, ph), 1, optvis.FourierParam(), ph)
//	res, err := r.Steps(64).Done()
func Accentuate(ctx context.Context, b compute.Backend, m cnn.Model, obj, reg Objective, alpha float64, p Param, photos ...*photo.RGB) (*Accent, *Renderer, error) {
	if m == nil {
		return nil, nil, fmt.Errorf("optvis: no model")
	}
	if alpha < 0 || math.IsNaN(alpha) || math.IsInf(alpha, 0) {
		return nil, nil, fmt.Errorf("optvis: accentuation weight %g: use a finite value ≥ 0", alpha)
	}
	p, err := FromImage(p, photos...)
	if err != nil {
		return nil, nil, err
	}
	h, w := photos[0].H, photos[0].W
	if err := m.Input().CheckSize(h, w); err != nil {
		return nil, nil, fmt.Errorf("optvis: model %s: %w", m.Name(), err)
	}
	if b == nil {
		return nil, nil, errNoBackend
	}
	bal, err := Balance(b, m, p, obj, reg, len(photos), h, w, 0)
	if err != nil {
		return nil, nil, err
	}
	a := &Accent{Param: p, Balance: bal, Weight: alpha * bal}
	a.Objective = Sum(obj, reg.Scale(-a.Weight))
	r := Render(ctx, b, m, a.Objective).SizeHW(h, w).Batch(len(photos)).Param(p).Transforms(AccentTransforms()...)
	return a, r, nil
}

// checkLayers returns an error naming the first layer of the objectives
// that m does not have, or the first fed input (which only a caller's own
// step feeds).
func checkLayers(m cnn.Model, objs ...Objective) error {
	var layers []string
	for _, o := range objs {
		if len(o.inputs) > 0 {
			return fmt.Errorf("optvis: objective %s reads the graph input %q, which only a caller's own step feeds; give its values with optvis.Fixed", o.name, o.inputs[0])
		}
		layers = append(layers, modelLayers(o)...)
	}
	if len(layers) == 0 {
		return nil
	}
	return cnn.Check(m, layers...)
}

// modelLayers lists the model layers o reads (not ImageLayer).
func modelLayers(o Objective) []string {
	var ls []string
	for _, l := range o.Layers() {
		if l != ImageLayer {
			ls = append(ls, l)
		}
	}
	return ls
}

// modelActs returns what o reads for the RGB images img [B,3,H,W] in
// [0,1]: img itself and the activations of o's layers.
func modelActs(m cnn.Model, img *Node, o Objective) Acts {
	a := Acts{ImageLayer: img}
	if ls := modelLayers(o); len(ls) > 0 {
		for i, x := range cnn.Build(m, toModel(img, m.Input()), ls...) {
			a[ls[i]] = x
		}
	}
	return a
}

// execModel builds fn over m's weights, runs it once on args and returns
// its outputs, scalars, as float64. The graph is first built without
// compiling, so that a graph-building panic (a bad channel, say) becomes
// an error: GoMLX never finalizes an Exec whose compilation panicked.
func execModel(b compute.Backend, m cnn.Model, name string, fn func(in []*Node) []*Node, args ...*tensors.Tensor) ([]float64, error) {
	shp := make([]shapes.Shape, len(args))
	for i, a := range args {
		shp[i] = a.Shape()
	}
	if err := checkBuild(b, m, name, shp, func(in []*Node) { fn(in) }); err != nil {
		return nil, err
	}
	exec, err := model.NewExec(b, m.Store(), func(_ *model.Scope, in []*Node) []*Node { return fn(in) })
	if err != nil {
		return nil, fmt.Errorf("optvis: building the %s for %s: %w", name, m.Name(), err)
	}
	defer exec.Finalize()
	anyArgs := make([]any, len(args))
	for i, a := range args {
		anyArgs[i] = a
	}
	out, err := exec.Exec(anyArgs...)
	if err != nil {
		return nil, fmt.Errorf("optvis: %s: %w", name, err)
	}
	vals := make([]float64, len(out))
	for i, t := range out {
		v, err := tensors.CopyFlatData[float32](t)
		t.FinalizeAll()
		if err != nil {
			return nil, err
		}
		vals[i] = float64(v[0])
	}
	return vals, nil
}

// Evaluate returns obj's value and the values of its terms
// ([Objective.Terms]) on the photos (one batch, all of one size), without
// transforms: e.g. a channel's activation on a photo before accentuation.
func Evaluate(b compute.Backend, m cnn.Model, obj Objective, photos ...*photo.RGB) (total float64, terms []float64, err error) {
	if m == nil || obj.IsZero() || len(photos) == 0 {
		return 0, nil, fmt.Errorf("optvis: Evaluate needs a model, an objective and photos")
	}
	if _, err := FromImage(PixelParam(), photos...); err != nil { // checks the sizes
		return 0, nil, err
	}
	if b == nil {
		return 0, nil, errNoBackend
	}
	if err := checkLayers(m, obj); err != nil {
		return 0, nil, err
	}
	h, w := photos[0].H, photos[0].W
	if err := m.Input().CheckSize(h, w); err != nil {
		return 0, nil, fmt.Errorf("optvis: model %s: %w", m.Name(), err)
	}
	data := make([]float32, len(photos)*3*h*w)
	for i, ph := range photos {
		for c := range 3 {
			for j := range h * w {
				data[(i*3+c)*h*w+j] = ph.Pix[j*3+c]
			}
		}
	}
	ts := obj.Terms()
	vals, err := execModel(b, m, "evaluation", func(in []*Node) []*Node {
		a := modelActs(m, in[0], obj)
		out := make([]*Node, len(ts))
		for i, t := range ts {
			out[i] = ConvertDType(t.Build(a), dtypes.Float32)
		}
		return out
	}, tensors.FromFlatDataAndDimensions(data, len(photos), 3, h, w))
	if err != nil {
		return 0, nil, err
	}
	for _, v := range vals {
		total += v
	}
	return total, vals, nil
}
