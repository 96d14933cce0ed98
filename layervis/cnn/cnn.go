// Package cnn defines what layervis knows about a convolutional network: how
// its input is prepared ([Input]), which layers it has ([Layer], the
// catalogue), and how to build the activations of any set of those layers
// inside a GoMLX graph ([Model]).
//
// Layer names are the names users already know from the model's own
// framework: torchvision module paths ("layer4.2", "layer4.2.conv3",
// "features.29"), TF.js or ONNX node names. A name with the suffix ":in"
// ([InputSuffix]) is the input of that module rather than its output
// ("layer4.2.conv3:in"). When a module runs several times in one forward pass
// (torchvision's blocks reuse one ReLU module), the name refers to its last
// call, as a PyTorch forward hook would.
//
// Activations are always returned in NCHW layout (batch, channels, height,
// width), and model inputs are NCHW too, whatever the framework's own layout.
package cnn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// InputSuffix marks a layer name that refers to a module's input.
const InputSuffix = ":in"

// Input describes the images a model expects.
type Input struct {
	Channels int    // number of channels, 3 for colour models
	Order    string // channel order, "RGB" or "BGR"
	// Range is the pixel value range before normalization: {0, 1} for
	// torchvision, {0, 255} for most TF.js models.
	Range [2]float32
	// Mean and Std normalize each channel after scaling to Range:
	// (v − Mean[c]) / Std[c]. Empty means no normalization.
	Mean, Std []float32
	Size      int // default (square) input size
	MinSize   int // smallest input size the network accepts
	Multiple  int // input sizes must be a multiple of this; 0 or 1 means any
}

// CheckSize returns an error if the network cannot take an h×w input.
func (in Input) CheckSize(h, w int) error {
	for _, d := range []int{h, w} {
		if d < in.MinSize {
			return fmt.Errorf("input size %dx%d is below the model's minimum of %d", h, w, in.MinSize)
		}
		if in.Multiple > 1 && d%in.Multiple != 0 {
			return fmt.Errorf("input size %dx%d: each side must be a multiple of %d", h, w, in.Multiple)
		}
	}
	return nil
}

// Normalize maps a pixel value v in [0,1] of channel c (in the model's
// channel order) to the value the network takes.
func (in Input) Normalize(v float32, c int) float32 {
	v = in.Range[0] + v*(in.Range[1]-in.Range[0])
	if len(in.Mean) > c {
		v = (v - in.Mean[c]) / in.Std[c]
	}
	return v
}

// Denormalize is the inverse of [Input.Normalize]: it maps a network input
// value of channel c back to a pixel value in [0,1] (not clamped).
func (in Input) Denormalize(v float32, c int) float32 {
	if len(in.Mean) > c {
		v = v*in.Std[c] + in.Mean[c]
	}
	return (v - in.Range[0]) / (in.Range[1] - in.Range[0])
}

// ImageNet returns the input convention of networks trained on ImageNet
// the torchvision way: RGB scaled to [0,1], then normalized with the
// ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225), 224×224
// by default. It sets no size limits (MinSize and Multiple are 0): a model
// sets its own. Each call returns new Mean and Std slices.
func ImageNet() Input {
	return Input{
		Channels: 3, Order: "RGB", Range: [2]float32{0, 1},
		Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225},
		Size: 224,
	}
}

// Layer is one entry of a model's layer catalogue.
type Layer struct {
	Name string // the name to request it by
	Kind string // module or op type, e.g. "Conv2d", "Bottleneck", "_FusedConv2D"
	// Shape is the output shape for one image at the catalogue's input size:
	// [C, H, W] for feature maps, [N] for vectors.
	Shape []int
	// Labels names the channels where they have a meaning (class logits).
	Labels []string
}

