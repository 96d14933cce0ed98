package mindseye

// Stage C's loop over the compiled step: the K images are stepped in
// micro-batches (each image's gradient depends on that image alone, see
// netSpec.loss), and each micro-batch's images, jitter canvas and momentum
// buffer stay on the device between the host operations that need them.

import (
	"fmt"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// chunk is one micro-batch: images lo … lo+n−1.
type chunk struct {
	lo, n           int
	target, weights *tensors.Tensor // [n, C], T and W⊙T, on the device
	// pixels are the images on the device; nil when the host's copy is
	// newer.
	pixels *tensors.Tensor
	canvas *tensors.Tensor // [n, cs, cs, 3], with jitter
	buf    *tensors.Tensor // momentum buffer, after the first persistent step
}

// stepper runs the compiled step over the micro-batches and keeps the
// host's copy of the images (host.cur) and the device's in step.
type stepper struct {
	b      compute.Backend
	spec   *netSpec
	exec   *model.Exec
	h      *host
	c      int
	chunks []*chunk
	// hostFresh says host.cur holds the current images; otherwise the
	// chunks' device pixels do.
	hostFresh bool
	// transfer is the time spent copying between host and device since
	// takeTransfer; copies counts the copies of micro-batches' images.
	transfer time.Duration
	copies   int
}

// chunkSizes splits k images into micro-batches of at most micro images,
// as even as possible (so at most two shapes are compiled).
func chunkSizes(k, micro int) []int {
	n := (k + micro - 1) / micro
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = k / n
		if i < k%n {
			sizes[i]++
		}
	}
	return sizes
}

// newStepper compiles the step for h's images (and canvas, if any) with
// the K×C target and channel weights, in micro-batches of at most micro
// images.
func newStepper(b compute.Backend, spec *netSpec, h *host, target, weights []float32, c, micro int) (*stepper, error) {
	spec.jitter = h.canvas != nil
	weights = weightedTarget32(weights, target)
	exec, err := model.NewExec(b, spec.m.Store(), spec.stepFn)
	if err != nil {
		return nil, fmt.Errorf("mindseye: building the step for %s: %w", spec.m.Name(), err)
	}
	st := &stepper{b: b, spec: spec, exec: exec, h: h, c: c, hostFresh: true}
	lo := 0
	for _, n := range chunkSizes(h.k, micro) {
		ch := &chunk{lo: lo, n: n}
		st.chunks = append(st.chunks, ch)
		if ch.target, err = st.upload(target[lo*c:(lo+n)*c], n, c); err != nil {
			break
		}
		if ch.weights, err = st.upload(weights[lo*c:(lo+n)*c], n, c); err != nil {
			break
		}
		if h.canvas != nil {
			cs := h.cs
			if ch.canvas, err = st.upload(h.canvas[lo*cs*cs*3:(lo+n)*cs*cs*3], n, cs, cs, 3); err != nil {
				break
			}
		}
		lo += n
	}
	if err != nil {
		st.finalize()
		return nil, err
	}
	return st, nil
}

// micro returns the largest micro-batch size.
func (st *stepper) micro() int { return st.chunks[0].n }

// upload copies data to a new device tensor of the given dimensions.
func (st *stepper) upload(data []float32, dims ...int) (*tensors.Tensor, error) {
	t0 := time.Now()
	t := tensors.FromFlatDataAndDimensions(data, dims...)
	if err := t.ToDevice(st.b, 0); err != nil {
		t.FinalizeAll()
		return nil, fmt.Errorf("mindseye: copying to the device: %w", err)
	}
	st.transfer += time.Since(t0)
	return t, nil
}

// download copies a device tensor into dst.
func (st *stepper) download(dst []float32, t *tensors.Tensor) error {
	t0 := time.Now()
	err := t.ConstFlatData(func(flat any) { copy(dst, flat.([]float32)) })
	st.transfer += time.Since(t0)
	if err != nil {
		return fmt.Errorf("mindseye: copying from the device: %w", err)
	}
	return nil
}

// takeTransfer returns the transfer time since the last call.
func (st *stepper) takeTransfer() time.Duration {
	d := st.transfer
	st.transfer = 0
	return d
}

// syncHost makes host.cur current, copying the images from the device if
// they changed there.
func (st *stepper) syncHost() error {
	if st.hostFresh {
		return nil
	}
	px := st.h.pixels()
	for _, ch := range st.chunks {
		if err := st.download(st.h.cur[ch.lo*px:(ch.lo+ch.n)*px], ch.pixels); err != nil {
			return err
		}
		st.copies++
	}
	st.hostFresh = true
	return nil
}

// hostChanged records that host.cur was changed: the device's images are
// dropped.
func (st *stepper) hostChanged() {
	st.hostFresh = true
	for _, ch := range st.chunks {
		replace(&ch.pixels, nil)
	}
}

