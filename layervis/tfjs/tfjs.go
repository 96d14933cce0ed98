// Package tfjs loads TensorFlow.js graph models (a model.json file and its
// binary weight shards, as written by tensorflowjs_converter) as layervis
// models.
//
// Every node of the TF graph that depends on the image input and whose op
// layervis supports (see [SupportedOps]) is a layer, named by its TF node
// name ("tower_0/MobilenetV3/expanded_conv_3/add"); the layer's Kind is the
// TF op. A name with the suffix ":in" is the node's first input. Nodes that
// need an unsupported op, such as a detector's post-processing (TopKV2,
// GatherV2, ...), are left out of the catalogue; Load fails only when no
// layer at all can be built, and [Model.LayerError] says why a node is not
// a layer.
//
// The graph runs in NHWC internally, as TF does; like every layervis model,
// [Model.Build] takes NCHW input and returns rank-4 layers in NCHW (other
// ranks as the graph has them). Weights may be float32, float16 or
// uint8/uint16-quantized (q·scale + min); int32 constants hold shapes, axes
// and sizes.
//
// Converted graphs hard-code sizes for the input placeholder's shape. Two
// rules let them take other sizes and batches: a resize node's constant
// output size is scaled by (input size / placeholder size), so an upsampling
// by 2 stays an upsampling by 2; and a Reshape whose constant shape starts
// with 1 keeps the actual batch size.
//
// Package zoo opens the offline demo model, a TF.js graph model, with its
// input convention and class labels.
package tfjs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/nn"
)

// maxJSONBytes bounds the size of model.json (256 MiB).
const maxJSONBytes = 256 << 20

// Options adjusts what [LoadWith] says about a model.
type Options struct {
	// Name is the model's name (default: the path given to LoadWith).
	Name string
	// Description says what the model is and is for (default: a summary
	// of the file).
	Description string
	// Input replaces the input description read from the model: channels
	// from the input placeholder, RGB in [0,1] (the usual range of TF Hub
	// image models), the placeholder's height as the default size (else
	// 224), no minimum size or multiple. Its Channels must match the
	// placeholder's.
	Input *cnn.Input
	// Labels names the channels of layers, by layer name (class logits).
	Labels map[string][]string
}

// Model is a TF.js graph model whose nodes can be built in a GoMLX graph.
type Model struct {
	name, source, desc string
	in                 cnn.Input
	labels             map[string][]string

	g      *graphDef
	consts map[int]*tensor // Const node → value
	errs   []error         // per node: why it cannot be built (nil: it can)
	fromIn []bool          // per node: depends on the image input
	input  int             // the Placeholder Build feeds
	ref    [2]int          // the placeholder's height and width, 0 if unknown
	layers []int           // the catalogue: nodes in topological order
	store  *model.Store
	copies nn.Copies // the stored kernel matrices in other layouts (see nn.SetKeeper)
}

var _ cnn.Model = (*Model)(nil)

// Load reads the TF.js graph model at path: a model.json file, or a
// directory holding model.json. The weight shards are read from the
// directory of model.json, as the manifest names them.
func Load(path string) (*Model, error) { return LoadWith(path, Options{}) }

// LoadWith is [Load] with options.
func LoadWith(path string, opt Options) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil { // never let a panic escape
			m, err = nil, fmt.Errorf("tfjs model %s: %v", path, r)
		}
	}()
	file, err := modelPath(path)
	if err != nil {
		return nil, err
	}
	data, err := readLimited(file, maxJSONBytes)
	if err != nil {
		return nil, err
	}
	mf, g, err := parseModelJSON(data)
	if err != nil {
		return nil, fmt.Errorf("tfjs model %s: %w", file, err)
	}
	weights, err := readWeights(filepath.Dir(file), mf.WeightsManifest)
	if err != nil {
		return nil, fmt.Errorf("tfjs model %s: %w", file, err)
	}
	m = &Model{name: opt.Name, source: file, desc: opt.Description, labels: opt.Labels, g: g}
	if m.name == "" {
		m.name = path
	}
	if err := m.setup(weights); err != nil {
		return nil, fmt.Errorf("tfjs model %s: %w", file, err)
	}
	if opt.Input != nil {
		if opt.Input.Channels != m.in.Channels {
			return nil, fmt.Errorf("tfjs model %s: Options.Input has %d channels, the model's input %q has %d",
				file, opt.Input.Channels, g.nodes[m.input].name, m.in.Channels)
		}
		m.in = *opt.Input
	}
	for name := range m.labels {
		if !m.Has(name) {
			return nil, fmt.Errorf("tfjs model %s: Options.Labels: %w", file, m.LayerError(name))
		}
	}
	return m, nil
}

