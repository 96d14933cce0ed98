package optvis

import (
	"fmt"
	"math"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
)

// Kind is the representation a [Param] optimizes.
type Kind int

const (
	// Pixel optimizes the pixel values directly.
	Pixel Kind = iota
	// Fourier optimizes a 2-D real spectrum scaled by 1/f^Decay (lucid's
	// fft_image): every frequency learns at a rate matched to natural
	// images, which suppresses the high-frequency noise of Pixel.
	Fourier
	// MaCo keeps a fixed natural-image magnitude spectrum and optimizes
	// only the phase (Fel et al. 2023, "Unlocking feature visualization
	// for deeper networks with MAgnitude Constrained Optimization").
	MaCo
)

// String returns "pixel", "fourier" or "maco".
func (k Kind) String() string {
	switch k {
	case Fourier:
		return "fourier"
	case MaCo:
		return "maco"
	}
	return "pixel"
}

// ParseKind returns the Kind named s ("pixel", "fourier", "maco").
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{Pixel, Fourier, MaCo} {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("optvis: unknown parameterization %q: use pixel, fourier or maco", s)
}

// ValueMap maps the unbounded parameterized image to pixel values in [0,1].
type ValueMap int

const (
	// MapSigmoid maps by the logistic function (lucid's sigmoid=True).
	MapSigmoid ValueMap = iota
	// MapClip clips to [0,1] in the forward pass and lets the gradient through
	// unchanged (a straight-through estimator, like lucid's
	// constrain_L_inf); decorrelated images get [ColorMean] added first.
	MapClip
)

// String returns "sigmoid" or "clip".
func (v ValueMap) String() string {
	if v == MapClip {
		return "clip"
	}
	return "sigmoid"
}

// Param is a parameterization: how the optimized tensor becomes a batch of
// RGB images in [0,1]. The zero value is unusable; start from [PixelParam],
// [FourierParam] or [MaCoParam] and change fields as needed.
type Param struct {
	Kind Kind
	// Decay is the exponent of the Fourier spectrum scale 1/f^Decay (lucid:
	// 1). Fourier only.
	Decay float64
	// SD is the standard deviation of the random initial parameters
	// (lucid: 0.01 for Pixel and Fourier; MaCo's phase: 1).
	SD float64
	// Decorrelate optimizes in the decorrelated colour space and maps to RGB
	// with [Recorrelate] (lucid's decorrelate=True).
	Decorrelate bool
	// Map maps the result to [0,1].
	Map ValueMap
	// Spectrum is MaCo's magnitude spectrum, [3 × h × L] row-major at the
	// render size (see [Spectrum]); nil takes [DemoSpectrum]. MaCo only.
	Spectrum []float32
	// DFT says how the inverse DFT is written; DFTAuto picks by backend.
	DFT DFT
}

// PixelParam returns lucid's pixel parameterization: pixels, decorrelated
// colour, sigmoid.
func PixelParam() Param { return Param{Kind: Pixel, SD: 0.01, Decorrelate: true, Map: MapSigmoid} }

// FourierParam returns lucid's default image parameterization: a 1/f
// scaled Fourier spectrum, decorrelated colour, sigmoid.
func FourierParam() Param {
	return Param{Kind: Fourier, Decay: 1, SD: 0.01, Decorrelate: true, Map: MapSigmoid}
}

// MaCoParam returns the MaCo parameterization: a fixed magnitude spectrum
// (the demo photos' average, see [DemoSpectrum]), a random phase,
// standardization, decorrelated colour, sigmoid.
func MaCoParam() Param { return Param{Kind: MaCo, SD: 1, Decorrelate: true, Map: MapSigmoid} }

// ParamFor returns the default Param of the given kind.
func ParamFor(k Kind) Param {
	switch k {
	case Fourier:
		return FourierParam()
	case MaCo:
		return MaCoParam()
	}
	return PixelParam()
}

// String describes p, e.g. "fourier(decay 1, decorrelated, sigmoid)".
func (p Param) String() string {
	s := p.Kind.String() + "("
	if p.Kind == Fourier {
		s += fmt.Sprintf("decay %g, ", p.Decay)
	}
	if p.Decorrelate {
		s += "decorrelated, "
	}
	return s + p.Map.String() + ")"
}

