package optvis

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/nn"
)

// Stage names the part of a render an [Event] comes from.
type Stage string

// The stages of a render.
const (
	StageCompile  Stage = "compile"  // building and compiling the step
	StageOptimize Stage = "optimize" // the steps
)

// Event reports progress, in the style of mindseye.Event: a message when
// the step is compiled, then one event per step.
type Event struct {
	Stage   Stage
	Message string
	// Done of Total steps.
	Done, Total int
	// Step is the step just taken (1-based); Value the objective on the
	// transformed images the step saw (before its update), Terms the values
	// of the objective's terms ([Objective.Terms]); LR the learning rate
	// used.
	Step  int
	Value float64
	Terms []float64
	LR    float64
	// StepTime is the compiled step's time; Rate steps per second so far.
	StepTime time.Duration
	Rate     float64
	// Redirected is set when the step took redirected ReLU gradients
	// ([Renderer.RedirectReLU]).
	Redirected bool
	// Snapshot is set when the images were taken at this step.
	Snapshot *Snapshot
}

// Snapshot is the batch of images at one step, and the objective they
// reach without transforms.
type Snapshot struct {
	Step   int
	Images []*image.NRGBA
	// Value is the objective on the untransformed images, Terms its terms.
	Value float64
	Terms []float64
}

// Result is what a render made.
type Result struct {
	// Snapshots in step order; the last is the final images (or the images
	// when the render was interrupted).
	Snapshots []Snapshot
	// Steps is the number of steps taken.
	Steps int
	// Interrupted is set when the context ended the render early.
	Interrupted bool
	// Backend describes the backend (backend.Describe); Param and
	// Transforms describe the settings used.
	Backend, Param, Transforms string
	// TermNames names the values of Snapshot.Terms and Event.Terms.
	TermNames []string
	// Elapsed is the time of the steps (compilation included).
	Elapsed time.Duration
}

// Final returns the last snapshot (nil if there is none).
func (r *Result) Final() *Snapshot {
	if r == nil || len(r.Snapshots) == 0 {
		return nil
	}
	return &r.Snapshots[len(r.Snapshots)-1]
}

// Renderer configures one render; create it with [Render], set options,
// and call [Renderer.Done].
type Renderer struct {
	ctx        context.Context
	b          compute.Backend
	m          cnn.Model
	obj        Objective
	h, w       int
	batch      int
	param      Param
	transforms []Transform
	steps      int
	snapshots  []int
	seed       uint64
	adam       Adam
	nesterov   *Nesterov // instead of Adam
	redirect   int       // steps with redirected ReLU gradients; −1: the default
	schedule   func(step, steps int) float64
	progress   func(Event)
	err        error
}

// DefaultSize is the render size used when the model allows it: 128, or
// the next size the model accepts.
const DefaultSize = 128

// RedirectSteps is the default number of first steps that take
// redirected ReLU gradients ([Renderer.RedirectReLU]), as lucid's.
const RedirectSteps = 16

// Render starts configuring a render of obj on model m with backend b
// (backend.Get() gives the one GOMLX_BACKEND names). Defaults:
// [DefaultSize] square images, batch 1, [FourierParam], [Standard]
// transforms, 256 steps, one snapshot at the end, seed 0, [DefaultAdam],
// redirected ReLU gradients for the first [RedirectSteps] steps from a
// random start. Cancelling ctx stops the render after the current step and
// keeps what was made.
//
//	res, err := optvis.Render(ctx, b, m, optvis.Channel("conv", 7)).Steps(128).Done()
func Render(ctx context.Context, b compute.Backend, m cnn.Model, obj Objective) *Renderer {
	r := &Renderer{ctx: ctx, b: b, m: m, obj: obj, batch: 1, param: FourierParam(), transforms: Standard(),
		steps: 256, adam: DefaultAdam(), redirect: -1}
	if m != nil {
		in := m.Input()
		s := max(DefaultSize, in.MinSize)
		if in.Multiple > 1 {
			s = (s + in.Multiple - 1) / in.Multiple * in.Multiple
		}
		r.h, r.w = s, s
	}
	return r
}