// syncDevice copies the images to the device where the host's copy is
// newer.
func (st *stepper) syncDevice() error {
	px := st.h.pixels()
	size := st.h.size
	for _, ch := range st.chunks {
		if ch.pixels != nil {
			continue
		}
		t, err := st.upload(st.h.cur[ch.lo*px:(ch.lo+ch.n)*px], ch.n, size, size, 3)
		if err != nil {
			return err
		}
		ch.pixels = t
		st.copies++
	}
	return nil
}

// fetchCanvas copies the jitter canvas (with every paste so far) from the
// device into host.canvas.
func (st *stepper) fetchCanvas() error {
	cs := st.h.cs
	for _, ch := range st.chunks {
		if err := st.download(st.h.canvas[ch.lo*cs*cs*3:(ch.lo+ch.n)*cs*cs*3], ch.canvas); err != nil {
			return err
		}
	}
	return nil
}

// replace finalizes *t and sets it to v.
func replace(t **tensors.Tensor, v *tensors.Tensor) {
	if *t != nil && *t != v {
		(*t).FinalizeAll()
	}
	*t = v
}

// stepOut is what a step or a measurement returns: the loss terms of the
// images before the step, summed over the micro-batches, and with
// withGrad, the raw input gradient [K, 3, S, S].
type stepOut struct {
	terms Terms
	grad  []float32
}

// step runs one gradient step of every micro-batch with the gradient mask
// [S, S], pasting the images into the canvas at (ox, oy) first with
// jitter. The images are then current on the device only.
func (st *stepper) step(mask []float32, lr, lambda float64, ox, oy int) (stepOut, error) {
	return st.exec1(mask, lr, lambda, ox, oy, nil)
}

// measure returns the loss terms of the current images and their pooled
// target activations [K·C], changing nothing: a step with lr = 0 whose
// outputs other than the terms and activations are dropped.
func (st *stepper) measure(lambda float64) (Terms, []float32, error) {
	size := st.h.size
	a := make([]float32, st.h.k*st.c)
	out, err := st.exec1(make([]float32, size*size), 0, lambda, 0, 0, a)
	return out.terms, a, err
}

// exec1 runs the step on every micro-batch; with a != nil it is a
// measurement that stores the pooled activations in a and keeps the state.
func (st *stepper) exec1(mask []float32, lr, lambda float64, ox, oy int, a []float32) (res stepOut, err error) {
	if err := st.syncDevice(); err != nil {
		return res, err
	}
	size := st.h.size
	m, err := st.upload(mask, size, size)
	if err != nil {
		return res, err
	}
	defer m.FinalizeAll()
	spec := st.spec
	if spec.withGrad {
		res.grad = make([]float32, 0, st.h.k*3*size*size)
	}
	for _, ch := range st.chunks {
		args := []any{ch.pixels, ch.target, ch.weights, m, float32(lr), float32(lambda)}
		if spec.jitter {
			args = append(args, ch.canvas, int32(ox), int32(oy))
		}
		if spec.persistent {
			buf := ch.buf
			if buf == nil {
				buf = tensors.FromShape(shapes.Make(dtypes.Float32, ch.n, 3, size, size))
				defer buf.FinalizeAll()
			}
			args = append(args, buf)
		}
		out, err := st.exec.Exec(args...)
		if err != nil {
			return res, fmt.Errorf("mindseye: step: %w", err)
		}
		terms, err := termsOf(out[1])
		if err == nil && a != nil {
			err = out[2].ConstFlatData(func(flat any) { copy(a[ch.lo*st.c:], flat.([]float32)) })
		}
		i := 3
		var canvas, buf *tensors.Tensor
		if spec.jitter {
			canvas = out[i]
			i++
		}
		if spec.persistent {
			buf = out[i]
			i++
		}
		if err == nil && spec.withGrad {
			err = out[i].ConstFlatData(func(flat any) { res.grad = append(res.grad, flat.([]float32)...) })
		}
		if err != nil || a != nil {
			for _, t := range out {
				t.FinalizeAll()
			}
			if err != nil {
				return res, err
			}
		} else {
			replace(&ch.pixels, out[0])
			replace(&ch.canvas, canvas)
			replace(&ch.buf, buf)
			for _, t := range out[1:] {
				if t != canvas && t != buf {
					t.FinalizeAll()
				}
			}
		}
		res.terms = res.terms.add(terms)
	}
	if a == nil {
		st.hostFresh = false
	}
	return res, nil
}

// finalize frees the compiled step and the device tensors.
func (st *stepper) finalize() {
	st.exec.Finalize()
	for _, ch := range st.chunks {
		for _, t := range []**tensors.Tensor{&ch.target, &ch.weights, &ch.pixels, &ch.canvas, &ch.buf} {
			replace(t, nil)
		}
	}
}

func termsOf(t *tensors.Tensor) (Terms, error) {
	v, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return Terms{}, err
	}
	return Terms{Activation: float64(v[0]), Distance: float64(v[1]), L1: float64(v[2]), Total: float64(v[3])}, nil
}

// add returns the sum of two sets of terms.
func (t Terms) add(u Terms) Terms {
	return Terms{Activation: t.Activation + u.Activation, Distance: t.Distance + u.Distance,
		L1: t.L1 + u.L1, Total: t.Total + u.Total}
}