// modelPath resolves path to its model.json file.
func modelPath(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("tfjs model %s: %w", path, unwrapPath(err))
	}
	if !st.IsDir() {
		return path, nil
	}
	file := filepath.Join(path, "model.json")
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("tfjs model: directory %s has no model.json (give the path of the model's .json file)", path)
	}
	return file, nil
}

func readLimited(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("tfjs model %s: %w", file, unwrapPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("tfjs model %s: %w", file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("tfjs model %s: over %d MiB, too large for a model.json", file, limit>>20)
	}
	return data, nil
}

// setup attaches the weights, finds the input, decides which nodes can be
// built and creates the store.
func (m *Model) setup(weights map[string]*tensor) error {
	g := m.g
	m.consts = map[int]*tensor{}
	m.input = -1
	for _, i := range g.order {
		nd := &g.nodes[i]
		switch nd.op {
		case "Const":
			t, ok := weights[nd.name]
			if !ok {
				return fmt.Errorf("Const node %q has no entry in weightsManifest", nd.name)
			}
			m.consts[i] = t
		case "Placeholder":
			if s := nd.shape(); m.input < 0 && (len(s) == 4 || s == nil) {
				m.input = i
			}
		}
	}
	if m.input < 0 {
		return errors.New("no image input: the graph has no Placeholder node of shape [batch, height, width, channels]")
	}
	m.in = cnn.Input{Channels: 3, Order: "RGB", Range: [2]float32{0, 1}, Size: 224, MinSize: 1, Multiple: 1}
	if s := g.nodes[m.input].shape(); len(s) == 4 {
		if s[3] > 0 {
			m.in.Channels = s[3]
		}
		if s[1] > 0 && s[2] > 0 {
			m.ref = [2]int{s[1], s[2]}
			m.in.Size = s[1]
		}
	}

	n := len(g.nodes)
	m.errs = make([]error, n)
	m.fromIn = make([]bool, n)
	for _, i := range g.order {
		nd := &g.nodes[i]
		m.errs[i] = m.analyze(i)
		for _, r := range nd.inputs {
			m.fromIn[i] = m.fromIn[i] || m.fromIn[r.node]
		}
		m.fromIn[i] = m.fromIn[i] || i == m.input
	}
	var firstErr error
	for _, i := range g.order {
		if !m.fromIn[i] {
			continue
		}
		if m.errs[i] != nil {
			if firstErr == nil {
				firstErr = m.errs[i]
			}
			continue
		}
		m.layers = append(m.layers, i)
	}
	if len(m.layers) <= 1 { // the input alone
		if firstErr == nil {
			firstErr = errors.New("nothing depends on the input")
		}
		return fmt.Errorf("no layer can be built: %w", firstErr)
	}

	m.store = model.NewStore()
	matrices := m.kernelMatrices()
	for i, t := range m.consts {
		if t.isInt() {
			continue
		}
		dims := t.dims
		if d, ok := matrices[i]; ok {
			dims = d
		}
		v, err := m.store.CreateVariable(varPath(g.nodes[i].name), tensors.FromFlatDataAndDimensions(t.floats, dims...))
		if err != nil {
			return err
		}
		v.SetTrainable(false)
	}
	return nil
}

// kernelMatrices returns the dimensions to store the convolution filters
// with: the rank-4 float Const nodes read by nothing but convolutions of one
// kind, [kh,kw,cin,cout] as the matrix [kh·kw·cin, cout] and depthwise
// [kh,kw,cin,mult] as [kh·kw, cin·mult], the layouts nn.Conv2D multiplies
// by (see its Window), so that graphs do not reshape them at every run: the
// pure-Go backend copies a weight it reshapes.
func (m *Model) kernelMatrices() map[int][]int {
	uses, dense, depthwise := map[int]int{}, map[int]int{}, map[int]int{}
	for i := range m.g.nodes {
		nd := &m.g.nodes[i]
		for j, r := range nd.inputs {
			uses[r.node]++
			if j != 1 || r.out != 0 {
				continue
			}
			switch nd.op {
			case "Conv2D", "_FusedConv2D":
				dense[r.node]++
			case "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative":
				depthwise[r.node]++
			}
		}
	}
	out := map[int][]int{}
	for i, t := range m.consts {
		if t.isInt() || len(t.dims) != 4 || uses[i] == 0 {
			continue
		}
		switch d := t.dims; uses[i] {
		case dense[i]:
			out[i] = []int{d[0] * d[1] * d[2], d[3]}
		case depthwise[i]:
			out[i] = []int{d[0] * d[1], d[2] * d[3]}
		}
	}
	return out
}

// varPath is the store path of a Const node's variable.
func varPath(name string) string { return "/" + strings.TrimPrefix(name, "/") }

// analyze returns why node i cannot be built, or nil. Inputs are analyzed
// first (topological order); a node that needs an unbuildable node carries
// that node's error.
func (m *Model) analyze(i int) error {
	nd := &m.g.nodes[i]
	spec, ok := opTable[nd.op]
	if !ok {
		return unsupportedOpError(nd)
	}
	if nd.op == "Placeholder" && i != m.input {
		return fmt.Errorf("node %q is a second input placeholder; layervis feeds only %q", nd.name, m.g.nodes[m.input].name)
	}
	for _, r := range nd.inputs {
		if err := m.errs[r.node]; err != nil {
			return err
		}
		if r.out != 0 {
			src := &m.g.nodes[r.node]
			if !opTable[src.op].multiOut {
				return fmt.Errorf("node %q reads output %d of node %q (%s), which has one output", nd.name, r.out, src.name, src.op)
			}
			return fmt.Errorf("node %q reads output %d of node %q (%s); layervis computes only output 0", nd.name, r.out, src.name, src.op)
		}
	}
	if spec.check != nil {
		if err := spec.check(m, nd); err != nil {
			return fmt.Errorf("node %q (%s): %w", nd.name, nd.op, err)
		}
	}
	return nil
}

// constant returns the value of the Const node r refers to, through
// Identity nodes, or nil if r is not a constant.
func (m *Model) constant(r ref) *tensor {
	for range len(m.g.nodes) {
		nd := &m.g.nodes[r.node]
		switch {
		case nd.op == "Const":
			return m.consts[r.node]
		case nd.op == "Identity" && len(nd.inputs) == 1:
			r = nd.inputs[0]
		default:
			return nil
		}
	}
	return nil
}

// Name returns the model's name.
func (m *Model) Name() string { return m.name }

// Source returns the path of the model.json file.
func (m *Model) Source() string { return m.source }

// Describe says what the model is: the description given to [LoadWith], or
// a summary of the file.
func (m *Model) Describe() string {
	if m.desc != "" {
		return m.desc
	}
	return fmt.Sprintf("TF.js graph model %s: %d nodes, %d layers, input %q", m.source, len(m.g.nodes), len(m.layers),
		m.g.nodes[m.input].name)
}

// Input describes the images the model takes.
func (m *Model) Input() cnn.Input { return m.in }

// Store holds the model's constants as frozen variables.
func (m *Model) Store() *model.Store { return m.store }

// Names lists the layers (TF node names) in topological order.
func (m *Model) Names() []string {
	out := make([]string, len(m.layers))
	for k, i := range m.layers {
		out[k] = m.g.nodes[i].name
	}
	return out
}

// Has reports whether name is a layer: a node that can be built, or such a
// node's name with the ":in" suffix when its first input is a layer too.
func (m *Model) Has(name string) bool {
	_, err := m.resolve(name)
	return err == nil
}

// LayerError returns nil if name is a layer, or an error saying why not:
// no such node (with the closest names), a node that does not depend on the
// input (a constant), or a node that needs an unsupported op (naming it
// and listing the supported ops).
func (m *Model) LayerError(name string) error {
	_, err := m.resolve(name)
	return err
}

// resolve returns the node whose output is the layer name.
func (m *Model) resolve(name string) (int, error) {
	base, isIn := strings.CutSuffix(name, cnn.InputSuffix)
	i, ok := m.g.index[base]
	if !ok {
		return 0, cnn.UnknownLayerError(m.name, name, m.Names())
	}
	if err := m.errs[i]; err != nil {
		return 0, fmt.Errorf("model %s: layer %q cannot be built: %w", m.name, name, err)
	}
	if !m.fromIn[i] {
		return 0, fmt.Errorf("model %s: node %q (%s) does not depend on the input image, so it is not a layer", m.name, base, m.g.nodes[i].op)
	}
	if isIn {
		nd := &m.g.nodes[i]
		if len(nd.inputs) == 0 || !m.fromIn[nd.inputs[0].node] {
			return 0, fmt.Errorf("model %s: node %q (%s) has no input that depends on the image, so %q is not a layer", m.name, base, nd.op, name)
		}
		i = nd.inputs[0].node
	}
	return i, nil
}

// Layers returns the catalogue for an h×w input: every layer, its op and
// its output shape (without the batch axis; [C, H, W] for rank-4 values).
// Layers that cannot be computed at h×w are left out: post-processing that
// hard-codes the placeholder's size, as the demo's detection decoding does.
func (m *Model) Layers(h, w int) (out []cnn.Layer, err error) {
	if err := m.in.CheckSize(h, w); err != nil {
		return nil, fmt.Errorf("model %s: %w", m.name, err)
	}
	b, err := backend.Local() // the graph is only built, for its shapes
	if err != nil {
		return nil, err
	}
	g := graph.NewGraph(b, "layers") // built for the shapes, never run
	defer g.Finalize()
	model.SetStore(g, m.store)
	bl := m.newBuilder(graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 1, m.in.Channels, h, w)), 1)
	for _, i := range m.layers {
		d := bl.shape(i)
		if d == nil {
			continue
		}
		nd := &m.g.nodes[i]
		out = append(out, cnn.Layer{Name: nd.name, Kind: nd.op, Shape: d, Labels: m.labels[nd.name]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("model %s: no layer can be computed for a %dx%d input", m.name, h, w)
	}
	return out, nil
}

// shape returns node i's output shape for one image ([C, H, W] for rank-4
// values), or nil if it cannot be built at this input size.
func (b *builder) shape(i int) (dims []int) {
	defer func() {
		if recover() != nil {
			dims = nil
		}
	}()
	d := b.value(i).Shape().Dimensions
	if len(d) == 4 {
		return []int{d[3], d[1], d[2]}
	}
	if len(d) == 0 {
		return []int{}
	}
	return slices.Clone(d[1:])
}

// Build returns the activations of the named layers for the network input
// x [B,C,H,W] (normalized as Input says): rank-4 values in NCHW, others as
// the graph computes them. Only the nodes the layers need are built. It
// panics, as GoMLX graph-building functions do, on a name that is not a
// layer (see [Model.LayerError]) or an input of the wrong shape.
func (m *Model) Build(x *graph.Node, layers ...string) []*graph.Node {
	nn.IsFloat32(x)
	if x.Rank() != 4 || x.Shape().Dim(1) != m.in.Channels {
		exceptions.Panicf("model %s: input must be [batch, %d, height, width], got %s", m.name, m.in.Channels, x.Shape())
	}
	if err := m.in.CheckSize(x.Shape().Dim(2), x.Shape().Dim(3)); err != nil {
		exceptions.Panicf("model %s: %v", m.name, err)
	}
	nodes := make([]int, len(layers))
	for k, l := range layers {
		i, err := m.resolve(l)
		if err != nil {
			panic(err)
		}
		nodes[k] = i
	}
	b := m.newBuilder(x, m.bandCount(x))
	out := make([]*graph.Node, len(layers))
	done := map[int]*graph.Node{}
	for k, i := range nodes {
		if v, ok := done[i]; ok {
			out[k] = v
			continue
		}
		b.bandsOf(i)
		v := b.value(i)
		if v.Rank() == 4 {
			v = graph.TransposeAllAxes(v, 0, 3, 1, 2) // NHWC → NCHW
		}
		out[k], done[i] = v, v
	}
	return out
}

// Separable reports whether the named layers compute each image of a
// batch from that image alone, the batch their first axis (see
// [cnn.Separable]): whether every node they depend on through the input is
// per image (elementwise, convolution, pooling, batch norm, resize) or
// reduces, concatenates or pads along given positive axes other than the
// first. Reshapes, transposes, matrix products, softmax (its last axis may
// be the batch) and negative axes are taken as mixing images. It reports
// false for a name that is not a layer.
func (m *Model) Separable(layers ...string) bool {
	seen := map[int]bool{}
	var ok func(i int) bool
	ok = func(i int) bool {
		if seen[i] || !m.fromIn[i] {
			return true
		}
		seen[i] = true
		nd := &m.g.nodes[i]
		if !perImage(m, nd) {
			return false
		}
		for _, r := range nd.inputs {
			if !ok(r.node) {
				return false
			}
		}
		return true
	}
	for _, l := range layers {
		i, err := m.resolve(l)
		if err != nil || !ok(i) {
			return false
		}
	}
	return true
}

// perImage reports whether the node nd computes each image from that image
// alone, given inputs that do (see [Model.Separable]).
func perImage(m *Model, nd *node) bool {
	switch nd.op {
	case "Mean", "Sum", "Max", "Min", "ConcatV2":
		c := m.constant(nd.inputs[len(nd.inputs)-1])
		if c == nil || !c.isInt() {
			return false
		}
		for _, a := range c.ints {
			if a <= 0 {
				return false
			}
		}
		return true
	case "Pad", "PadV2":
		c := m.constant(nd.inputs[1])
		return c != nil && c.isInt() && len(c.ints) >= 2 && c.ints[0] == 0 && c.ints[1] == 0
	case "Reshape", "Squeeze", "ExpandDims", "Transpose", "MatMul", "_FusedMatMul", "Softmax":
		return false
	}
	_, known := opTable[nd.op]
	return known
}

// builder builds the nodes of one graph, each once, on demand.
type builder struct {
	m    *Model
	x    *graph.Node // NCHW input
	nhwc *graph.Node
	form nn.Form
	vals map[int]*graph.Node
	// bands is how many horizontal bands images are built in (1: whole);
	// banded holds the nodes' outputs built in bands (nil: built whole).
	bands  int
	banded map[int]nn.Bands
}

// newBuilder returns a builder of the network on the NCHW input x; images
// are built in bands where bands > 1 (see [builder.bandsOf]).
func (m *Model) newBuilder(x *graph.Node, bands int) *builder {
	return &builder{m: m, x: x, form: nn.FormFor(x.Graph().Backend()), vals: map[int]*graph.Node{},
		bands: bands, banded: map[int]nn.Bands{}}
}

// value returns node i's output (NHWC for images), building it and what it
// needs: whole, or its bands joined where they were built.
func (b *builder) value(i int) *graph.Node {
	if v, ok := b.vals[i]; ok {
		return v
	}
	nd := &b.m.g.nodes[i]
	if err := b.m.errs[i]; err != nil {
		panic(err)
	}
	var v *graph.Node
	if bs := b.banded[i]; bs != nil {
		v = bs.Join()
	} else {
		v = opTable[nd.op].build(b, nd)
	}
	if v.DType() != dtypes.Float32 {
		v = graph.ConvertDType(v, dtypes.Float32)
	}
	b.vals[i] = v
	return v
}

// in returns data input k of nd.
func (b *builder) in(nd *node, k int) *graph.Node { return b.value(nd.inputs[k].node) }

// nhwcInput returns the network input in NHWC layout.
func (b *builder) nhwcInput() *graph.Node {
	if b.nhwc == nil {
		b.nhwc = graph.TransposeAllAxes(b.x, 0, 2, 3, 1)
	}
	return b.nhwc
}

// constant returns a Const node as a graph value: float weights through the
// store, integer constants as float32 graph constants.
func (b *builder) constant(nd *node) *graph.Node {
	t := b.m.consts[b.m.g.index[nd.name]]
	g := b.x.Graph()
	if !t.isInt() {
		v := b.m.store.GetVariable(varPath(nd.name))
		if v == nil {
			exceptions.Panicf("model %s: no variable for constant %q (internal error)", b.m.name, nd.name)
		}
		return v.NodeValue(g)
	}
	f := make([]float32, len(t.ints))
	for i, v := range t.ints {
		f[i] = float32(v)
	}
	return graph.Const(g, tensors.FromFlatDataAndDimensions(f, t.dims...))
}

// scaledSize returns the size a resize node's constant output size s along
// image axis ax (0 height, 1 width) stands for at the current input size:
// s itself at the placeholder's size, else s scaled by input/placeholder
// size, since converted graphs hard-code sizes for their input size.
func (b *builder) scaledSize(s, ax int) int {
	ref := b.m.ref[ax]
	cur := b.x.Shape().Dim(2 + ax)
	if ref == 0 || cur == ref {
		return s
	}
	return max(1, (s*cur+ref/2)/ref)
}
