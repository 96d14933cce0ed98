package mindseye

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/gomlx/compute"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
)

// ErrDone is returned by [Run.Step] once every iteration is done; call
// [Run.Continue] for more.
var ErrDone = errors.New("mindseye: all iterations are done; call Continue for more")

// Stage names the part of the method an [Event] comes from.
type Stage string

// The stages of a run.
const (
	StageFeatures Stage = "features" // A: pooled features of every image
	StageFacets   Stage = "facets"   // B: clustering, exemplars, targets, blends
	StageOptimize Stage = "optimize" // C: the iterations
)

// Schedule holds the scheduled values of one iteration.
type Schedule struct {
	LR, MaskSigma, BlurSigma, DenoiseWeight, Lambda float64
}

// Event reports progress: a message or warning during Stages A and B, and
// one event per iteration of Stage C.
type Event struct {
	Stage Stage
	// Message is a human-readable note; Warning marks a problem the run
	// worked around (a skipped file, a lowered K).
	Message string
	Warning bool
	// Done of Total: images in Stage A, iterations in Stage C.
	Done, Total int

	// Stage C: the iteration, its loss terms (of the images fed to the step,
	// before the update), its scheduled values and the operations applied,
	// in order ("crop", "blur", "brightness", "paste", "step", "denoise",
	// "save").
	Iteration int
	Terms     Terms
	Schedule  Schedule
	Ops       []string
	// StepTime is the compiled step's time, HostTime the host
	// regularizers', TransferTime the copies of the images between host and
	// device that the host operations need; Rate is iterations per second
	// over the run so far.
	StepTime, HostTime, TransferTime time.Duration
	Rate                             float64
	// Snapshot is set when the images were saved.
	Snapshot *Snapshot
}

// Snapshot is the state of the K images at a saved iteration.
type Snapshot struct {
	Iteration int
	// Images are the K images as saved (red and blue swapped with
	// Quirks.BGR, as the reference saves them).
	Images []image.Image
	Terms  Terms
	// Activation[k] is the mean over S_k of facet k's pooled target
	// activation; Distance[k] is ‖a_k − T_k‖.
	Activation, Distance []float64
}

// Run is one visualization: New checks the configuration, Prepare runs
// Stages A and B, each Step one iteration of Stage C, Finish writes the
// final report. [Generate] does all of it.
type Run struct {
	cfg      Config
	m        cnn.Model
	b        compute.Backend
	spec     *netSpec
	c        int // target channels
	seed     uint64
	set      *imageSet
	out      *outDir
	k, mUsed int // K and M as used
	facets   []Facet
	emb      *embedding
	images   []string  // images used, feature order
	feats    []float64 // N×C pooled features
	target   []float32 // K×C
	weights  []float32 // K×C
	host     *host
	st       *stepper
	ops      []hostOp    // Stage C's host regularizers
	mem      memoryModel // the step's estimated memory
	dirs     []string    // facet folder names

	prepared bool
	iter     int // last iteration done
	// The current segment runs iterations first..last; the schedules are
	// evaluated at i−offset of total.
	first, last, offset, total int
	saved                      int // last saved iteration, −1 before any

	report Report
	steps  int
}

// New checks cfg (model layers, sizes, images, output folder) and returns
// a run ready for [Run.Prepare]. It writes nothing.
func New(cfg Config) (*Run, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := cfg.Model
	if cfg.Target == "" || cfg.Penalty == "" {
		d, ok := m.(cnn.LayerDefaults)
		if !ok {
			return nil, fmt.Errorf("mindseye: model %s suggests no layers for the method; set Config.Target and Config.Penalty (-layer and -penalty; list them with go run ./examples/layers -model %s)", m.Name(), m.Name())
		}
		t, p := d.DefaultLayers()
		if cfg.Target == "" {
			cfg.Target = t
		}
		if cfg.Penalty == "" {
			cfg.Penalty = p
		}
	}
	if err := cnn.Check(m, cfg.Target, cfg.Penalty); err != nil {
		return nil, err
	}
	in := m.Input()
	if in.Channels != 3 {
		return nil, fmt.Errorf("mindseye: model %s takes %d-channel images; the method needs a 3-channel (colour) model", m.Name(), in.Channels)
	}
	b := cfg.Backend
	shp, err := cnn.Shapes(b, m, cfg.Size, cfg.Size, cfg.Target)
	if err != nil {
		return nil, err
	}
	if r := len(shp[0]); r != 3 && r != 1 {
		return nil, fmt.Errorf("mindseye: target layer %q has shape %v; the method pools a [C,H,W] feature map (or takes a [C] vector)", cfg.Target, shp[0])
	}
	set, err := listImages(cfg.Images)
	if err != nil {
		return nil, err
	}
	out, err := checkOut(cfg.Out, set, cfg.Overwrite)
	if err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if cfg.Quirks.Unseeded {
		seed = uint64(time.Now().UnixNano())
	}
	r := &Run{
		cfg: cfg, m: m, b: b, c: shp[0][0], seed: seed, set: set, out: out, saved: -1,
	}
	r.startReport()
	if err := r.estimateStep(); err != nil {
		return nil, err
	}
	if w := simdWarning(backend.SIMD, b); w != "" {
		r.report.Warnings = append(r.report.Warnings, w)
	}
	for _, d := range set.dups {
		r.report.Warnings = append(r.report.Warnings, fmt.Sprintf("%s is listed more than once; used once", d))
	}
	return r, nil
}

