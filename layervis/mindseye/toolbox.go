package mindseye

// The toolbox variant of Stage C: the facets optimized with layervis/optvis
// (a parameterization, random transforms, Adam) instead of the reference's
// loop, written to the same outputs.

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/layervis/layervis/layervis/internal/memstat"
	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/photo"
)

// The variants of Stage C, as [Report].Variant records them.
const (
	// VariantLoop is the reference's loop ([Run.Step]).
	VariantLoop = "loop"
	// VariantToolbox is [Run.ToolboxRender].
	VariantToolbox = "toolbox"
)

// StageCompile is the stage of the event [Run.ToolboxRender] sends while
// it builds and compiles its step.
const StageCompile Stage = "compile"

// ToolboxLR is the Adam learning rate the toolbox variant was measured
// with on the demo model (examples/mindseye's BenchmarkToolboxVsClean).
const ToolboxLR = 0.05

// ToolboxSettings records what [Run.ToolboxRender] ran with, in
// [Report].Toolbox.
type ToolboxSettings struct {
	// Param and Transforms describe the parameterization and transforms
	// (optvis's Result.Param and Result.Transforms).
	Param      string `json:"param"`
	Transforms string `json:"transforms"`
	// LR is Adam's learning rate; Lambda the L1 weight (the end of the
	// configuration's λ schedule).
	LR     float64 `json:"lr"`
	Lambda float64 `json:"lambda"`
}

// ToolboxObjective returns the Mind's Eye dual objective of the facets
// found by [Run.Prepare], as a layervis/optvis objective over a batch of
// one image per facet (to maximize): the activation term on each facet's
// channels weighted by its target ([optvis.ChannelSetOf]), minus the
// Charbonnier distance of the pooled target activations to the facets'
// targets ([optvis.PooledDistanceOf]) and the L1 penalty on the penalty
// layer at weight lambda ([optvis.L1]), each scaled as the run's preset
// scales Stage C's terms. It is the objective Stage C's step minimizes the
// negation of (the same definition, with the data fixed instead of fed).
func (r *Run) ToolboxObjective(lambda float64) (optvis.Objective, error) {
	if !r.prepared || r.spec == nil {
		return optvis.Objective{}, errors.New("mindseye: call Prepare before ToolboxObjective")
	}
	return r.spec.objective(r.cfg.Target, optvis.Fixed(weightedTarget32(r.weights, r.target)...),
		optvis.Fixed(r.target...), optvis.Fixed(float32(lambda))), nil
}

