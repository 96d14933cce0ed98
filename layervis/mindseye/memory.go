package mindseye

// Memory: the step's estimated memory and the choice of the micro-batch.

import (
	"fmt"
	"math"
	"runtime/debug"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/internal/memstat"
)

// goOverhead is the ratio of the pure-Go backend's resident memory during
// a step to graphPeak's count of the bytes live at once: the backend runs
// independent ops in parallel, rounds buffers up to pooled sizes and keeps
// freed ones pooled, and Go's collector lets garbage grow before
// collecting; graphPeak also counts masks kept at a byte per element,
// which the backend's pooled buffers round up. Measured with the step's
// benchmark (MINDSEYE_BENCH=arch,K,size, one micro-batch of K; the peaks
// include the weights and the runtime, the estimates do not), 2-core
// machine: ResNet-152 at 512², K = 1 and 3, graphPeak 177 and 531 MB,
// peaks 0.97 and 2.28 GB (0.65 GB per image, graphPeak 0.18); ResNet-50 at
// 224², K = 1 and 4, graphPeak 31 and 125 MB, peaks 0.31 and 0.62 GB
// (0.10 GB per image, graphPeak 0.031). 4 keeps the estimate above what
// each image adds.
const goOverhead = 4.0

// memoryModel estimates the step's peak memory for a micro-batch of n
// images as fixed + n·perImage bytes.
type memoryModel struct {
	perImage, fixed int64
}

// bytes returns the estimate for n images.
func (m memoryModel) bytes(n int) int64 { return m.fixed + int64(n)*m.perImage }

// estimateMemory builds the step's graph for micro-batches of 1 and 2
// images of size² (without running it) and returns the resident memory it
// needs on the pure-Go backend: goOverhead times the bytes of the
// intermediate values live at once (graphPeak).
func estimateMemory(b compute.Backend, spec *netSpec, size, c, cs int) (memoryModel, error) {
	var peaks [2]int64
	for i := range peaks {
		p, err := stepPeak(b, spec, i+1, size, c, cs)
		if err != nil {
			return memoryModel{}, err
		}
		peaks[i] = int64(goOverhead * float64(p))
	}
	per := max(peaks[1]-peaks[0], 1)
	return memoryModel{perImage: per, fixed: max(peaks[0]-per, 0)}, nil
}