// Config returns the configuration in use (with the layers filled in).
func (r *Run) Config() Config { return r.cfg }

// Report returns the report as it stands.
func (r *Run) Report() *Report { return &r.report }

// Facets returns the facets found by Prepare.
func (r *Run) Facets() []Facet { return r.facets }

// Points returns the t-SNE map found by Prepare: the 2-D position of each
// image, in the order of Report().Images (nil before Prepare).
func (r *Run) Points() [][2]float64 {
	if r.emb == nil {
		return nil
	}
	out := make([][2]float64, len(r.emb.points)/2)
	for i := range out {
		out[i] = [2]float64{r.emb.points[2*i], r.emb.points[2*i+1]}
	}
	return out
}

// Images returns the current K images (as they are saved), nil if they
// cannot be copied from the device.
func (r *Run) Images() []image.Image {
	if r.host == nil {
		return nil
	}
	if r.st != nil {
		if err := r.st.syncHost(); err != nil {
			return nil
		}
	}
	out := make([]image.Image, r.k)
	for i := range r.k {
		out[i] = toImage(r.host.image(i), r.cfg.Size, r.cfg.Quirks.BGR)
	}
	return out
}

// Iteration returns the last iteration done (0 before any).
func (r *Run) Iteration() int { return r.iter }

func (r *Run) warn(progress func(Event), stage Stage, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.report.Warnings = append(r.report.Warnings, msg)
	if progress != nil {
		progress(Event{Stage: stage, Message: msg, Warning: true})
	}
}

func (r *Run) note(progress func(Event), ev Event) {
	if progress != nil {
		progress(ev)
	}
}

// Prepare runs Stage A (pooled target features of every image) and Stage B
// (t-SNE map, k-means facets, exemplars, soft weights, targets, channels,
// initial blends), saves the blends as iteration 0000 and the t-SNE map,
// and writes report.json. progress, if not nil, receives warnings and
// progress. On cancellation it writes what exists, marked interrupted.
func (r *Run) Prepare(ctx context.Context, progress func(Event)) (err error) {
	if r.prepared {
		return errors.New("mindseye: Prepare was already called")
	}
	if err := r.out.prepare(); err != nil {
		return err
	}
	defer func() { r.failed(err) }()
	for _, w := range r.report.Warnings {
		r.note(progress, Event{Stage: StageFeatures, Message: w, Warning: true})
	}
	t0 := time.Now()
	if err := r.extractFeatures(ctx, progress); err != nil {
		return err
	}
	r.report.Timings.Features = time.Since(t0).Seconds()
	t0 = time.Now()
	if err := r.buildFacets(ctx, progress); err != nil {
		return err
	}
	r.report.Timings.Facets = time.Since(t0).Seconds()
	if err := r.setupOptimization(); err != nil {
		return err
	}
	r.prepared = true
	if _, err := r.snapshot(0); err != nil {
		return err
	}
	if err := r.writeTSNE(); err != nil {
		return err
	}
	return r.out.writeReport(&r.report)
}

// Continue adds n iterations after the last one. With
// Quirks.MidScheduleContinuation the schedules continue against the new
// total and the last iteration number runs again, as the reference's second
// generate call does; otherwise every schedule runs again from Start to End.
func (r *Run) Continue(n int) error {
	if !r.prepared {
		return errors.New("mindseye: call Prepare before Continue")
	}
	if n <= 0 {
		return fmt.Errorf("mindseye: Continue(%d): give a positive number of iterations", n)
	}
	if r.cfg.Quirks.MidScheduleContinuation {
		r.first, r.last, r.offset, r.total = r.iter, r.iter+n, 0, r.iter+n
		r.iter = r.first - 1
	} else {
		r.first, r.last, r.offset, r.total = r.iter+1, r.iter+n, r.iter, n
	}
	r.report.Status = StatusRunning
	return nil
}

// Finish saves the current images if they changed since the last snapshot
// (so an interrupted run keeps its last state), writes the final report
// (complete, or interrupted when iterations remain) and frees the compiled
// computations. The Run cannot step after Finish.
func (r *Run) Finish() error {
	var err error
	if r.prepared && r.iter > r.saved && r.iter > 0 {
		_, err = r.snapshot(r.iter)
	}
	if r.report.Status == StatusRunning {
		r.report.Status = StatusComplete
		if !r.prepared || r.iter < r.last {
			r.report.Status = StatusInterrupted
		}
	}
	if r.st != nil {
		if serr := r.st.syncHost(); err == nil { // Images() after Finish
			err = serr
		}
		r.st.finalize()
		r.st = nil
	}
	r.prepared = false
	if werr := r.out.writeReport(&r.report); err == nil {
		err = werr
	}
	return err
}

// Generate runs the whole method: New, Prepare, every Step, Finish.
// progress, if not nil, receives every event. On cancellation the outputs
// so far stay, the current images are saved and report.json is marked
// interrupted; the context's error is returned with the report.
func Generate(ctx context.Context, cfg Config, progress func(Event)) (*Report, error) {
	r, err := New(cfg)
	if err != nil {
		return nil, err
	}
	err = r.Prepare(ctx, progress)
	for err == nil {
		var ev Event
		ev, err = r.Step(ctx)
		if err == nil && progress != nil {
			progress(ev)
		}
	}
	if errors.Is(err, ErrDone) {
		err = nil
	}
	if ferr := r.Finish(); err == nil {
		err = ferr
	}
	return r.Report(), err
}