// ToolboxRender runs Stage C as the toolbox variant, instead of [Run.Step]:
// each facet's image starts from its exemplar blend in the
// parameterization p (usually [optvis.FourierParam], decorrelated Fourier;
// see [optvis.FromImage]) and is optimized with Adam at learning rate lr
// (usually [ToolboxLR]), small jitter, scale and rotation
// ([optvis.AccentTransforms]) and the dual objective
// ([Run.ToolboxObjective]) at the end value of the configuration's λ
// schedule, for Config.Iterations steps; no host regularizers, gradient
// mask or quantization. It is not the reference's method; on the demo
// model its images show object parts where the loop's show a confetti-like
// blob, at somewhat lower activation gains (see examples/mindseye).
//
// Call it once, after Prepare and before any Step; then Finish. The
// outputs are the loop's: every SaveEvery steps and at the last, the
// images are measured as the loop measures its snapshots and saved as
// facet_XX/iteration_NNNN.png, and report.json is rewritten, with
// Report.Variant "toolbox" and Report.Toolbox. progress, if not nil,
// receives a [StageCompile] event before the step is compiled and then
// one [StageOptimize] event per step, whose Terms are optvis's terms (on
// the transformed images, mean over the facets) with the loop's signs. On cancellation it stops after
// the current step and saves the images as they are; the context's error
// is returned.
func (r *Run) ToolboxRender(ctx context.Context, p optvis.Param, lr float64, progress func(Event)) (err error) {
	if !r.prepared || r.spec == nil {
		return errors.New("mindseye: call Prepare before ToolboxRender")
	}
	if r.iter != 0 {
		return errors.New("mindseye: ToolboxRender runs instead of Step: call it once, after Prepare and before any Step")
	}
	defer func() { r.failed(err) }()
	lambda := r.cfg.Lambda.End
	obj, err := r.ToolboxObjective(lambda)
	if err != nil {
		return err
	}
	var blends []*photo.RGB
	for _, img := range r.Images() {
		blends = append(blends, photo.FromImage(img))
	}
	if p, err = optvis.FromImage(p, blends...); err != nil {
		return err
	}
	steps := r.cfg.Iterations
	var snaps []int
	for i := r.cfg.SaveEvery; i < steps; i += r.cfg.SaveEvery {
		snaps = append(snaps, i)
	}
	r.report.Variant = VariantToolbox
	r.report.Toolbox = &ToolboxSettings{LR: lr, Lambda: lambda}
	// A snapshot that cannot be saved stops the render through ctx.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var saveErr error
	r.note(progress, Event{Stage: StageCompile, Message: fmt.Sprintf("building and compiling the toolbox step (%d×%d², %d steps)", r.k, r.cfg.Size, steps)})
	t0 := time.Now()
	tm := &r.report.Timings
	res, err := optvis.Render(ctx, r.b, r.m, obj).Size(r.cfg.Size).Batch(len(blends)).Param(p).
		Transforms(optvis.AccentTransforms()...).Steps(steps).LR(lr).Seed(r.seed).Snapshots(snaps...).
		Progress(func(e optvis.Event) {
			if e.Stage != optvis.StageOptimize {
				return // compiled: the note above said so
			}
			ev := Event{Stage: StageOptimize, Iteration: e.Step, Done: e.Done, Total: e.Total,
				Schedule: Schedule{LR: e.LR, Lambda: lambda}, Ops: []string{"step"}, StepTime: e.StepTime}
			if len(e.Terms) == 3 {
				ev.Terms = Terms{Activation: -e.Terms[0], Distance: -e.Terms[1], L1: -e.Terms[2], Total: -e.Value}
			}
			r.iter, r.steps = e.Step, e.Step
			r.report.Iterations = e.Step
			r.report.Memory.PeakRSS = memstat.PeakRSS()
			tm.Step += e.StepTime.Seconds()
			tm.StepMean = tm.Step / float64(e.Step)
			if e.Snapshot != nil {
				s, err := r.toolboxSnapshot(e.Snapshot)
				if err != nil {
					saveErr = err
					cancel()
					return
				}
				ev.Snapshot = s
				ev.Ops = append(ev.Ops, "save")
			}
			tm.Optimize = time.Since(t0).Seconds()
			ev.Rate = e.Rate
			r.note(progress, ev)
		}).Done()
	if saveErr != nil {
		err = saveErr
	}
	if res != nil {
		r.report.Toolbox.Param, r.report.Toolbox.Transforms = res.Param, res.Transforms
		if f := res.Final(); f != nil && f.Step > r.saved && saveErr == nil {
			if _, serr := r.toolboxSnapshot(f); serr != nil && err == nil {
				err = serr
			}
		}
	}
	// The host holds the last saved images: after a failure Finish must
	// not save them again as a later step's.
	r.iter = r.saved
	tm.Optimize = time.Since(t0).Seconds()
	if err == nil {
		err = r.out.writeReport(&r.report)
	}
	return err
}

// toolboxSnapshot makes optvis's snapshot the run's current images and
// saves and measures them as the loop's snapshots.
func (r *Run) toolboxSnapshot(s *optvis.Snapshot) (*Snapshot, error) {
	if len(s.Images) != r.k {
		return nil, fmt.Errorf("mindseye: the toolbox render returned %d images for %d facets", len(s.Images), r.k)
	}
	if err := r.st.syncHost(); err != nil {
		return nil, err
	}
	for k, img := range s.Images {
		setPixels(r.host.image(k), img)
	}
	r.st.hostChanged()
	snap, err := r.snapshot(s.Step)
	if err != nil {
		return nil, err
	}
	return snap, r.out.writeReport(&r.report)
}

// setPixels copies img's RGB values into px (HWC, 0–255).
func setPixels(px []float32, img *image.NRGBA) {
	for p := range len(px) / 3 {
		for c := range 3 {
			px[3*p+c] = float32(img.Pix[4*p+c])
		}
	}
}