// Model is a network whose layers can be built inside a GoMLX graph.
type Model interface {
	// Name is a short identifier such as "resnet50".
	Name() string
	// Input describes the images the network takes.
	Input() Input
	// Store holds the model's (frozen) weights as GoMLX variables. Graphs
	// that call Build must be executed with model.NewExec over this store.
	Store() *model.Store
	// Layers returns the layer catalogue for an h×w input, in forward order.
	// It runs nothing: the shapes come from a graph built on the host
	// (backend.Local), whatever backend the model later runs on.
	Layers(h, w int) ([]Layer, error)
	// Build returns, for a network input x [B,C,H,W] (already normalized as
	// Input says), the activations of the named layers in NCHW layout. Only
	// the part of the network up to the deepest requested layer is built, so
	// a gradient w.r.t. x costs that forward and its backward. Like every
	// GoMLX graph-building function it panics on bad names; use [Check]
	// first for an error.
	Build(x *graph.Node, layers ...string) []*graph.Node
	// Has reports whether name is a layer of the model.
	Has(name string) bool
	// Names lists every layer name (module outputs; inputs are the same names
	// with InputSuffix).
	Names() []string
}

// Check returns an error naming the first layer m does not have, with the
// closest layer names as suggestions.
func Check(m Model, layers ...string) error {
	if len(layers) == 0 {
		return fmt.Errorf("model %s: no layer requested", m.Name())
	}
	for _, l := range layers {
		if !m.Has(l) {
			if e, ok := m.(LayerExplainer); ok {
				if err := e.LayerError(l); err != nil {
					return err
				}
			}
			return UnknownLayerError(m.Name(), l, m.Names())
		}
	}
	return nil
}

// LayerExplainer is implemented by models some of whose nodes exist but
// cannot be used as layers (an unsupported op, say): LayerError says why
// name is not a layer, or returns nil if it is one.
type LayerExplainer interface {
	LayerError(name string) error
}

// UnknownLayerError builds the error for a layer name not in names, listing
// the closest names.
func UnknownLayerError(modelName, name string, names []string) error {
	close := Closest(strings.TrimSuffix(name, InputSuffix), names, 5)
	return fmt.Errorf("model %s has no layer %q; closest: %s (list all with: go run ./examples/layers -model MODEL)",
		modelName, name, strings.Join(close, ", "))
}

// Closest returns up to n names nearest to name, by edit distance with a
// bonus for shared prefixes and substrings.
func Closest(name string, names []string, n int) []string {
	type scored struct {
		s    string
		cost int
	}
	all := make([]scored, 0, len(names))
	for _, c := range names {
		cost := levenshtein(strings.ToLower(name), strings.ToLower(c))
		if strings.Contains(c, name) || strings.Contains(name, c) {
			cost -= 2
		}
		all = append(all, scored{c, cost})
	}
	slices.SortStableFunc(all, func(a, b scored) int { return a.cost - b.cost })
	out := make([]string, 0, n)
	for _, s := range all[:min(n, len(all))] {
		out = append(out, s.s)
	}
	return out
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Shapes returns the output shapes (without the batch axis) of the named
// layers for an h×w input, by building, not running, a graph on backend b.
func Shapes(b compute.Backend, m Model, h, w int, layers ...string) (out [][]int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("model %s: %v", m.Name(), r)
		}
	}()
	g := graph.NewGraph(b, "shapes")
	defer g.Finalize()
	model.SetStore(g, m.Store())
	in := m.Input()
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 1, in.Channels, h, w))
	for _, n := range m.Build(x, layers...) {
		out = append(out, n.Shape().Dimensions[1:])
	}
	return out, nil
}

// LayerDefaults is implemented by models that suggest which layers to
// visualize when the user names none: the Mind's Eye (package mindseye)
// takes both, examples/channels and examples/layers the target.
type LayerDefaults interface {
	// DefaultLayers returns the target layer, the network's final features
	// (the Mind's Eye pools them to define its facets), and the penalty
	// layer, the input of the convolution that computes them (the Mind's
	// Eye keeps its activations small with an L1 penalty).
	DefaultLayers() (target, penalty string)
}
