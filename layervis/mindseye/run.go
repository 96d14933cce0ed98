package mindseye

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/internal/memstat"
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
		ml, ok := m.(cnn.MethodLayers)
		if !ok {
			return nil, fmt.Errorf("mindseye: model %s suggests no layers for the method; set Config.Target and Config.Penalty (-layer and -penalty; list them with go run ./examples/layers -model %s)", m.Name(), m.Name())
		}
		t, p := ml.MindsEyeLayers()
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
	b, err := backend.Get()
	if err != nil {
		return nil, err
	}
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
	r.report = Report{
		Tool: ReportTool, Status: StatusRunning, Backend: backend.Describe(b), SIMD: backend.SIMD, Seed: seed, Settings: cfg, Variant: VariantLoop,
		Model: ModelReport{
			Name: m.Name(), Target: cfg.Target, Penalty: cfg.Penalty, Channels: r.c,
			InputOrder: in.Order, InputRange: in.Range, InputMean: in.Mean, InputStd: in.Std,
		},
		Images: []string{}, Skipped: []SkippedFile{}, Warnings: []string{},
	}
	if s, ok := m.(interface{ Source() string }); ok {
		r.report.Model.Weights = s.Source()
	}
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

// failed records err in the report (interrupted or failed) and writes it.
func (r *Run) failed(err error) {
	if err == nil {
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		r.report.Status = StatusInterrupted
	} else {
		r.report.Status = StatusFailed
		r.report.Error = err.Error()
	}
	_ = r.out.writeReport(&r.report)
}

// extractFeatures is Stage A: every image is loaded, resized and pooled
// through the target layer, FeatureBatch at a time (the last batch padded,
// so one shape is compiled). Unreadable files are skipped with a warning.
func (r *Run) extractFeatures(ctx context.Context, progress func(Event)) error {
	files := r.set.files
	batch := min(r.cfg.FeatureBatch, len(files))
	exec, err := model.NewExec(r.b, r.m.Store(), specFor(&r.cfg, 0).featuresFn)
	if err != nil {
		return fmt.Errorf("mindseye: building the feature extraction: %w", err)
	}
	defer exec.Finalize()
	size := r.cfg.Size
	n := size * size * 3
	buf := make([]float32, batch*n)
	for startIdx := 0; startIdx < len(files); {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Load the next batch (in parallel), skipping unreadable files.
		var names []string
		for len(names) < batch && startIdx < len(files) {
			chunk := files[startIdx:min(startIdx+batch-len(names), len(files))]
			startIdx += len(chunk)
			pix := make([][]float32, len(chunk))
			errs := make([]error, len(chunk))
			forEach(len(chunk), func(i int) {
				pix[i], errs[i] = loadPixels(chunk[i], size, r.cfg.QuantizeInputs)
			})
			for i, f := range chunk {
				if errs[i] != nil {
					r.report.Skipped = append(r.report.Skipped, SkippedFile{File: f, Error: errs[i].Error()})
					r.warn(progress, StageFeatures, "skipping an unreadable file: %v", errs[i])
					continue
				}
				copy(buf[len(names)*n:], pix[i])
				names = append(names, f)
			}
		}
		if len(names) == 0 {
			break
		}
		clear(buf[len(names)*n:])
		x := tensors.FromFlatDataAndDimensions(buf, batch, size, size, 3)
		out, err := exec.Exec(x)
		x.FinalizeAll()
		if err != nil {
			return fmt.Errorf("mindseye: features of %s: %w", names[0], err)
		}
		a, err := tensors.CopyFlatData[float32](out[0])
		out[0].FinalizeAll()
		if err != nil {
			return err
		}
		for i := range names {
			for _, v := range a[i*r.c : (i+1)*r.c] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("mindseye: the target layer's features of %s are not finite; check the model's weights", names[i])
				}
				r.feats = append(r.feats, float64(v))
			}
		}
		r.images = append(r.images, names...)
		r.note(progress, Event{Stage: StageFeatures, Done: len(r.images) + len(r.report.Skipped), Total: len(files),
			Message: fmt.Sprintf("features of %d/%d images", len(r.images)+len(r.report.Skipped), len(files))})
	}
	r.report.Images = r.images
	if len(r.images) <= 2 {
		return fmt.Errorf("mindseye: %d readable image(s) of %d files; the method needs at least 3 (t-SNE and k-means of a set)", len(r.images), len(files))
	}
	return nil
}