// stepPeak returns graphPeak of the step for n images of size² (cs: the
// jitter canvas, with spec.jitter).
func stepPeak(b compute.Backend, spec *netSpec, n, size, c, cs int) (peak int64, err error) {
	whole := *spec
	whole.whole = true
	spec = &whole
	var outs []*Node
	exec, err := model.NewExec(b, spec.m.Store(), func(s *model.Scope, in []*Node) []*Node {
		outs = spec.stepFn(s, in)
		return outs
	})
	if err != nil {
		return 0, err
	}
	defer exec.Finalize()
	f32 := func(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
	in := []shapes.Shape{f32(n, size, size, 3), f32(n, c), f32(n, c), f32(size, size), f32(), f32()}
	if spec.jitter {
		in = append(in, f32(n, cs, cs, 3), shapes.Make(dtypes.Int32), shapes.Make(dtypes.Int32))
	}
	if spec.persistent {
		in = append(in, f32(n, 3, size, size))
	}
	g, err := exec.Compile(in...)
	if err != nil {
		return 0, fmt.Errorf("mindseye: building the step to estimate its memory: %w", err)
	}
	return graphPeak(g.Nodes(), outs), nil
}

// graphPeak simulates running nodes (a graph's, in creation order, which is
// a topological order) one at a time, each value held from the node that
// computes it to its last use (outputs to the end), and returns the most
// bytes held at once. Parameters and constants (the weights, the inputs)
// are not counted: they are held anyway.
func graphPeak(nodes, outputs []*Node) int64 {
	needed := map[*Node]bool{}
	var visit func(n *Node)
	visit = func(n *Node) {
		if needed[n] {
			return
		}
		needed[n] = true
		for _, in := range n.Inputs() {
			visit(in)
		}
	}
	pinned := map[*Node]bool{}
	for _, o := range outputs {
		visit(o)
		pinned[o] = true
	}
	uses := map[*Node]int{}
	for n := range needed {
		for _, in := range n.Inputs() {
			uses[in]++
		}
	}
	held := func(n *Node) int64 {
		if t := n.Type(); t == NodeTypeParameter || t == NodeTypeConstant {
			return 0
		}
		return int64(n.Shape().ByteSize())
	}
	var cur, peak int64
	for _, n := range nodes {
		if !needed[n] {
			continue
		}
		cur += held(n)
		peak = max(peak, cur)
		for _, in := range n.Inputs() {
			if uses[in]--; uses[in] == 0 && !pinned[in] {
				cur -= held(in)
			}
		}
	}
	return peak
}

// gb formats bytes as gigabytes.
func gb(b int64) string { return fmt.Sprintf("%.1f GB", float64(b)/1e9) }

// Shares of the available memory: the step's estimate must fit in
// fitShare of it at micro-batch 1, and the micro-batch is the largest whose
// estimate fits in batchShare (the rest is for the host's buffers, the
// estimate's error and the machine's other work; on a CPU, larger batches
// gain little speed).
const (
	fitShare   = 0.9
	batchShare = 0.5
)

// estimateStep estimates the step's memory on the pure-Go backend (r.mem)
// and checks that it fits the memory available (see fitError). Other
// backends (XLA) run the step in the device's memory, which is not
// estimated: r.mem stays zero.
func (r *Run) estimateStep() error {
	if !backend.IsGo(r.b) {
		return nil
	}
	spec := specFor(&r.cfg, r.cfg.Clusters)
	spec.jitter = r.cfg.Scale > 1
	cs := int(math.Round(float64(r.cfg.Size) * r.cfg.Scale))
	mem, err := estimateMemory(r.b, spec, r.cfg.Size, r.c, cs)
	if err != nil {
		return err
	}
	r.mem = mem
	r.report.Memory.StepPerImage, r.report.Memory.StepFixed = mem.perImage, mem.fixed
	_, err = r.available()
	return err
}

// available returns the memory available (0 if unknown) after returning
// what earlier stages freed to the system, records it in the report, and
// returns an error if the step does not fit it (see fitError).
func (r *Run) available() (int64, error) {
	debug.FreeOSMemory()
	avail, ok := memstat.Available()
	if !ok || r.mem.perImage == 0 {
		return 0, nil
	}
	r.report.Memory.Available = avail
	return avail, r.fitError(avail)
}

// fitError returns an error if the step's estimate for MicroBatch images
// (1 if automatic) exceeds fitShare of avail, naming the estimate, the
// memory available and the settings that would fit.
func (r *Run) fitError(avail int64) error {
	fits := func(b int64) bool { return float64(b) <= fitShare*float64(avail) }
	n := max(r.cfg.MicroBatch, 1)
	need := r.mem.bytes(n)
	if fits(need) {
		return nil
	}
	msg := fmt.Sprintf("mindseye: the optimization step of %s at %d² needs about %s for %d image(s) at a time (estimated from the step's graph) but only %s of memory is available",
		r.m.Name(), r.cfg.Size, gb(need), n, gb(avail))
	if n > 1 && fits(r.mem.bytes(1)) {
		return fmt.Errorf("%s; lower MicroBatch (-micro-batch), or leave it 0 to choose it from the memory", msg)
	}
	// The memory grows with the pixels; K does not matter, as the images
	// are stepped a micro-batch at a time.
	in := r.m.Input()
	step := 32 // sizes a network of any stride takes
	if in.Multiple > 1 {
		step = in.Multiple
	}
	for s := (r.cfg.Size - 1) / step * step; s >= max(in.MinSize, 8); s -= step {
		f := float64(s) * float64(s) / (float64(r.cfg.Size) * float64(r.cfg.Size))
		if est := r.mem.fixed + int64(f*float64(r.mem.perImage)); fits(est) {
			return fmt.Errorf("%s; use Size %d (-size %d, about %s) or less, or an earlier target layer (-layer); fewer Clusters (-clusters) would not help, as the images are stepped one at a time", msg, s, s, gb(est))
		}
	}
	return fmt.Errorf("%s, even at the smallest size; free memory or use a smaller model", msg)
}

// microBatch returns the number of images to step at once: Config.MicroBatch
// if set, else, on the pure-Go backend, the most (up to K) whose estimated
// memory fits in batchShare of the memory available, else K. It returns
// fitError's error.
func (r *Run) microBatch() (int, error) {
	avail, err := r.available()
	if err != nil {
		return 0, err
	}
	if r.cfg.MicroBatch > 0 {
		return min(r.cfg.MicroBatch, r.k), nil
	}
	if avail == 0 {
		return r.k, nil
	}
	n := int((batchShare*float64(avail) - float64(r.mem.fixed)) / float64(r.mem.perImage))
	return min(max(n, 1), r.k), nil
}