func (r *Renderer) fail(format string, args ...any) *Renderer {
	if r.err == nil {
		r.err = fmt.Errorf("optvis: "+format, args...)
	}
	return r
}

// Size sets the image size (square).
func (r *Renderer) Size(n int) *Renderer { return r.SizeHW(n, n) }

// SizeHW sets the image height and width.
func (r *Renderer) SizeHW(h, w int) *Renderer {
	if h < 2 || w < 2 {
		return r.fail("image size %dx%d is too small", w, h)
	}
	r.h, r.w = h, w
	return r
}

// Batch sets the number of images rendered together.
func (r *Renderer) Batch(n int) *Renderer {
	if n < 1 {
		return r.fail("batch %d: render at least one image", n)
	}
	r.batch = n
	return r
}

// Param sets the parameterization.
func (r *Renderer) Param(p Param) *Renderer { r.param = p; return r }

// Transforms sets the transforms (none: no augmentation).
func (r *Renderer) Transforms(ts ...Transform) *Renderer {
	r.transforms = slices.Clone(ts)
	return r
}

// Steps sets the number of optimization steps.
func (r *Renderer) Steps(n int) *Renderer {
	if n < 1 {
		return r.fail("steps %d: take at least one step", n)
	}
	r.steps = n
	return r
}

// Snapshots sets the steps after which the images are taken (the final
// step is always taken).
func (r *Renderer) Snapshots(steps ...int) *Renderer {
	r.snapshots = slices.Clone(steps)
	return r
}

// Seed sets the seed of the initial parameters and of the transforms.
func (r *Renderer) Seed(s uint64) *Renderer { r.seed = s; return r }

// LR sets Adam's learning rate.
func (r *Renderer) LR(lr float64) *Renderer { r.adam.LR = lr; return r }

// Adam sets all of the optimizer's settings.
func (r *Renderer) Adam(a Adam) *Renderer { r.adam = a; return r }

// Nesterov steps with SGD and Nesterov momentum ([Nesterov], as the
// Mind's Eye does) instead of Adam, at the learning rate [Renderer.LR]
// sets. Its learning rates are not Adam's: the step is the gradient's size.
func (r *Renderer) Nesterov(momentum float64) *Renderer {
	if !(momentum >= 0 && momentum < 1) {
		return r.fail("Nesterov momentum %g must be in [0, 1)", momentum)
	}
	r.nesterov = &Nesterov{Momentum: momentum}
	return r
}

// RedirectReLU sets the number of first steps whose gradient goes through
// the model's ReLUs redirected (lucid's redirected_relu_grad, see
// nn.RedirectReLUs): in an image where a ReLU or ReLU6 layer passes no
// gradient at all (a channel that is zero everywhere on the initial image,
// so that its true gradient is zero and the render would never start),
// the gradient that pushes the units back into their live range is passed
// through. Images and layers that get some true gradient get exactly the
// true gradient, and after these steps every step takes the true gradient
// (a second compiled step). The default is [RedirectSteps] from a random
// start and 0 (off) when the parameterization starts from photos
// (Param.Start, e.g. [FromImage]); 0 turns it off.
func (r *Renderer) RedirectReLU(steps int) *Renderer {
	if steps < 0 {
		return r.fail("redirected ReLU steps %d: give 0 (off) or more", steps)
	}
	r.redirect = steps
	return r
}

// Schedule sets a learning-rate multiplier per step (1-based step of
// steps), e.g. a cosine decay; nil keeps it constant.
func (r *Renderer) Schedule(f func(step, steps int) float64) *Renderer { r.schedule = f; return r }

// Progress sets a function called with every [Event], on the calling
// goroutine.
func (r *Renderer) Progress(f func(Event)) *Renderer { r.progress = f; return r }

