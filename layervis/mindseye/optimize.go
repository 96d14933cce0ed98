package mindseye

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/layervis/layervis/layervis/imageops"
)

// Stage C: the iterations, in the reference's order, over the compiled step
// (stepper.go) and the host regularizers (host.go).

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
	r.ops = r.hostOps()
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
// schedules; window offset; gradient mask; the host operations due before
// the step (hostOps: every WindowStep the re-crop from the canvas, every
// BlurEvery the centre-weighted blur and every BrightnessStep of those
// the brightness); paste into the canvas; the compiled gradient step with
// quantization; the host operations due after it (every DenoiseEvery the
// centre-weighted TV denoising); the snapshot every SaveEvery and at the
// last iteration. It returns [ErrDone] when all iterations are done and
// the context's error when cancelled (before the iteration starts).
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
	it := &iteration{i: i, sch: sch}
	t0 := time.Now()
	if h.canvas != nil {
		it.ox, it.oy = h.offsets()
	}
	it.mask1 = imageops.GaussianMask(r.cfg.Size, r.cfg.Size, sch.MaskSigma)
	ev.HostTime = time.Since(t0)
	// The host operations' and the step's times exclude the copies between
	// host and device, counted apart.
	if err := r.runHost(false, it, &ev); err != nil {
		return ev, err
	}
	if h.canvas != nil {
		ev.Ops = append(ev.Ops, "paste") // done by the step, on the device
	}
	t0 = time.Now()
	res, err := st.step(it.mask1, sch.LR, sch.Lambda, it.ox, it.oy)
	if err != nil {
		return ev, err
	}
	tr := st.takeTransfer()
	ev.StepTime = time.Since(t0) - tr
	ev.TransferTime += tr
	ev.Ops = append(ev.Ops, "step")
	ev.Terms = res.terms
	if err := r.runHost(true, it, &ev); err != nil {
		return ev, err
	}
	r.iter = i
	r.recordStep(&ev)
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
	tm := &r.report.Timings
	tm.Optimize = tm.Step + tm.Host + tm.Transfer + tm.Snapshots
	ev.Rate = float64(r.steps) / tm.Optimize
	return ev, nil
}