// check returns an error if p cannot render h×w images.
func (p Param) check(h, w int) error {
	if p.Kind < Pixel || p.Kind > MaCo {
		return fmt.Errorf("optvis: unknown parameterization kind %d", p.Kind)
	}
	if p.SD < 0 || math.IsNaN(p.SD) {
		return fmt.Errorf("optvis: Param.SD is %g; it must be ≥ 0", p.SD)
	}
	if p.Kind == MaCo && p.Spectrum != nil && len(p.Spectrum) != 3*h*spectrumWidth(w) {
		return fmt.Errorf("optvis: MaCo spectrum has %d values; a %dx%d render needs 3×%d×%d (use Spectrum(images, %d, %d))",
			len(p.Spectrum), h, w, h, spectrumWidth(w), h, w)
	}
	return nil
}

// shape returns the dimensions of the optimized tensor for n images of h×w.
func (p Param) shape(n, h, w int) []int {
	switch p.Kind {
	case Fourier:
		return []int{2, n, 3, h, spectrumWidth(w)}
	case MaCo:
		return []int{n, 3, h, spectrumWidth(w)}
	}
	return []int{n, 3, h, w}
}

// Init returns seeded initial values for n images of h×w, with the
// dimensions of the optimized tensor: [n,3,h,w] (Pixel), [2,n,3,h,L]
// (Fourier: real and imaginary parts), [n,3,h,L] (MaCo: the phase).
func (p Param) Init(rng *rand.Rand, n, h, w int) (values []float32, dims []int) {
	dims = p.shape(n, h, w)
	size := 1
	for _, d := range dims {
		size *= d
	}
	values = make([]float32, size)
	for i := range values {
		values[i] = float32(rng.NormFloat64() * p.SD)
	}
	return values, dims
}

// Image builds the images [n, 3, h, w] (RGB, values in [0,1]) from the
// optimized tensor v. spectrum is MaCo's magnitude [3, h, L] (nil
// otherwise); form is the DFT form to use.
func (p Param) Image(v *Node, h, w int, spectrum *Node, form DFT) *Node {
	g := v.Graph()
	var t *Node
	switch p.Kind {
	case Pixel:
		t = v
	case Fourier:
		l := spectrumWidth(w)
		scale := Reshape(Const(g, FreqScale(h, w, p.Decay)), 1, 1, h, l)
		re := Mul(Squeeze(Slice(v, AxisElem(0)), 0), scale)
		im := Mul(Squeeze(Slice(v, AxisElem(1)), 0), scale)
		t = DivScalar(InverseRealDFT2(re, im, w, form), 4) // lucid's "magic" 4
	case MaCo:
		// Xplique's maco_image_parametrization, per image: standardize the
		// phase, combine it with the magnitude, invert, standardize.
		phase := standardize(v)
		mag := InsertAxes(spectrum, 0)
		t = InverseRealDFT2(Mul(mag, Cos(phase)), Mul(mag, Sin(phase)), w, form)
		t = standardize(t)
	}
	if p.Decorrelate {
		t = Recorrelate(t)
	}
	if p.Map == MapSigmoid {
		return Sigmoid(t)
	}
	if p.Decorrelate {
		t = Add(t, Reshape(Const(g, []float32{float32(ColorMean[0]), float32(ColorMean[1]), float32(ColorMean[2])}), 1, 3, 1, 1))
	}
	// Straight-through clip: the forward value is clipped, the gradient
	// passes unchanged.
	return Add(t, StopGradient(Sub(ClipScalar(t, 0, 1), t)))
}

// standardize returns (x − mean)/(std + 1e-5) per image of x [B, ...]
// (the population std, as Xplique's tf.math.reduce_std).
func standardize(x *Node) *Node {
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	x = Sub(x, ReduceAndKeep(x, ReduceMean, axes...))
	sd := Sqrt(ReduceAndKeep(Square(x), ReduceMean, axes...))
	return Div(x, AddScalar(sd, 1e-5))
}