// buildFacets is Stage B.
func (r *Run) buildFacets(ctx context.Context, progress func(Event)) error {
	n := len(r.images)
	r.k, r.mUsed = r.cfg.Clusters, r.cfg.Exemplars
	if n <= r.k {
		r.warn(progress, StageFacets, "only %d images for %d clusters: using K = %d facets", n, r.k, n-1)
		r.k = n - 1
	}
	if n < r.mUsed {
		r.warn(progress, StageFacets, "only %d images for %d exemplars per facet: using M = %d", n, r.mUsed, n)
		r.mUsed = n
	}
	if r.cfg.TopChannels > r.c {
		r.warn(progress, StageFacets, "the target layer has %d channels, fewer than TopChannels %d: using all", r.c, r.cfg.TopChannels)
	}
	r.report.Clusters, r.report.Exemplars = r.k, r.mUsed
	r.note(progress, Event{Stage: StageFacets, Message: fmt.Sprintf("PCA, t-SNE and k-means of %d images into %d facets", n, r.k)})
	emb, err := embed(r.feats, n, r.c, r.k, &r.cfg, r.seed, func(iter int, kl float64) {
		r.note(progress, Event{Stage: StageFacets, Done: iter, Total: r.cfg.TSNEIterations,
			Message: fmt.Sprintf("t-SNE iteration %d/%d, KL divergence %.4g", iter, r.cfg.TSNEIterations, kl)})
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.emb = emb
	sets := make([][]int, r.k)
	r.target = make([]float32, r.k*r.c)
	blends := make([][]float32, r.k)
	r.facets = make([]Facet, r.k)
	for k := range r.k {
		d := make([]float64, n)
		for i := range n {
			d[i] = emb.dist[i*r.k+k]
		}
		f := Facet{Index: k, Centre: [2]float64{emb.centre[2*k], emb.centre[2*k+1]}}
		for i, l := range emb.labels {
			if l == k {
				f.Members = append(f.Members, i)
			}
		}
		f.Nearest = exemplars(d, 1, false)[0]
		f.Exemplars = exemplars(d, r.mUsed, r.cfg.Quirks.FarthestExemplars)
		for _, e := range f.Exemplars {
			f.Distances = append(f.Distances, d[e])
		}
		if f.Weights, err = softWeights(f.Distances, r.cfg.Quirks.UnshiftedSoftmax); err != nil {
			return fmt.Errorf("facet %d: %w", k+1, err)
		}
		t := weightedTarget(r.feats, r.c, f.Exemplars, f.Weights)
		f.Channels = topChannels(t, r.cfg.TopChannels)
		f.Target = make([]float32, r.c)
		for j, v := range t {
			f.Target[j] = float32(v)
		}
		copy(r.target[k*r.c:], f.Target)
		sets[k] = f.Channels
		// The initial blend, from the exemplars reloaded (Stage A keeps no
		// pixels, so large sets fit in memory).
		imgs := make([][]float32, len(f.Exemplars))
		errs := make([]error, len(f.Exemplars))
		forEach(len(f.Exemplars), func(m int) {
			imgs[m], errs[m] = loadPixels(r.images[f.Exemplars[m]], r.cfg.Size, r.cfg.QuantizeInputs)
		})
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("mindseye: reloading an exemplar of facet %d: %w", k+1, err)
		}
		blends[k] = blend(imgs, f.Weights)
		r.facets[k] = f
	}
	r.weights = channelWeights(sets, r.c, r.cfg.Quirks.CoupledChannels)
	r.host = &host{k: r.k, size: r.cfg.Size, cur: slices.Concat(blends...),
		rng: newRNG(r.seed)}
	r.report.Facets = make([]FacetReport, r.k)
	for k, f := range r.facets {
		dir, err := r.out.facetDir(k)
		if err != nil {
			return err
		}
		r.dirs = append(r.dirs, dir)
		fr := FacetReport{Index: k + 1, Dir: dir, Members: len(f.Members), Centre: f.Centre,
			Nearest: r.images[f.Nearest], Channels: f.Channels, Snapshots: []FacetSnapshot{}}
		for m, e := range f.Exemplars {
			fr.Exemplars = append(fr.Exemplars, Exemplar{File: r.images[e], Distance: f.Distances[m], Weight: f.Weights[m]})
		}
		r.report.Facets[k] = fr
	}
	return nil
}

// newRNG returns the window jitter's random source.
func newRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// setupOptimization builds the jitter canvas and the compiled step, in
// micro-batches that fit the memory available.
func (r *Run) setupOptimization() error {
	if err := r.host.newCanvas(r.cfg.Scale, r.cfg.Window); err != nil {
		return err
	}
	micro, err := r.microBatch()
	if err != nil {
		return err
	}
	r.spec = specFor(&r.cfg, r.k)
	st, err := newStepper(r.b, r.spec, r.host, r.target, r.weights, r.c, micro)
	if err != nil {
		return err
	}
	r.st = st
	r.report.Memory.MicroBatch = st.micro()
	r.first, r.last, r.offset, r.total = 1, r.cfg.Iterations, 0, r.cfg.Iterations
	return nil
}

// schedule returns the scheduled values at iteration i.
func (r *Run) schedule(i int) Schedule {
	j, tot := i-r.offset, r.total
	scale := float64(r.cfg.Size) / referenceSize
	return Schedule{
		LR:            r.cfg.LR.At(j, tot),
		MaskSigma:     r.cfg.MaskSigma.At(j, tot) * scale,
		BlurSigma:     r.cfg.BlurSigma.At(j, tot),
		DenoiseWeight: r.cfg.DenoiseWeight.At(j, tot),
		Lambda:        r.cfg.Lambda.At(j, tot),
	}
}

// Step runs the next iteration of Stage C, in the reference's order:
// schedules; window offset (and every WindowStep the re-crop from the
// canvas); gradient mask; every BlurEvery the centre-weighted blur (and
// brightness); paste into the canvas; the compiled gradient step with
// quantization; every DenoiseEvery the centre-weighted TV denoising; the
// snapshot every SaveEvery and at the last iteration. It returns [ErrDone]
// when all iterations are done and the context's error when cancelled
// (before the iteration starts).
func (r *Run) Step(ctx context.Context) (ev Event, err error) {
	if !r.prepared {
		return ev, errors.New("mindseye: call Prepare before Step")
	}
	if r.iter >= r.last {
		return ev, ErrDone
	}
	if err := ctx.Err(); err != nil {
		return ev, err
	}
	defer func() { r.failed(err) }()
	i := r.iter + 1
	h, st := r.host, r.st
	sch := r.schedule(i)
	ev = Event{Stage: StageOptimize, Iteration: i, Done: i - r.first + 1, Total: r.last - r.first + 1, Schedule: sch}
	var ox, oy int
	t0 := time.Now()
	if h.canvas != nil {
		ox, oy = h.offsets()
		if i%r.cfg.WindowStep == 0 {
			if err := st.fetchCanvas(); err != nil {
				return ev, err
			}
			h.crop(ox, oy)
			st.hostChanged()
			ev.Ops = append(ev.Ops, "crop")
		}
	}
	mask1 := imageops.GaussianMask(r.cfg.Size, r.cfg.Size, sch.MaskSigma)
	var mask2 []float32
	if i%r.cfg.BlurEvery == 0 || i%r.cfg.DenoiseEvery == 0 {
		mask2 = invert(mask1)
	}
	if i%r.cfg.BlurEvery == 0 {
		bright := 0.0
		ev.Ops = append(ev.Ops, "blur")
		if i%r.cfg.BrightnessStep == 0 {
			bright = r.cfg.Brightness
			ev.Ops = append(ev.Ops, "brightness")
		}
		if err := st.syncHost(); err != nil {
			return ev, err
		}
		h.blurBlend(mask1, mask2, sch.BlurSigma, bright)
		st.hostChanged()
	}
	if h.canvas != nil {
		ev.Ops = append(ev.Ops, "paste") // done by the step, on the device
	}
	// The host operations' and the step's times exclude the copies between
	// host and device, counted apart.
	ev.TransferTime = st.takeTransfer()
	ev.HostTime = time.Since(t0) - ev.TransferTime
	t0 = time.Now()
	res, err := st.step(mask1, sch.LR, sch.Lambda, ox, oy)
	if err != nil {
		return ev, err
	}
	tr := st.takeTransfer()
	ev.StepTime = time.Since(t0) - tr
	ev.TransferTime += tr
	ev.Ops = append(ev.Ops, "step")
	ev.Terms = res.terms
	if i%r.cfg.DenoiseEvery == 0 {
		if err := st.syncHost(); err != nil {
			return ev, err
		}
		t0 := time.Now()
		h.denoiseBlend(mask1, mask2, sch.DenoiseWeight, r.cfg.DenoiseMaxIter, r.cfg.DenoiseEps)
		st.hostChanged()
		ev.HostTime += time.Since(t0)
		ev.Ops = append(ev.Ops, "denoise")
	}
	ev.TransferTime += st.takeTransfer()
	r.iter = i
	r.steps++
	tm := &r.report.Timings
	tm.Step += ev.StepTime.Seconds()
	tm.Host += ev.HostTime.Seconds()
	tm.Transfer += ev.TransferTime.Seconds()
	n := float64(r.steps)
	tm.StepMean, tm.HostMean, tm.TransferMean = tm.Step/n, tm.Host/n, tm.Transfer/n
	r.report.Iterations = r.steps
	r.report.Memory.PeakRSS = memstat.PeakRSS()
	if math.IsNaN(res.terms.Total) || math.IsInf(res.terms.Total, 0) {
		return ev, fmt.Errorf("mindseye: the loss at iteration %d is %v; lower LR or check the model", i, res.terms.Total)
	}
	if i%r.cfg.SaveEvery == 0 || i == r.last {
		if ev.Snapshot, err = r.snapshot(i); err != nil {
			return ev, err
		}
		ev.Ops = append(ev.Ops, "save")
		if err := r.out.writeReport(&r.report); err != nil {
			return ev, err
		}
	}
	tm.Optimize = tm.Step + tm.Host + tm.Transfer + tm.Snapshots
	ev.Rate = float64(r.steps) / tm.Optimize
	return ev, nil
}

// snapshot measures the current images, saves them as
// facet_XX/iteration_NNNN.png and records them in the report.
func (r *Run) snapshot(i int) (*Snapshot, error) {
	t0 := time.Now()
	lambda := r.schedule(max(i, r.first)).Lambda
	terms, a, err := r.st.measure(lambda)
	if err == nil {
		err = r.st.syncHost()
	}
	r.st.takeTransfer() // part of the snapshot's time
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Iteration: i, Terms: terms, Images: r.Images()}
	for k, f := range r.facets {
		ak := a[k*r.c : (k+1)*r.c]
		act := 0.0
		for _, j := range f.Channels {
			act += float64(ak[j])
		}
		act /= float64(len(f.Channels))
		d := 0.0
		for j, v := range ak {
			e := float64(v) - float64(f.Target[j])
			d += e * e
		}
		s.Activation = append(s.Activation, act)
		s.Distance = append(s.Distance, math.Sqrt(d))
		file := filepath.Join(r.dirs[k], fmt.Sprintf("iteration_%04d.png", i))
		if err := r.out.savePNG(file, s.Images[k]); err != nil {
			return nil, err
		}
		fr := &r.report.Facets[k]
		fr.Snapshots = append(fr.Snapshots, FacetSnapshot{Iteration: i, File: filepath.ToSlash(file), Activation: act, Distance: math.Sqrt(d)})
		first := fr.Snapshots[0].Activation
		fr.ActivationGain = act - first
		if first > 0 {
			fr.ActivationGainRatio = act / first
		}
	}
	r.report.Snapshots = append(r.report.Snapshots, SnapshotTerms{Iteration: i, Terms: terms})
	r.saved = i
	r.report.Timings.Snapshots += time.Since(t0).Seconds()
	return s, nil
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
