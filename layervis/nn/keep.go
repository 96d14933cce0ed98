package nn

// Keepers: copies of a model's weights in the layouts the pure-Go
// backend's products want, made once rather than in every step.

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/backend"
)

// A Keeper returns, as a node of the graph being built, a copy of a
// model's weight in another layout, made once and kept with the model
// rather than rearranged in every step: fill writes it into dst (of shape
// dims, row-major) from the weight's values w. layout names the
// arrangement; a keeper makes each layout of each weight once.
type Keeper func(layout string, dims []int, fill func(w, dst []float32)) *Node

// SetKeeper records, in the graph of the kernel matrix w [k²·Cin, Cout] of
// a convolution, keep as the keeper of w's other layouts. On the pure-Go
// backend, the input gradient of a convolution by w then multiplies by
// copies in the layouts compute v0.1.6 multiplies fastest, which would
// cost more to make in every step than they save: wᵀ [Cout, k²·Cin] (at
// 1×1 and at strides > 1: the contracted axis first, as fast on many rows
// but 1.2× faster on 98, 1.6× on 28, a band of ResNet-50's last stage at
// 224²: BenchmarkLayout, one core) and the transposed convolution's
// kernel [k²·Cout, Cin] (at stride 1: the exact rows of the output rather
// than col2im's shifted grid, which multiplies twice as many in that
// band). Each is asked for at most once per graph, and only there; on
// other backends keep is not called. Together they made ResNet-50's
// step at 224² (BenchmarkStep, 2 cores) 10% faster. A stride-1 3×3
// convolution of at least 128 channels each way (winogradPays) is built
// by F(2×2, 3×3), forward pass included, from the kernel's transform
// G w Gᵀ [16, Cin, Cout] and, for its input gradient, that of the
// transposed convolution's kernel [16, Cout, Cin], 16/9 of the kernel's
// values each; its kernel then has no gradient (a model that keeps
// copies has frozen weights). Setting w's keeper again (a model built
// twice in a graph) replaces it, and keeps the copies already asked for.
func SetKeeper(w *Node, keep Keeper) {
	g := w.Graph()
	keepers, _ := g.State(keepersKey{}).(map[*Node]*keeper)
	if keepers == nil {
		keepers = map[*Node]*keeper{}
		g.AttachState(keepersKey{}, keepers)
	}
	if k := keepers[w]; k != nil {
		k.keep = keep
		return
	}
	keepers[w] = &keeper{keep: keep, kept: map[string]*Node{}}
}

// keepersKey is the graph state that maps kernel matrices to their
// keepers (SetKeeper).
type keepersKey struct{}

// keeper is a kernel matrix's Keeper, with the copies asked for in this
// graph by layout.
type keeper struct {
	keep Keeper
	kept map[string]*Node
}

// The layouts kept of a convolution's kernel matrix [k²·Cin, Cout].
const (
	transposedLayout     = "transposed"      // [Cout, k²·Cin]
	tapsTransposedLayout = "taps-transposed" // [k²·Cout, Cin]: each tap's block transposed
)

// kept returns the copy of w in layout (of shape dims, filled by fill)
// from w's keeper, or nil where w has none or the backend is not the
// pure-Go one.
func kept(w *Node, layout string, dims []int, fill func(w, dst []float32)) *Node {
	if !backend.IsGo(w.Graph().Backend()) {
		return nil
	}
	keepers, _ := w.Graph().State(keepersKey{}).(map[*Node]*keeper)
	k := keepers[w]
	if k == nil {
		return nil
	}
	if c := k.kept[layout]; c != nil {
		return c
	}
	c := k.keep(layout, dims, fill)
	if !slices.Equal(c.Shape().Dimensions, dims) || c.DType() != w.DType() {
		exceptions.Panicf("nn: the kept %s copy of the kernel %s is %s, want %s %v (internal error)",
			layout, w.Shape(), c.Shape(), w.DType(), dims)
	}
	k.kept[layout] = c
	return c
}

// transposeFill returns the fill of wᵀ [n, m] from w [m, n].
func transposeFill(m, n int) func(w, dst []float32) {
	return func(w, dst []float32) {
		for r := range m {
			for c := range n {
				dst[c*m+r] = w[r*n+c]
			}
		}
	}
}

// tapsTransposeFill returns the fill of the transposed convolution's
// kernel [taps·cout, cin] from w [taps·cin, cout], as transposedKernel
// computes it in the graph.
func tapsTransposeFill(taps, cin, cout int) func(w, dst []float32) {
	return func(w, dst []float32) {
		for t := range taps {
			transposeFill(cin, cout)(w[t*cin*cout:(t+1)*cin*cout], dst[t*cin*cout:(t+1)*cin*cout])
		}
	}
}

// Copies makes and keeps a model's weights in other layouts, as frozen
// variables of their own (in a store of their own), each made the first
// time a graph asks for it (see [Copies.Keeper]) and shared by the graphs
// after it. A forward pass asks only for the transforms that F(2×2, 3×3)
// convolutions multiply by (see SetKeeper). The weights must not change
// after their copies are made. The zero value is ready to use; a Copies
// may be used by concurrent graph builds, and must not be copied.
type Copies struct {
	mu    sync.Mutex
	store *model.Store
}

// Keeper returns the [Keeper] of the weight variable w in the graph g: it
// makes a copy on the first call for each layout and returns it as a node
// of g. It panics, as graph-building functions do, if w has no value.
func (c *Copies) Keeper(g *Graph, w *model.Variable) Keeper {
	return func(layout string, dims []int, fill func(w, dst []float32)) *Node {
		v, err := c.of(w, layout, dims, fill)
		if err != nil {
			panic(err)
		}
		return v.NodeValue(g)
	}
}

// Len returns the number of copies made so far.
func (c *Copies) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store == nil {
		return 0
	}
	return len(slices.Collect(c.store.IterVariables()))
}

// of returns the copy of w in layout, making it if it is the first.
func (c *Copies) of(w *model.Variable, layout string, dims []int, fill func(w, dst []float32)) (*model.Variable, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store == nil {
		c.store = model.NewStore()
	}
	// A graph tells variables apart by path, across stores.
	path := "/" + layout + w.Path()
	if v := c.store.GetVariable(path); v != nil {
		return v, nil
	}
	fail := func(err error) (*model.Variable, error) {
		return nil, fmt.Errorf("the weight %q in layout %s: %w", w.Path(), layout, err)
	}
	for _, d := range dims {
		if d <= 0 {
			return fail(fmt.Errorf("dimensions %v: want positive sizes", dims))
		}
	}
	t, err := w.Value()
	if err != nil {
		return fail(err)
	}
	data, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return fail(err)
	}
	dst := make([]float32, shapes.Make(dtypes.Float32, dims...).Size())
	fill(data, dst)
	v, err := c.store.CreateVariable(path, tensors.FromFlatDataAndDimensions(dst, dims...))
	if err != nil {
		return fail(err)
	}
	v.SetTrainable(false)
	return v, nil
}