// check validates the settings against the model.
func (r *Renderer) check() error {
	if r.err != nil {
		return r.err
	}
	if r.m == nil {
		return errors.New("optvis: no model")
	}
	if r.ctx == nil {
		r.ctx = context.Background()
	}
	if r.obj.IsZero() || slices.ContainsFunc(r.obj.Terms(), Objective.IsZero) {
		return errors.New("optvis: no objective (or a zero Objective in a Sum); use e.g. optvis.Channel(layer, c)")
	}
	if err := checkLayers(r.m, r.obj); err != nil {
		return err
	}
	in := r.m.Input()
	if in.Channels != 3 {
		return fmt.Errorf("optvis: model %s takes %d-channel images; rendering needs a colour (3-channel) model", r.m.Name(), in.Channels)
	}
	if err := in.CheckSize(r.h, r.w); err != nil {
		return fmt.Errorf("optvis: model %s: %w", r.m.Name(), err)
	}
	if err := r.param.check(r.h, r.w); err != nil {
		return err
	}
	if err := r.param.checkStart(r.batch, r.h, r.w); err != nil {
		return err
	}
	for _, t := range r.transforms {
		if err := t.check(); err != nil {
			return err
		}
	}
	if err := r.adam.check(); err != nil {
		return err
	}
	if r.redirect < 0 {
		r.redirect = RedirectSteps
		if r.param.Start != nil {
			r.redirect = 0
		}
	}
	for _, s := range r.snapshots {
		if s < 1 || s > r.steps {
			return fmt.Errorf("optvis: snapshot at step %d is outside 1..%d", s, r.steps)
		}
	}
	if r.b == nil {
		return errNoBackend
	}
	return nil
}

// errNoBackend is the error for a nil backend.
var errNoBackend = errors.New("optvis: no backend: pass one, e.g. backend.Get() (the one GOMLX_BACKEND names)")

// Done runs the render and returns what it made. When ctx is cancelled it
// stops after the current step, takes the images as they are, and returns
// them with Result.Interrupted set and ctx's error.
func (r *Renderer) Done() (*Result, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	g, err := r.newGraphs()
	if err != nil {
		return nil, err
	}
	defer func() {
		if !g.broken {
			g.finalize()
		}
	}()
	return g.loop()
}

// graphs holds a render's compiled computations.
type graphs struct {
	r        *Renderer
	sampler  *sampler
	form     DFT
	spectrum []float32
	nTerms   int
	step     *model.Exec
	snap     *model.Exec
	// redirected is the step with redirected ReLU gradients (nil when
	// Renderer.RedirectReLU is 0).
	redirected *model.Exec
	// broken is set when a computation panicked: GoMLX cannot finalize it
	// then (it would wait forever), so it is left to the garbage collector.
	broken bool
}

func (r *Renderer) newGraphs() (g *graphs, err error) {
	g = &graphs{r: r, sampler: newSampler(r.transforms, r.batch, r.h, r.w), form: r.param.DFT, nTerms: len(r.obj.Terms())}
	if g.form == DFTAuto {
		g.form = DFTMatMul
		if !backend.IsGo(r.b) {
			g.form = DFTFFT
		}
	}
	if r.param.Kind == MaCo {
		g.spectrum = r.param.Spectrum
		if g.spectrum == nil {
			if g.spectrum, err = DemoSpectrum(r.h, r.w); err != nil {
				return nil, err
			}
		}
	}
	if err := g.dryRun(); err != nil {
		return nil, err
	}
	if g.step, err = model.NewExec(r.b, r.m.Store(), g.stepFn); err != nil {
		return nil, fmt.Errorf("optvis: building the step for %s: %w", r.m.Name(), err)
	}
	if g.snap, err = model.NewExec(r.b, r.m.Store(), g.snapFn); err != nil {
		g.step.Finalize()
		return nil, fmt.Errorf("optvis: building the snapshot for %s: %w", r.m.Name(), err)
	}
	if r.redirect > 0 {
		if g.redirected, err = model.NewExec(r.b, r.m.Store(), g.redirectedStepFn); err != nil {
			g.finalize()
			return nil, fmt.Errorf("optvis: building the step for %s: %w", r.m.Name(), err)
		}
	}
	return g, nil
}

