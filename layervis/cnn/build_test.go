package cnn_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/bench"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/nn"
	"github.com/layervis/layervis/layervis/torchvision"
)

// counted is a model whose Build records the batch sizes it was built for,
// and which says its layers are per image where sep.
type counted struct {
	cnn.Model
	sep     bool
	sum     bool // Build sums the images of each activation (a model that mixes them)
	batches []int
	cores   []int // cnn.PartCores at each Build
}

func (c *counted) Separable(...string) bool { return c.sep }

func (c *counted) Build(x *Node, layers ...string) []*Node {
	c.batches = append(c.batches, x.Shape().Dim(0))
	c.cores = append(c.cores, cnn.PartCores(x.Graph()))
	acts := c.Model.Build(x, layers...)
	if c.sum {
		for i, a := range acts {
			acts[i] = ReduceAndKeep(a, ReduceSum, 0)
		}
	}
	return acts
}

// TestBuildBranches checks that Build splits a batch into a branch per core
// where the backend runs ops in parallel and the model's layers are per
// image, and not where it runs them one at a time, the batch has one image
// or the model does not say its layers are per image; the cores it says
// each part has (PartCores); and that the activations and the input
// gradient are those of one graph.
func TestBuildBranches(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	layers := []string{"layer2", "layer1.0.relu"}
	run := func(config string, batch int, sep, sum bool) (batches, cores []int, out [][]float32) {
		b, err := backend.New(config)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Finalize()
		// A model's weights live on one backend: the same seed's, anew.
		m, err := torchvision.Random("resnet18", 1)
		if err != nil {
			t.Fatal(err)
		}
		c := &counted{Model: m, sep: sep, sum: sum}
		exec := model.MustNewExec(b, m.Store(), func(_ *model.Scope, x *Node) []*Node {
			acts := cnn.Build(c, x, layers...)
			if n := cnn.PartCores(x.Graph()); n != 1 {
				t.Errorf("PartCores after Build: %d, want 1", n)
			}
			loss := ReduceAllSum(Mul(acts[0], Sin(IotaFull(x.Graph(), acts[0].Shape()))))
			loss = Add(loss, ReduceAllSum(Mul(acts[1], Cos(IotaFull(x.Graph(), acts[1].Shape())))))
			return append(acts, Gradient(loss, x)[0])
		})
		defer exec.Finalize()
		for _, r := range exec.MustExec(bench.Input(m, batch, 32)) {
			out = append(out, tensors.MustCopyFlatData[float32](r))
		}
		return c.batches, c.cores, out
	}
	for _, tc := range []struct {
		config   string
		batch    int
		sep, sum bool
		batches  []int
		cores    []int
	}{
		{"go", 3, true, false, []int{1, 2}, []int{1, 1}},
		{"go:ops_parallel", 2, true, false, []int{1, 1}, []int{1, 1}},
		{"go", 1, true, false, []int{1}, []int{2}},
		{"go:ops_sequential", 3, true, false, []int{3}, []int{1}},
		{"go", 3, false, false, []int{3}, []int{2}},
		// Separable wrongly: the second part's sum has one image, not two,
		// so the batch is built whole.
		{"go", 3, true, true, []int{1, 2, 3}, []int{1, 1, 2}},
	} {
		t.Run(fmt.Sprint(tc.config, " batch ", tc.batch, " separable ", tc.sep, " sum ", tc.sum), func(t *testing.T) {
			batches, cores, got := run(tc.config, tc.batch, tc.sep, tc.sum)
			if !slices.Equal(batches, tc.batches) {
				t.Errorf("built for batches %v, want %v", batches, tc.batches)
			}
			if !slices.Equal(cores, tc.cores) {
				t.Errorf("cores per part %v, want %v", cores, tc.cores)
			}
			_, _, want := run("go:ops_sequential", tc.batch, false, tc.sum)
			for i, what := range []string{layers[0], layers[1], "input gradient"} {
				if len(got[i]) != len(want[i]) {
					t.Fatalf("%s: %d values, want %d", what, len(got[i]), len(want[i]))
				}
				var worst float64
				for j := range got[i] {
					worst = max(worst, float64(abs(got[i][j]-want[i][j])))
				}
				if worst > 1e-5 {
					t.Errorf("%s: branches differ from one graph by up to %g", what, worst)
				}
			}
		})
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// bandCounter is a model whose Build records cnn.Bands with cnn.BandRows.
type bandCounter struct {
	cnn.Model
	bands []int
}

func (c *bandCounter) Separable(...string) bool { return true }

func (c *bandCounter) Build(x *Node, layers ...string) []*Node {
	c.bands = append(c.bands, cnn.Bands(x, "m", cnn.BandRows))
	return c.Model.Build(x, layers...)
}

// TestBands checks how many bands cnn.Bands gives each part of a batch:
// one per core of the part where each has cnn.BandRows rows or the rows
// cnn.BandRowsEnvVar sets, and one (the image whole) in a graph whose
// ReLUs take redirected gradients.
func TestBands(t *testing.T) {
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cores, batch, size int
		rows               string
		redirect           bool
		want               []int
	}{
		{4, 1, 128, "", false, []int{4}},    // 32 rows on 4 cores
		{4, 2, 128, "", false, []int{2, 2}}, // 2 cores per image: 64 rows
		{2, 1, 96, "", false, []int{1}},     // 64 rows on 2 cores
		{2, 1, 96, "48", false, []int{2}},
		{4, 1, 128, "100", false, []int{1}},
		{4, 1, 128, "", true, []int{1}},
	} {
		t.Run(fmt.Sprintf("%dcores/%d²×%d/rows=%s/redirect=%v", tc.cores, tc.size, tc.batch, tc.rows, tc.redirect), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.cores))
			if tc.rows != "" {
				t.Setenv(cnn.BandRowsEnvVar, tc.rows)
			}
			b := backend.MustGet()
			if backend.Branches(b) < 2 {
				t.Skip("the backend builds no branches:", backend.Describe(b))
			}
			g := NewGraph(b, "bands")
			defer g.Finalize()
			model.SetStore(g, m.Store())
			if tc.redirect {
				nn.RedirectReLUs(g)
			}
			c := &bandCounter{Model: m}
			cnn.Build(c, Parameter(g, "x", shapes.Make(dtypes.Float32, tc.batch, 3, tc.size, tc.size)), "layer1")
			if !slices.Equal(c.bands, tc.want) {
				t.Errorf("bands per part %v, want %v", c.bands, tc.want)
			}
		})
	}
}
