package optvis

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/internal/pyref"
	"github.com/layervis/layervis/layervis/photo"
)

var refScript = filepath.Join("testdata", "ref.py")

func randn(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

// uniform returns n values drawn uniformly in [0, 1).
func uniform(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = rng.Float32()
	}
	return out
}

func flat(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	v, err := tensors.CopyFlatData[float32](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestInverseRealDFT2 checks the matrix-product inverse DFT against
// numpy.fft.irfft2, for even and odd widths. The FFT-op form (DFTFFT) is
// compared with it only on a backend with FFT ops (XLA); the pure-Go
// backend has none, so there it is skipped.
func TestInverseRealDFT2(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := backend.MustGet()
	for _, c := range []struct{ h, w int }{{8, 12}, {6, 7}, {16, 16}} {
		l := spectrumWidth(c.w)
		dims := []int{2, 3, c.h, l}
		n := 2 * 3 * c.h * l
		re, im := randn(rng, n), randn(rng, n)
		var want struct{ Out []float64 }
		pyref.JSON(t, []string{"numpy"}, refScript, "irfft2",
			map[string]any{"re": re, "im": im, "dims": dims, "w": c.w}, &want)
		forms := []DFT{DFTMatMul}
		if !backend.IsGo(b) {
			forms = append(forms, DFTFFT)
		}
		for _, form := range forms {
			got := MustExecOnce(b, func(re, im *Node) *Node { return InverseRealDFT2(re, im, c.w, form) },
				tensors.FromFlatDataAndDimensions(re, dims...), tensors.FromFlatDataAndDimensions(im, dims...))
			if e := pyref.RelErr(flat(t, got), f32(want.Out)); e > 1e-5 {
				t.Errorf("%dx%d, %s: relative error %.2g against numpy irfft2", c.h, c.w, form, e)
			}
		}
	}
	if backend.IsGo(b) {
		t.Log("DFTFFT not compared: the pure-Go backend has no FFT op (run with an XLA backend)")
	}
}

// TestFreqScale checks the spectrum scale against lucid's formula written
// in numpy.
func TestFreqScale(t *testing.T) {
	for _, c := range []struct {
		h, w  int
		decay float64
	}{{8, 12, 1}, {7, 9, 1.5}, {16, 16, 0.5}} {
		var want struct{ Out []float64 }
		pyref.JSON(t, []string{"numpy"}, refScript, "lucid_scale",
			map[string]any{"h": c.h, "w": c.w, "decay": c.decay}, &want)
		if e := pyref.RelErr(FreqScale(c.h, c.w, c.decay), f32(want.Out)); e > 1e-6 {
			t.Errorf("%dx%d decay %g: relative error %.2g", c.h, c.w, c.decay, e)
		}
	}
}

// TestRecorrelate checks the colour map against lucid's published matrix
// (color_correlation_svd_sqrt) normalized by its largest column norm, at
// every pixel, its gradient (the transposed matrix applied to the incoming
// gradient, pixel by pixel), and that decorrelate inverts it.
func TestRecorrelate(t *testing.T) {
	published := [3][3]float64{{0.26, 0.09, 0.02}, {0.27, 0.00, -0.05}, {0.27, -0.09, 0.03}}
	maxNorm := math.Sqrt(0.26*0.26 + 0.27*0.27 + 0.27*0.27) // column 0 is the longest
	b := backend.MustGet()
	// Image j of the batch is the colour vector (p+1)·e_j at pixel p; the
	// incoming gradient is (p+1)·e_j too.
	in := make([]float32, 3*3*2*2)
	for j := range 3 {
		for p := range 4 {
			in[(j*3+j)*4+p] = float32(p + 1)
		}
	}
	x := tensors.FromFlatDataAndDimensions(in, 3, 3, 2, 2)
	res := MustExecOnceN(b, func(x *Node) []*Node {
		y := Recorrelate(x)
		return []*Node{y, Gradient(ReduceAllSum(Mul(y, StopGradient(x))), x)[0]}
	}, x)
	got, grad := flat(t, res[0]), flat(t, res[1])
	for j := range 3 {
		for p := range 4 {
			for i := range 3 {
				want := float64(p+1) * published[i][j] / maxNorm
				if v := got[(j*3+i)*4+p]; math.Abs(float64(v)-want) > 1e-6 {
					t.Errorf("image %d pixel %d: channel %d = %.6f, want (p+1)·M[%d][%d] = %.6f", j, p, i, v, i, j, want)
				}
				// d/dx_i of Σ_k y_k·g_k with g = (p+1)·e_j: (p+1)·M[j][i].
				wantG := float64(p+1) * published[j][i] / maxNorm
				if v := grad[(j*3+i)*4+p]; math.Abs(float64(v)-wantG) > 1e-6 {
					t.Errorf("image %d pixel %d: gradient %d = %.6f, want (p+1)·M[%d][%d] = %.6f", j, p, i, v, j, i, wantG)
				}
			}
		}
	}
	rgb := [3]float64{0.2, 0.5, 0.9}
	d := decorrelate(rgb)
	m := colorMatrix()
	for i := range 3 {
		back := m[i][0]*d[0] + m[i][1]*d[1] + m[i][2]*d[2]
		if math.Abs(back-rgb[i]) > 1e-12 {
			t.Errorf("Recorrelate(decorrelate(%v))[%d] = %g", rgb, i, back)
		}
	}
}

// thetaOf returns torch affine_grid's theta (normalized coordinates,
// align_corners=False) for an affine map in pixel coordinates between
// w×h images.
func thetaOf(m affine, w, h int) []float64 {
	dx, dy := float64(w)/2, float64(h)/2
	// src_n = D⁻¹·A·D·p_n + D⁻¹·(A·D·1 + t) − 1
	a, b := m.a, m.b*dy/dx
	c, d := m.c*dx/dy, m.d
	tx := (m.a*dx+m.b*dy+m.tx)/dx - 1
	ty := (m.c*dx+m.d*dy+m.ty)/dy - 1
	return []float64{a, b, tx, c, d, ty}
}

// TestResample checks the bilinear resampling of rotations, scales, shifts
// (some reading mostly outside the image) and drawn standard transforms,
// and its gradient with respect to the images, against torch's
// affine_grid + grid_sample.
func TestResample(t *testing.T) {
	const n, h, w = 2, 10, 14
	rng := rand.New(rand.NewPCG(3, 4))
	img := uniform(rng, n*3*h*w)
	maps := []affine{
		rotation(30, w, h),
		rotation(-7, w, h),
		{a: 1 / 1.1, d: 1 / 1.1, tx: 0.7, ty: -1.3},
		{a: 1, d: 1, tx: 3, ty: -2},
		// Most of the output far outside the image: zoomed out 2.5×,
		// shifted by more than the image.
		{a: 2.5, d: 2.5, tx: -12, ty: -9},
		{a: 1, d: 1, tx: -20, ty: 6.5},
	}
	s := newSampler(Standard(), n, h, w)
	maps = append(maps, s.maps(rng)...)
	var theta []float64
	for _, m := range maps {
		theta = append(theta, thetaOf(m, w, h)...)
	}
	// torch pairs output o with image o mod n when it repeats the batch.
	var want struct{ Out, Grad []float64 }
	pyref.JSON(t, []string{"torch"}, refScript, "grid_sample",
		map[string]any{"img": img, "dims": []int{n, 3, h, w}, "theta": theta, "fill": Fill}, &want)
	got := MustNewExec(backend.MustGet(), func(img, maps *Node) []*Node {
		out := resample(img, maps)
		loss := ReduceAllSum(Mul(out, Sin(IotaFull(img.Graph(), out.Shape()))))
		return []*Node{out, Gradient(loss, img)[0]}
	}).MustExec(tensors.FromFlatDataAndDimensions(img, n, 3, h, w), tensors.FromFlatDataAndDimensions(flatMaps(maps), len(maps), 6))
	if e := pyref.RelErr(flat(t, got[0]), f32(want.Out)); e > 1e-5 {
		t.Errorf("relative error %.2g against torch grid_sample", e)
	}
	if e := pyref.RelErr(flat(t, got[1]), f32(want.Grad)); e > 1e-5 {
		t.Errorf("gradient: relative error %.2g against torch grid_sample's", e)
	}
}

// TestRotationDirection checks that Rotate turns the content
// counter-clockwise as displayed: a point right of the centre shows above it
// after 90°.
func TestRotationDirection(t *testing.T) {
	m := rotation(90, 20, 20)
	x, y := m.apply(10, 6) // output point above the centre
	if math.Abs(x-14) > 1e-9 || math.Abs(y-10) > 1e-9 {
		t.Errorf("output (10, 6) reads source (%g, %g), want (14, 10), right of the centre", x, y)
	}
}

// TestAdam checks three steps of Adam.Update against torch.optim.Adam.
func TestAdam(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a := Adam{LR: 0.05, Beta1: 0.8, Beta2: 0.99, Eps: 1e-8}
	p := randn(rng, 10)
	grads := [][]float32{randn(rng, 10), randn(rng, 10), randn(rng, 10)}
	var want struct{ Out []float64 }
	pyref.JSON(t, []string{"torch"}, refScript, "adam", map[string]any{"p": p, "grads": grads, "lr": a.LR,
		"beta1": a.Beta1, "beta2": a.Beta2, "eps": a.Eps}, &want)
	exec := MustNewExec(backend.MustGet(), func(p, g, m, v, step, lr *Node) (*Node, *Node, *Node) {
		return a.Update(p, g, m, v, step, lr)
	})
	defer exec.Finalize()
	pt := tensors.FromFlatDataAndDimensions(p, 10)
	m := tensors.FromFlatDataAndDimensions(make([]float32, 10), 10)
	v := tensors.FromFlatDataAndDimensions(make([]float32, 10), 10)
	for i, g := range grads {
		out := exec.MustExec(pt, tensors.FromFlatDataAndDimensions(g, 10), m, v, float32(i+1), float32(a.LR))
		pt, m, v = out[0], out[1], out[2]
	}
	if e := pyref.RelErr(flat(t, pt), f32(want.Out)); e > 1e-6 {
		t.Errorf("relative error %.2g against torch.optim.Adam after 3 steps", e)
	}
}

// TestObjectivesVsTorch checks Diversity and the direction objectives
// against lucid's definitions written in PyTorch.
func TestObjectivesVsTorch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	dims := []int{3, 4, 5, 5}
	x := randn(rng, 3*4*5*5)
	for i := range x {
		x[i] = float32(math.Abs(float64(x[i]))) // post-ReLU-like
	}
	vec := randn(rng, 4)
	var want map[string]float64
	pyref.JSON(t, []string{"torch"}, refScript, "objectives", map[string]any{"x": x, "dims": dims, "vec": vec}, &want)
	objs := map[string]Objective{
		"diversity":        Diversity("a"),
		"direction":        Direction("a", vec, 0),
		"direction_cos":    Direction("a", vec, 2),
		"direction_neuron": DirectionNeuron("a", vec, 1),
	}
	for name, o := range objs {
		got := MustExecOnce(backend.MustGet(), func(x *Node) *Node { return o.Build(Acts{"a": x}) },
			tensors.FromFlatDataAndDimensions(x, dims...))
		v := flat(t, got)[0]
		if math.Abs(float64(v)-want[name]) > 1e-5*math.Max(1, math.Abs(want[name])) {
			t.Errorf("%s = %.7g, torch %.7g", name, v, want[name])
		}
	}
}

// TestDFTFormsAgree compares the FFT-op form of the inverse DFT with the
// matrix form, values and gradients. It needs a backend with FFT ops
// (XLA); on the pure-Go backend, which has none, it is skipped.
func TestDFTFormsAgree(t *testing.T) {
	b := backend.MustGet()
	if backend.IsGo(b) {
		t.Skip("the pure-Go backend has no FFT op; run with GOMLX_BACKEND=xla:... to compare the two forms")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	const h, w = 16, 20
	dims := []int{2, 3, h, spectrumWidth(w)}
	n := 2 * 3 * h * spectrumWidth(w)
	re, im := randn(rng, n), randn(rng, n)
	var got [2][]float32
	for i, form := range []DFT{DFTMatMul, DFTFFT} {
		out := MustExecOnceN(b, func(re, im *Node) []*Node {
			x := InverseRealDFT2(re, im, w, form)
			loss := ReduceAllSum(Mul(x, Sin(x)))
			return append([]*Node{x}, Gradient(loss, re, im)...)
		}, tensors.FromFlatDataAndDimensions(re, dims...), tensors.FromFlatDataAndDimensions(im, dims...))
		for _, o := range out {
			got[i] = append(got[i], flat(t, o)...)
		}
	}
	if e := pyref.RelErr(got[1], got[0]); e > 1e-4 {
		t.Errorf("FFT form vs matrix form: relative error %.2g (values and gradients)", e)
	}
}

// TestCosine checks the cosine schedule's ends, midpoint and monotonicity.
func TestCosine(t *testing.T) {
	f := Cosine(0.1)
	if v := f(1, 11); math.Abs(v-1) > 1e-12 {
		t.Errorf("first step: %g, want 1", v)
	}
	if v := f(11, 11); math.Abs(v-0.1) > 1e-12 {
		t.Errorf("last step: %g, want 0.1", v)
	}
	if v := f(6, 11); math.Abs(v-0.55) > 1e-12 {
		t.Errorf("midpoint: %g, want 0.55", v)
	}
	for s := 2; s <= 11; s++ {
		if f(s, 11) > f(s-1, 11) {
			t.Errorf("rises at step %d", s)
		}
	}
}

// TestSpectrum checks MaCo's magnitude spectrum against numpy's rfft2 of
// the images in the decorrelated colour space.
func TestSpectrum(t *testing.T) {
	const n, h, w = 3, 8, 10
	rng := rand.New(rand.NewPCG(15, 16))
	var imgs []*photo.RGB
	var pix []float32
	for range n {
		img := &photo.RGB{W: w, H: h, Pix: make([]float32, h*w*3)}
		for i := range img.Pix {
			img.Pix[i] = rng.Float32()
		}
		imgs = append(imgs, img)
		pix = append(pix, img.Pix...)
	}
	got, err := Spectrum(imgs, h, w)
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ Out []float64 }
	pyref.JSON(t, []string{"numpy"}, refScript, "spectrum", map[string]any{"pix": pix, "dims": []int{n, h, w, 3}}, &want)
	if e := pyref.RelErr(got, f32(want.Out)); e > 1e-5 {
		t.Errorf("relative error %.2g against numpy", e)
	}
	for _, c := range []struct{ h, w int }{{6, 6}, {4, 9}, {16, 12}} {
		if f := fitHW(imgs[0], c.h, c.w); f.W != c.w || f.H != c.h {
			t.Errorf("fitHW(10x8 image, %d, %d) is %dx%d", c.h, c.w, f.W, f.H)
		}
	}
}

// TestParamImage checks the Fourier and MaCo parameterizations, whole
// (spectrum scale or phase, inverse DFT, standardization, decorrelated
// colour, sigmoid), against lucid's and Xplique's formulas in PyTorch.
func TestParamImage(t *testing.T) {
	const n, h, w = 2, 8, 10
	rng := rand.New(rand.NewPCG(17, 18))
	l := spectrumWidth(w)
	mag := make([]float32, 3*h*l)
	for i := range mag {
		mag[i] = 1 + 5*rng.Float32()
	}
	for _, p := range []Param{FourierParam(), MaCoParam()} {
		p.Spectrum = mag
		v, dims := p.Init(rng, n, h, w)
		for i := range v {
			v[i] *= 30 // away from the grey of a near-zero start
		}
		var want struct{ Out []float64 }
		pyref.JSON(t, []string{"torch"}, refScript, "param_image", map[string]any{
			"kind": p.Kind.String(), "v": v, "dims": dims, "h": h, "w": w, "decay": p.Decay, "mag": mag}, &want)
		got := MustExecOnce(backend.MustGet(), func(v *Node) *Node {
			return p.Image(v, h, w, Reshape(Const(v.Graph(), mag), 3, h, l), DFTMatMul)
		}, tensors.FromFlatDataAndDimensions(v, dims...))
		if e := pyref.RelErr(flat(t, got), f32(want.Out)); e > 1e-5 {
			t.Errorf("%s: relative error %.2g against the reference", p, e)
		}
	}
}