// dryRun builds (without compiling) the step and snapshot graphs, turning
// a graph-building panic (a channel out of range, a layer of the wrong
// rank) into an error. It must come first: GoMLX v0.28.8's Exec never
// finishes a compilation that panicked, and finalizing it then waits
// forever.
func (g *graphs) dryRun() error {
	return checkBuild(g.r.b, g.r.m, "render", g.inputShapes(), func(in []*Node) {
		if g.r.redirect > 0 {
			g.redirectedStepFn(nil, in)
		} else {
			g.stepFn(nil, in)
		}
		g.snapFn(nil, in[0])
	})
}

// checkBuild builds fn over parameters of the shapes shp in a throwaway
// graph, without compiling it, and returns a graph-building panic as an
// error (see [graphs.dryRun] for why this must come before model.NewExec).
func checkBuild(b compute.Backend, m cnn.Model, name string, shp []shapes.Shape, fn func(in []*Node)) (err error) {
	gr := NewGraph(b, "optvis_"+name+"_check")
	defer gr.Finalize()
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("optvis: %v", e)
		}
	}()
	model.SetStore(gr, m.Store())
	in := make([]*Node, len(shp))
	for i, s := range shp {
		in[i] = Parameter(gr, fmt.Sprintf("in%d", i), s)
	}
	fn(in)
	return nil
}

// inputShapes returns the shapes of the step's inputs (see stepFn).
func (g *graphs) inputShapes() []shapes.Shape {
	r := g.r
	p := shapes.Make(dtypes.Float32, r.param.shape(r.batch, r.h, r.w)...)
	scalar := shapes.Make(dtypes.Float32)
	out := []shapes.Shape{p, p, p, scalar, scalar}
	o := g.sampler.outputs()
	if g.sampler.geometric {
		out = append(out, shapes.Make(dtypes.Float32, o, 6))
	}
	if g.sampler.noise > 0 {
		out = append(out, shapes.Make(dtypes.Float32, o, 3, r.h, r.w))
	}
	return out
}

func (g *graphs) finalize() {
	g.step.Finalize()
	g.snap.Finalize()
	if g.redirected != nil {
		g.redirected.Finalize()
	}
}

// images builds the RGB images [B, 3, H, W] in [0,1] from the parameters.
func (g *graphs) images(v *Node) *Node {
	var spec *Node
	if g.spectrum != nil {
		spec = Reshape(Const(v.Graph(), g.spectrum), 3, g.r.h, spectrumWidth(g.r.w))
	}
	return g.r.param.Image(v, g.r.h, g.r.w, spec, g.form)
}

// toModel maps RGB images in [0,1] to the model's input: channel order,
// then range, mean and std (cnn.NormalizeNode).
func toModel(img *Node, in cnn.Input) *Node {
	if in.Order == "BGR" {
		img = Reverse(img, 1)
	}
	return cnn.NormalizeNode(img, in)
}

// terms evaluates the objective's terms on images img [B,3,H,W] (the
// untransformed images) and model inputs x [groups·B, 3, H, W]: each
// group of B is evaluated separately and the values averaged.
func (g *graphs) terms(img, x *Node, groups int) []*Node {
	var layers []string
	for _, l := range g.r.obj.Layers() {
		if l != ImageLayer {
			layers = append(layers, l)
		}
	}
	var outs []*Node
	if len(layers) > 0 {
		outs = cnn.Build(g.r.m, toModel(x, g.r.m.Input()), layers...)
	}
	b := img.Shape().Dim(0)
	terms := g.r.obj.Terms()
	vals := make([]*Node, len(terms))
	for k := range groups {
		a := Acts{ImageLayer: img}
		for i, l := range layers {
			o := outs[i]
			if groups > 1 {
				o = Slice(o, AxisRange(k*b, (k+1)*b))
			}
			a[l] = o
		}
		for i, t := range terms {
			v := t.Build(a)
			if !v.Shape().IsScalar() {
				panic(fmt.Sprintf("optvis: objective %s is not a scalar: %s", t.Name(), v.Shape()))
			}
			if vals[i] == nil {
				vals[i] = v
			} else {
				vals[i] = Add(vals[i], v)
			}
		}
	}
	for i := range vals {
		vals[i] = ConvertDType(DivScalar(vals[i], float64(groups)), dtypes.Float32)
	}
	return vals
}

