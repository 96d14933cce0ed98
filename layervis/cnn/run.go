package cnn

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/nn"
)

// Separable is implemented by models that can tell whether the named
// layers compute each image of a batch from that image alone, the batch
// their first axis: then [Build] may build a batch in independent parts.
type Separable interface {
	Separable(layers ...string) bool
}

// Build returns m.Build(x, layers...) for the NCHW batch x, built, if m is
// [Separable] for these layers, as up to [backend.Branches] independent
// batches of whole images (at most one per image), whose activations it
// concatenates. On the pure-Go backend running ops in parallel, each
// batch's ops then run beside the others': in one graph, every op but the
// matrix products would run on one core. Where there are more branches than
// parts, [PartCores] tells m.Build how many cores each part has, for
// models that split an image as well. Where a part's activation turns out
// not to have that part's images first, it builds the batch whole.
// Like m.Build it panics on unknown layers.
func Build(m Model, x *Node, layers ...string) []*Node {
	g := x.Graph()
	n, branches := x.Shape().Dim(0), backend.Branches(g.Backend())
	parts := min(n, branches)
	if s, ok := m.(Separable); !ok || !s.Separable(layers...) {
		parts = 1
	}
	defer g.AttachState(partCoresKey{}, nil)
	whole := func() []*Node {
		g.AttachState(partCoresKey{}, branches)
		return m.Build(x, layers...)
	}
	if parts <= 1 {
		return whole()
	}
	g.AttachState(partCoresKey{}, branches/parts)
	acts := make([][]*Node, len(layers))
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		for i, a := range m.Build(Slice(x, AxisRange(lo, hi)), layers...) {
			if a.Rank() == 0 || a.Shape().Dim(0) != hi-lo {
				return whole()
			}
			acts[i] = append(acts[i], a)
		}
	}
	out := make([]*Node, len(layers))
	for i, a := range acts {
		out[i] = Concatenate(a, 0)
	}
	return out
}

// partCoresKey is the graph state Build sets to the cores of each part.
type partCoresKey struct{}

// PartCores returns how many cores [Build] gives each part of the batch it
// is building in g: more than 1 only where the backend runs more branches
// than the batch has images (see [backend.Branches]), so that a model may
// build each image in that many independent pieces; 1 outside Build.
func PartCores(g *Graph) int {
	if c, ok := g.State(partCoresKey{}).(int); ok && c > 1 {
		return c
	}
	return 1
}

// Bands returns how many horizontal bands ([nn.Bands]) model builds each
// image of x [B,C,H,W] in: one per core that [Build] gives its part
// ([PartCores]), as long as each band has at least rows(cores) rows of the
// input, or the number [BandRowsEnvVar] sets; 1 in a graph whose ReLUs take
// redirected gradients ([nn.Redirecting]). Like a graph-building function
// it panics on a bad value of that variable, which Activations and the
// other entry points return as an error.
func Bands(x *Node, model string, rows func(cores int) int) int {
	if nn.Redirecting(x.Graph()) {
		return 1
	}
	cores := PartCores(x.Graph())
	least := rows(cores)
	if s := strings.TrimSpace(os.Getenv(BandRowsEnvVar)); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			exceptions.Panicf("%s=%q: want a whole number ≥ 1, the least input rows per band (unset, %s bands from %d rows on %d cores)",
				BandRowsEnvVar, s, model, least, cores)
		}
		least = n
	}
	return max(1, min(cores, x.Shape().Dim(2)/least))
}

// BandRows returns the least input rows of a band on the given cores for
// models without a rule of their own: 64 on 1 or 2 cores, 128/cores on more,
// down to 16 (layervis/torchvision's rule for ResNet-50 and VGG, which
// layervis/onnx takes for the torchvision networks it mostly loads).
func BandRows(cores int) int { return max(16, min(64, 128/max(cores, 1))) }

// BandRowsEnvVar names the environment variable that sets the least input
// rows of a band (a whole number ≥ 1) where a model splits an image into
// bands, one per core (see [Bands]): for measuring other splits than the
// models' defaults (on 2 cores 64 rows, 112 for ResNet-18/34, fewer on more
// cores; see scripts/gpu-check.sh). Unset or empty: the defaults.
const BandRowsEnvVar = "LAYERVIS_BAND_ROWS"

// Activations runs m on the NCHW batch x (network input, normalized) and
// returns the named layers' activations (NCHW).
func Activations(b compute.Backend, m Model, x *tensors.Tensor, layers ...string) ([]*tensors.Tensor, error) {
	if err := check(m, x, layers...); err != nil {
		return nil, err
	}
	exec, err := model.NewExec(b, m.Store(), func(_ *model.Scope, x *Node) []*Node {
		return Build(m, x, layers...)
	})
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(x)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	return out, nil
}

// MeanGradient returns the activation of layer for the NCHW batch x and the
// gradient of its mean (over all its elements) w.r.t. x.
func MeanGradient(b compute.Backend, m Model, x *tensors.Tensor, layer string) (act, grad *tensors.Tensor, err error) {
	if err := check(m, x, layer); err != nil {
		return nil, nil, err
	}
	exec, err := model.NewExec(b, m.Store(), func(_ *model.Scope, x *Node) (*Node, *Node) {
		a := Build(m, x, layer)[0]
		return a, Gradient(ReduceAllMean(a), x)[0]
	})
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(x)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	return out[0], out[1], nil
}

func check(m Model, x *tensors.Tensor, layers ...string) error {
	if err := Check(m, layers...); err != nil {
		return err
	}
	in := m.Input()
	s := x.Shape()
	if s.Rank() != 4 || s.Dim(1) != in.Channels {
		return fmt.Errorf("model %s takes [batch, %d, height, width] inputs, got %s", m.Name(), in.Channels, s)
	}
	if err := in.CheckSize(s.Dim(2), s.Dim(3)); err != nil {
		return fmt.Errorf("model %s: %w", m.Name(), err)
	}
	return nil
}
