package mindseye

// Stage C's host regularizers as periodic host operations: each runs on
// the host's images between gradient steps, at the iterations that are
// multiples of its period, before the step or after it. Run.Step runs the
// ones due in the reference's order and times them apart from the step and
// from the copies between host and device.

import (
	"time"
)

// hostOp is one periodic host operation.
type hostOp struct {
	name  string
	every int  // it runs at the iterations i with i%every == 0
	after bool // after the step (else before it)
	// run applies it at iteration it, making its own copies between host
	// and device (the images or the canvas), and returns the names of what
	// it did: its name, and any variant applied (the blur's brightness).
	run func(it *iteration) ([]string, error)
}

// iteration is what one iteration's host operations and step share.
type iteration struct {
	i      int
	sch    Schedule
	ox, oy int // the jitter window's offset
	// mask1 is the centred Gaussian: the gradient mask and the weight of
	// the blurred and denoised images in the blends; mask2 is |1 − mask1|,
	// made on first use.
	mask1, mask2 []float32
}

// inverse returns mask2.
func (it *iteration) inverse() []float32 {
	if it.mask2 == nil {
		it.mask2 = invert(it.mask1)
	}
	return it.mask2
}

// hostOps returns the run's host operations, in the reference's order:
// the re-crop from the jitter canvas (with jitter), the centre-weighted
// blur (and brightness) before the step; the centre-weighted TV denoising
// after it.
func (r *Run) hostOps() []hostOp {
	h, st, cfg := r.host, r.st, &r.cfg
	var ops []hostOp
	if h.canvas != nil {
		ops = append(ops, hostOp{name: "crop", every: cfg.WindowStep, run: func(it *iteration) ([]string, error) {
			if err := st.fetchCanvas(); err != nil {
				return nil, err
			}
			h.crop(it.ox, it.oy)
			return []string{"crop"}, nil
		}})
	}
	return append(ops,
		hostOp{name: "blur", every: cfg.BlurEvery, run: func(it *iteration) ([]string, error) {
			done, bright := []string{"blur"}, 0.0
			if it.i%cfg.BrightnessStep == 0 {
				done, bright = append(done, "brightness"), cfg.Brightness
			}
			if err := st.syncHost(); err != nil {
				return nil, err
			}
			h.blurBlend(it.mask1, it.inverse(), it.sch.BlurSigma, bright)
			return done, nil
		}},
		hostOp{name: "denoise", every: cfg.DenoiseEvery, after: true, run: func(it *iteration) ([]string, error) {
			if err := st.syncHost(); err != nil {
				return nil, err
			}
			h.denoiseBlend(it.mask1, it.inverse(), it.sch.DenoiseWeight, cfg.DenoiseMaxIter, cfg.DenoiseEps)
			return []string{"denoise"}, nil
		}})
}

// runHost runs the operations of one side of the step (after or before
// it) that are due at it, and adds their names, host time and copy time to
// ev. Each leaves the host's images current (the device's are dropped).
func (r *Run) runHost(after bool, it *iteration, ev *Event) error {
	for _, op := range r.ops {
		if op.after != after || op.every <= 0 || it.i%op.every != 0 {
			continue
		}
		t0 := time.Now()
		done, err := op.run(it)
		if err != nil {
			return err
		}
		r.st.hostChanged()
		tr := r.st.takeTransfer()
		ev.HostTime += time.Since(t0) - tr
		ev.TransferTime += tr
		ev.Ops = append(ev.Ops, done...)
	}
	return nil
}