// stepFn is one optimization step (Adam's, or Nesterov's with m its
// buffer and v unused): inputs [params, m, v, t, lr] then the
// affine maps [O, 6] (geometric transforms) and the noise (with Noise);
// outputs [params', m', v', values (terms then total)].
func (g *graphs) stepFn(_ *model.Scope, in []*Node) []*Node {
	p, m, v, t, lr := in[0], in[1], in[2], in[3], in[4]
	img := g.images(p)
	x := img
	k := 5
	if g.sampler.geometric {
		x = resample(img, in[k])
		k++
	}
	if g.sampler.noise > 0 {
		x = Add(x, in[k])
	}
	vals := g.terms(img, x, g.sampler.crops)
	total := vals[0]
	for _, v := range vals[1:] {
		total = Add(total, v)
	}
	// The optimizer descends the loss −total (also nn.RedirectReLUs'
	// convention).
	grad := Gradient(Neg(total), p)[0]
	if g.r.nesterov != nil {
		// m is the momentum buffer: zero before the first step, so the
		// first buffer is the gradient, as torch's.
		p2, m2 := g.r.nesterov.Update(p, grad, nil, m, lr)
		return []*Node{p2, m2, ZerosLike(v), Stack(append(vals, total), 0)}
	}
	p2, m2, v2 := g.r.adam.Update(p, grad, m, v, t, lr)
	return []*Node{p2, m2, v2, Stack(append(vals, total), 0)}
}

// redirectedStepFn is stepFn with redirected ReLU gradients.
func (g *graphs) redirectedStepFn(s *model.Scope, in []*Node) []*Node {
	nn.RedirectReLUs(in[0].Graph())
	return g.stepFn(s, in)
}

// snapFn returns the images [B, H, W, 3] (0..255, rounded) and the
// objective's values on them, untransformed.
func (g *graphs) snapFn(_ *model.Scope, p *Node) (*Node, *Node) {
	img := g.images(p)
	vals := g.terms(img, img, 1)
	total := vals[0]
	for _, v := range vals[1:] {
		total = Add(total, v)
	}
	pix := Quantize8(TransposeAllAxes(img, 0, 2, 3, 1))
	return pix, Stack(append(vals, total), 0)
}

// loop runs the steps.
func (g *graphs) loop() (res *Result, err error) {
	r := g.r
	res = &Result{Backend: backend.Describe(r.b), Param: r.param.String(), Transforms: describe(r.transforms)}
	for _, t := range r.obj.Terms() {
		res.TermNames = append(res.TermNames, t.Name())
	}
	defer func() {
		if e := recover(); e != nil {
			g.broken = true
			err = fmt.Errorf("optvis: %v", e)
		}
	}()
	rng := rand.New(rand.NewPCG(r.seed, 0x6f707476)) // "optv"
	init, dims := r.param.Init(rng, r.batch, r.h, r.w)
	params := tensors.FromFlatDataAndDimensions(init, dims...)
	mom := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	vel := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	defer func() {
		for _, t := range []*tensors.Tensor{params, mom, vel} {
			t.FinalizeAll()
		}
	}()
	emit := func(e Event) {
		if r.progress != nil {
			r.progress(e)
		}
	}
	emit(Event{Stage: StageCompile, Total: r.steps, Message: fmt.Sprintf(
		"compiling the step: %s, %d×%dx%d, %s, transforms %s, on %s",
		r.obj.Name(), r.batch, r.w, r.h, res.Param, res.Transforms, res.Backend)})
	start := time.Now()
	for step := 1; step <= r.steps; step++ {
		if r.ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		lr := r.adam.LR
		if r.schedule != nil {
			lr *= r.schedule(step, r.steps)
		}
		args := []any{params, mom, vel, float32(step), float32(lr)}
		var extra []*tensors.Tensor
		if g.sampler.geometric {
			extra = append(extra, tensors.FromFlatDataAndDimensions(flatMaps(g.sampler.maps(rng)), g.sampler.outputs(), 6))
		}
		if g.sampler.noise > 0 {
			noise := make([]float32, g.sampler.outputs()*3*r.h*r.w)
			for i := range noise {
				noise[i] = float32(rng.NormFloat64() * g.sampler.noise)
			}
			extra = append(extra, tensors.FromFlatDataAndDimensions(noise, g.sampler.outputs(), 3, r.h, r.w))
		}
		for _, t := range extra {
			args = append(args, t)
		}
		exec, redirected := g.step, step <= r.redirect
		if redirected {
			exec = g.redirected
		}
		t0 := time.Now()
		out, err := exec.Exec(args...)
		for _, t := range extra {
			t.FinalizeAll()
		}
		if err != nil {
			return res, fmt.Errorf("optvis: step %d: %w", step, err)
		}
		params.FinalizeAll()
		mom.FinalizeAll()
		vel.FinalizeAll()
		params, mom, vel = out[0], out[1], out[2]
		vals, err := tensors.CopyFlatData[float32](out[3])
		out[3].FinalizeAll()
		if err != nil {
			return res, err
		}
		dt := time.Since(t0)
		res.Steps = step
		e := Event{Stage: StageOptimize, Done: step, Total: r.steps, Step: step, LR: lr, StepTime: dt,
			Value: float64(vals[len(vals)-1]), Terms: toFloat64(vals[:len(vals)-1]),
			Rate: float64(step) / time.Since(start).Seconds(), Redirected: redirected}
		if math.IsNaN(e.Value) {
			return res, fmt.Errorf("optvis: the objective became NaN at step %d; lower the learning rate", step)
		}
		if step == r.steps || slices.Contains(r.snapshots, step) {
			s, err := g.snapshot(params, step)
			if err != nil {
				return res, err
			}
			res.Snapshots = append(res.Snapshots, s)
			e.Snapshot = &res.Snapshots[len(res.Snapshots)-1]
		}
		emit(e)
	}
	res.Elapsed = time.Since(start)
	if res.Interrupted {
		if s := res.Final(); s == nil || s.Step != res.Steps {
			snap, err := g.snapshot(params, res.Steps)
			if err != nil {
				return res, err
			}
			res.Snapshots = append(res.Snapshots, snap)
		}
		return res, r.ctx.Err()
	}
	return res, nil
}

// snapshot takes the images and their objective values.
func (g *graphs) snapshot(params *tensors.Tensor, step int) (Snapshot, error) {
	out, err := g.snap.Exec(params)
	if err != nil {
		return Snapshot{}, fmt.Errorf("optvis: snapshot at step %d: %w", step, err)
	}
	defer func() {
		for _, t := range out {
			t.FinalizeAll()
		}
	}()
	pix, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		return Snapshot{}, err
	}
	vals, err := tensors.CopyFlatData[float32](out[1])
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Step: step, Value: float64(vals[len(vals)-1]), Terms: toFloat64(vals[:len(vals)-1])}
	h, w := g.r.h, g.r.w
	for b := range g.r.batch {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := range h * w {
			src := pix[(b*h*w+i)*3:]
			img.Pix[i*4], img.Pix[i*4+1], img.Pix[i*4+2], img.Pix[i*4+3] = uint8(src[0]), uint8(src[1]), uint8(src[2]), 255
		}
		s.Images = append(s.Images, img)
	}
	return s, nil
}

func toFloat64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
