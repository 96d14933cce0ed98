// Package onnx opens convolutional networks stored as ONNX files (.onnx) as
// layervis models, for example the files torch.onnx.export writes.
//
// Weights are decoded by github.com/gomlx/onnx-gomlx; the graph is converted
// by this package, op by op, into GoMLX with layervis's own building blocks
// (package nn): convolutions and max-pooling in the form that runs fastest on
// the backend (im2col on the pure-Go backend), PyTorch's ceil_mode and
// count_include_pad pooling, LRN, and the activations exported CNNs use.
// Feature maps are kept in NHWC inside the graph and returned in NCHW, and
// Conv kernels are stored in the layout nn takes. Only the nodes the
// requested layers depend on are built. [SupportedOps] lists the ONNX ops that
// can be converted; a model with any other op fails to load with an error
// naming the op and the node.
//
// On the pure-Go backend, where there are more cores than images, Build
// (through cnn.Build) converts each image in horizontal bands, one per core
// (see [nn.Bands] and [cnn.Bands]; at least cnn.BandRows input rows each):
// per-pixel ops, convolutions, max-pools, batch norms and channel
// concatenations run band by band, global pools join the bands' sums or
// maxima, and other ops take their input whole. A torch export of
// ResNet-18 at 224² runs 1.1–1.2× faster so on 2 cores (BenchmarkResNet18).
//
// onnx-gomlx's own converter (Model.CallGraph) is not used: it has no hook
// for the ops it lacks (LeakyRelu, HardSigmoid, LRN, pooling with ceil_mode or
// count_include_pad, ...), and its Conv, built on graph.Convolve, cannot be
// swapped for the im2col form; on the pure-Go backend a ResNet-18 forward pass
// through it is about 30 times slower (BenchmarkResNet18).
//
// # Layer names
//
// Every node output that depends on the network input and is a float32
// tensor is a layer, named by its ONNX tensor name: torch 1.13+ exports name
// them after the module scope, as in "/layer1/layer1.0/relu_1/Relu_output_0".
// Two kinds of aliases are accepted too (see [Model.Aliases]):
//
//   - the node name: "/layer1/layer1.0/relu_1/Relu";
//   - for torch exports, the module path: "layer1.0.conv1", "layer4",
//     "features.3". A module path names the last node of that module's scope,
//     which is the module's output. A module called twice appears in the
//     export as two scopes, NAME and NAME_1 ("layer1.0.relu" is the first
//     call of the block's shared ReLU, "layer1.0.relu_1" the second), so NAME
//     does not follow the last-call rule of package cnn here.
//
// A name with the suffix ":in" is the input of that node, or of the module's
// first node.
//
// # Input
//
// The channel count (and, when the file fixes it, the default input size)
// comes from the graph input, which must be a float32 [batch, channels,
// height, width] tensor. The file does not say how pixels are normalized:
// 3-channel models default to ImageNet's normalization, [cnn.ImageNet] (RGB
// scaled to [0,1], mean 0.485/0.456/0.406, std 0.229/0.224/0.225), other
// channel counts to [0,1] without normalization. [WithInput] overrides it.
package onnx

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/nn"
)

// DefaultSize is the default input size of models whose file does not fix
// the input height and width.
const DefaultSize = 224

// Model is a network read from an ONNX file. It implements cnn.Model.
type Model struct {
	name, path string
	in         cnn.Input
	opset      int64
	store      *model.Store

	input    string                      // the graph input's name
	trial    [4]int                      // input shape of the load-time check: the file's, default sizes where not fixed
	nodes    []*protos.NodeProto         // in (topological) file order
	producer map[string]int              // tensor name → index of the node producing it
	tensors  map[string]int              // initializer / Constant output → decoded tensor index
	attrT    map[*protos.TensorProto]int // tensor-valued attribute → decoded tensor index
	window   map[int][2]int              // decoded tensors stored as Conv kernel matrices: their windows
	copies   nn.Copies                   // those matrices in other layouts (see nn.SetKeeper)

	layers  []layer        // the catalogue, in node order
	index   map[string]int // layer name → position in layers
	aliases []Alias
	alias   map[string]string // alias → layer name
	inputOf map[string]string // layer name or alias → tensor name of its ":in"
}

// layer is a catalogue entry: a node output.
type layer struct {
	name, kind string
}

// Alias is another name for a layer.
type Alias struct {
	Name   string // the alias: a node name or, for torch exports, a module path
	Target string // the ONNX tensor name it stands for
}

var _ cnn.Model = (*Model)(nil)

// Option configures [Load].
type Option func(*options)

type options struct {
	in   *cnn.Input
	name string
}

// WithInput sets the input description (normalization, value range, channel
// order, sizes) instead of the default; its Channels must match the file.
func WithInput(in cnn.Input) Option { return func(o *options) { o.in = &in } }

// WithName sets the model's name (default: the file name without ".onnx").
func WithName(name string) Option { return func(o *options) { o.name = name } }

// Load reads the ONNX model at path (external data files are looked up
// beside it). It fails, never panics, on files that are not ONNX models, are
// truncated, use ops or attributes this package cannot convert (see
// [SupportedOps]), or whose graph does not build for the input shape the file
// declares (DefaultSize for height and width it leaves open).
func Load(path string, opts ...Option) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.name == "" {
		o.name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	m, err := parse(data, path, o)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, nil
}

// parse builds the model from the file's bytes. Any panic (a bug, or a
// corrupt file reaching a library) becomes an error.
func parse(data []byte, path string, o options) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("cannot load the model: %v", r)
		}
	}()
	mp, err := unmarshal(data)
	if err != nil {
		return nil, err
	}
	m = &Model{name: o.name, path: path, producer: map[string]int{}, tensors: map[string]int{},
		attrT: map[*protos.TensorProto]int{}}
	if m.opset, err = opsetVersion(mp); err != nil {
		return nil, err
	}
	g := mp.GetGraph()
	if len(g.GetSparseInitializer()) > 0 {
		return nil, errors.New("sparse initializers are not supported")
	}
	// Tensors to decode: initializers, then tensor-valued attributes.
	var ts []*protos.TensorProto
	baseDir := filepath.Dir(path)
	defined := map[string]bool{}
	for _, t := range g.GetInitializer() {
		if t == nil || t.GetName() == "" {
			return nil, errors.New("an initializer has no name")
		}
		if err := checkTensor(t, baseDir); err != nil {
			return nil, err
		}
		m.tensors[t.GetName()] = len(ts)
		defined[t.GetName()] = true
		ts = append(ts, t)
	}
	if err := m.findInput(g, defined, o.in); err != nil {
		return nil, err
	}
	defined[m.input] = true
	m.nodes = g.GetNode()
	for i, n := range m.nodes {
		if n == nil {
			return nil, fmt.Errorf("node %d is empty", i)
		}
		if err := checkNode(n); err != nil {
			return nil, err
		}
		for _, in := range n.GetInput() {
			if in != "" && !defined[in] {
				return nil, fmt.Errorf("node %q (%s) reads %q, which no earlier node, initializer or input defines (the graph must be topologically sorted)",
					n.GetName(), n.GetOpType(), in)
			}
		}
		for _, a := range n.GetAttribute() {
			if a.GetT() != nil {
				if err := checkTensor(a.GetT(), baseDir); err != nil {
					return nil, fmt.Errorf("node %q (%s), attribute %s: %w", n.GetName(), n.GetOpType(), a.GetName(), err)
				}
				m.attrT[a.GetT()] = len(ts)
				ts = append(ts, a.GetT())
			}
		}
		for j, out := range n.GetOutput() {
			if out == "" {
				continue
			}
			if defined[out] {
				return nil, fmt.Errorf("node %q (%s) output %q is defined twice", n.GetName(), n.GetOpType(), out)
			}
			defined[out] = true
			m.producer[out] = i
			if j == 0 && n.GetOpType() == "Constant" {
				if t := attr(n, "value"); t != nil && t.GetT() != nil {
					m.tensors[out] = m.attrT[t.GetT()]
				}
			}
		}
	}
	if m.store, err = decodeTensors(ts, baseDir); err != nil {
		return nil, err
	}
	// Loading runs on the host: the kernels are transposed once and left in
	// local storage, for whatever backend the model runs on.
	b, err := backend.Local()
	if err != nil {
		return nil, err
	}
	if err := m.kernelsToMatrices(b); err != nil {
		return nil, err
	}
	if err := m.catalogue(b); err != nil {
		return nil, err
	}
	return m, nil
}

// kernelsToMatrices stores the Conv kernels as the matrices
// [kh·kw·cin/groups, cout] package nn multiplies by (HWIO with its first
// three axes merged, see nn.Conv2D.Window), so that graphs do not transpose
// or reshape them at every run (on the pure-Go backend the transposes cost
// as much as a quarter of a ResNet's forward pass, and a reshape of a
// weight copies it). Only initializers that are read by nothing but Conv
// weight inputs are changed.
func (m *Model) kernelsToMatrices(b compute.Backend) error {
	uses, convUses := map[string]int{}, map[string]int{}
	for _, n := range m.nodes {
		for j, in := range n.GetInput() {
			uses[in]++
			if j == 1 && n.GetOpType() == "Conv" {
				convUses[in]++
			}
		}
	}
	exec, err := NewExec(b, func(w *Node) *Node {
		d := w.Shape().Dimensions // [cout, cin/groups, kh, kw]
		return Reshape(TransposeAllAxes(w, 2, 3, 1, 0), d[2]*d[3]*d[1], d[0])
	})
	if err != nil {
		return err
	}
	defer exec.Finalize()
	exec.SetMaxCache(-1) // one graph per kernel shape
	m.window = map[int][2]int{}
	for name, n := range convUses {
		i, ok := m.tensors[name]
		if !ok || uses[name] != n {
			continue
		}
		v := m.store.GetVariable(variablePath(i))
		if v.Shape().Rank() != 4 || v.DType() != dtypes.Float32 {
			continue
		}
		window := [2]int{v.Shape().Dim(2), v.Shape().Dim(3)}
		w, err := v.Value()
		if err != nil {
			return err
		}
		out, err := exec.Exec(w)
		if err != nil {
			return fmt.Errorf("rearranging the kernel %q: %w", name, err)
		}
		if err := out[0].ToLocal(); err != nil {
			return fmt.Errorf("rearranging the kernel %q: %w", name, err)
		}
		if err := v.SetValue(out[0]); err != nil {
			return err
		}
		m.window[i] = window
	}
	return nil
}

// findInput picks the graph input (graph inputs that are also initializers
// are weights, in files of IR version < 4) and derives the input description.
func (m *Model) findInput(g *protos.GraphProto, init map[string]bool, override *cnn.Input) error {
	var ins []*protos.ValueInfoProto
	for _, in := range g.GetInput() {
		if in != nil && !init[in.GetName()] {
			ins = append(ins, in)
		}
	}
	if len(ins) != 1 {
		names := make([]string, len(ins))
		for i, in := range ins {
			names[i] = in.GetName()
		}
		return fmt.Errorf("the graph has %d inputs %q; layervis needs exactly one image input", len(ins), names)
	}
	in := ins[0]
	tt := in.GetType().GetTensorType()
	if tt == nil || protos.TensorProto_DataType(tt.GetElemType()) != protos.TensorProto_FLOAT {
		return fmt.Errorf("graph input %q is not a float32 tensor (%v); layervis runs float32 models", in.GetName(), in.GetType())
	}
	dims := tt.GetShape().GetDim()
	if len(dims) != 4 {
		return fmt.Errorf("graph input %q has rank %d; layervis needs an NCHW image input [batch, channels, height, width]", in.GetName(), len(dims))
	}
	if in.GetName() == "" {
		return errors.New("the graph input has no name")
	}
	m.input = in.GetName()
	c, h, w := dims[1].GetDimValue(), dims[2].GetDimValue(), dims[3].GetDimValue()
	if c <= 0 || c > 64 {
		return fmt.Errorf("graph input %q: channel dimension %v is not a fixed small number; layervis needs an NCHW image input", in.GetName(), dims[1])
	}
	m.trial = [4]int{1, int(c), DefaultSize, DefaultSize}
	for i, d := range dims {
		if v := d.GetDimValue(); i != 1 && v > 0 && v <= 8192 {
			m.trial[i] = int(v)
		}
	}
	size := DefaultSize
	if h > 0 && h == w && h <= 8192 {
		size = int(h)
	}
	m.in = cnn.Input{Channels: int(c), Order: "RGB", Range: [2]float32{0, 1}, Size: size, MinSize: 1, Multiple: 1}
	if c == 3 {
		imagenet := cnn.ImageNet()
		m.in.Mean, m.in.Std = imagenet.Mean, imagenet.Std
	}
	if override != nil {
		if override.Channels != int(c) {
			return fmt.Errorf("WithInput: %d channels, but the model's input %q has %d", override.Channels, in.GetName(), c)
		}
		m.in = *override
	}
	return nil
}

// catalogue finds the layers (input-dependent float32 node outputs) by
// building the whole graph once, then the aliases.
func (m *Model) catalogue(b compute.Backend) error {
	dep := map[string]bool{m.input: true}
	var cands []string
	var kinds []string
	for _, n := range m.nodes {
		d := false
		if n.GetOpType() != "Shape" && n.GetOpType() != "Size" {
			for _, in := range n.GetInput() {
				d = d || dep[in]
			}
		}
		for _, out := range n.GetOutput() {
			if out != "" && d {
				dep[out] = true
				cands = append(cands, out)
				kinds = append(kinds, n.GetOpType())
			}
		}
	}
	if len(cands) == 0 {
		return errors.New("no node depends on the graph input")
	}
	dts, err := m.trialBuild(b, cands)
	if err != nil {
		return err
	}
	m.index = map[string]int{}
	for i, c := range cands {
		if dts[i] == dtypes.Float32 {
			m.index[c] = len(m.layers)
			m.layers = append(m.layers, layer{name: c, kind: kinds[i]})
		}
	}
	m.findAliases()
	return nil
}

// trialBuild builds (without running) the graph of all the given node
// outputs for the input shape the file declares (default sizes where it does
// not) and returns their dtypes (InvalidDType for outputs the converter does
// not compute); conversion errors of any node surface here, when the model
// is loaded.
func (m *Model) trialBuild(b compute.Backend, names []string) (dts []dtypes.DType, err error) {
	g := NewGraph(b, "onnx-load-check")
	defer g.Finalize()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot build the graph for an input of shape %v: %v", m.trial, r)
		}
	}()
	model.SetStore(g, m.store)
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, m.trial[:]...))
	bld := newBuilder(m, x, 1)
	for _, name := range names {
		dt := dtypes.InvalidDType
		if v := bld.tryResolve(name); v != nil {
			dt = bld.node(v).DType()
		}
		dts = append(dts, dt)
	}
	return dts, nil
}

// findAliases derives node-name and module-path aliases, dropping any that
// collide with a layer name or with each other.
func (m *Model) findAliases() {
	m.inputOf = map[string]string{}
	dep := map[string]bool{m.input: true}
	for _, l := range m.layers {
		dep[l.name] = true
	}
	firstDep := func(n *protos.NodeProto) string {
		for _, in := range n.GetInput() {
			if dep[in] {
				return in
			}
		}
		return ""
	}
	cand := map[string]string{}   // alias → target
	candIn := map[string]string{} // alias → its ":in" tensor
	bad := map[string]bool{}
	add := func(alias, target, in string) {
		if alias == "" || bad[alias] {
			return
		}
		if _, isLayer := m.index[alias]; isLayer || alias == m.input {
			return
		}
		if t, ok := cand[alias]; ok && t != target {
			bad[alias] = true
			delete(cand, alias)
			return
		}
		cand[alias], candIn[alias] = target, in
	}
	type scope struct{ first, last int }
	scopes := map[string]*scope{}
	var order []string
	for i, n := range m.nodes {
		outs := n.GetOutput()
		if len(outs) == 0 {
			continue
		}
		if _, ok := m.index[outs[0]]; !ok {
			continue
		}
		in := firstDep(n)
		for _, out := range outs {
			if _, ok := m.index[out]; ok {
				m.inputOf[out] = in
			}
		}
		add(n.GetName(), outs[0], in)
		for _, path := range modulePaths(n.GetName()) {
			s, ok := scopes[path]
			if !ok {
				s = &scope{first: i}
				scopes[path] = s
				order = append(order, path)
			}
			s.last = i
		}
	}
	for _, path := range order {
		s := scopes[path]
		// The module's input: the first input of its first node that comes
		// from outside the module.
		in := firstDep(m.nodes[s.first])
		add(path, m.nodes[s.last].GetOutput()[0], in)
	}
	m.alias = map[string]string{}
	for a, t := range cand {
		m.alias[a] = t
		m.inputOf[a] = candIn[a]
		m.aliases = append(m.aliases, Alias{Name: a, Target: t})
	}
	slices.SortFunc(m.aliases, func(a, b Alias) int {
		if c := cmp.Compare(m.index[a.Target], m.index[b.Target]); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// modulePaths returns the module paths of a torch ≥ 1.13 scoped node name,
// outermost first: "/layer1/layer1.0/conv1/Conv" → "layer1", "layer1.0",
// "layer1.0.conv1". Each scope segment is the module's name relative to the
// nearest enclosing scope that is not its prefix ("features", "features.1",
// "block", "block.0" → features.1.block.0). Other names give none.
func modulePaths(nodeName string) []string {
	if !strings.HasPrefix(nodeName, "/") {
		return nil
	}
	segs := strings.Split(nodeName[1:], "/")
	segs = segs[:len(segs)-1] // the last part names the op
	var out []string
	prevSeg, prevPath := "", ""
	for _, s := range segs {
		if s == "" {
			return out
		}
		var path string
		switch {
		case prevPath == "":
			path = s
		case strings.HasPrefix(s, prevSeg+"."):
			path = prevPath + s[len(prevSeg):]
		default:
			path = prevPath + "." + s
		}
		out = append(out, path)
		prevSeg, prevPath = s, path
	}
	return out
}

// Name returns the model's name: the file name without ".onnx" unless set
// with [WithName].
func (m *Model) Name() string { return m.name }

// Path returns the file the model was loaded from.
func (m *Model) Path() string { return m.path }

// Opset returns the file's version of the default ONNX operator set.
func (m *Model) Opset() int64 { return m.opset }

// Input returns the input description (see the package documentation).
func (m *Model) Input() cnn.Input { return m.in }

// Store returns the frozen weights (initializers and constant tensors).
func (m *Model) Store() *model.Store { return m.store }

// Aliases returns the aliases of the layers (node names and, for torch
// exports, module paths), in layer order.
func (m *Model) Aliases() []Alias { return slices.Clone(m.aliases) }

// tensorOf resolves a layer name, alias, or either with ":in", to the ONNX
// tensor to build.
func (m *Model) tensorOf(name string) (string, bool) {
	base, isIn := strings.CutSuffix(name, cnn.InputSuffix)
	if !isIn {
		if _, ok := m.index[base]; ok {
			return base, true
		}
		t, ok := m.alias[base]
		return t, ok
	}
	t, ok := m.inputOf[base]
	return t, ok && t != ""
}

// Has reports whether name (optionally with the ":in" suffix) is a layer or
// an alias.
func (m *Model) Has(name string) bool {
	_, ok := m.tensorOf(name)
	return ok
}

// Names lists the layer names in node order, then the aliases.
func (m *Model) Names() []string {
	out := make([]string, 0, len(m.layers)+len(m.aliases))
	for _, l := range m.layers {
		out = append(out, l.name)
	}
	for _, a := range m.aliases {
		out = append(out, a.Name)
	}
	return out
}

// Layers returns the catalogue for an h×w input: every layer (node output)
// in node order, with its op type and output shape. Aliases are not listed;
// see [Model.Aliases].
func (m *Model) Layers(h, w int) ([]cnn.Layer, error) {
	if err := m.in.CheckSize(h, w); err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	b, err := backend.Local() // the graph is only built, for its shapes
	if err != nil {
		return nil, err
	}
	names := make([]string, len(m.layers))
	for i, l := range m.layers {
		names[i] = l.name
	}
	shapes, err := cnn.Shapes(b, m, h, w, names...)
	if err != nil {
		return nil, err
	}
	out := make([]cnn.Layer, len(m.layers))
	for i, l := range m.layers {
		out[i] = cnn.Layer{Name: l.name, Kind: l.kind, Shape: shapes[i]}
	}
	return out, nil
}

// Separable reports whether the named layers compute each image of a
// batch from that image alone, the batch their first axis (see
// [cnn.Separable]): whether every node they depend on through the input is
// per image (elementwise, convolution, pooling, normalization, Flatten at
// axis 1, Gemm of the image by weights) or reduces, concatenates or applies
// softmax along given positive axes. Reshapes, transposes, slices, gathers,
// shape ops, MatMul, pads and negative or default axes are taken as mixing
// images. It reports false for a name that is not a layer.
func (m *Model) Separable(layers ...string) bool {
	// What the walk knows of a tensor: whether it depends on the image, and
	// whether everything computing it is per image.
	type state struct{ image, ok bool }
	memo := map[string]state{m.input: {image: true, ok: true}}
	var walk func(t string) state
	walk = func(t string) state {
		if s, seen := memo[t]; seen {
			return s
		}
		s := state{ok: true} // an initializer or graph constant, unless a node computes it
		if i, computed := m.producer[t]; computed {
			n := m.nodes[i]
			for _, in := range n.GetInput() {
				if in != "" {
					is := walk(in)
					s.image, s.ok = s.image || is.image, s.ok && is.ok
				}
			}
			s.ok = s.ok && (!s.image || perImage(n, func(t string) bool { return walk(t).image }))
		}
		memo[t] = s
		return s
	}
	for _, l := range layers {
		t, found := m.tensorOf(l)
		if !found {
			return false
		}
		if s := walk(t); !s.image || !s.ok {
			return false
		}
	}
	return true
}

// perImage reports whether the node n, some of whose inputs come from the
// image (fromImage says which), computes each image from that image alone,
// given inputs that do (see [Model.Separable]).
func perImage(n *protos.NodeProto, fromImage func(t string) bool) bool {
	c := &call{n: n}
	positive := func(name string) bool {
		a := attr(n, name)
		if a == nil {
			return false
		}
		vals := a.GetInts()
		if a.GetType() == protos.AttributeProto_INT {
			vals = []int64{a.GetI()}
		}
		for _, v := range vals {
			if v <= 0 {
				return false
			}
		}
		return len(vals) > 0
	}
	switch n.GetOpType() {
	case "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Erf", "Softplus",
		"HardSwish", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Clip", "PRelu", "Identity", "Dropout", "Cast",
		"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum",
		"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "LRN":
		return true
	case "Flatten":
		return c.intAttr("axis", 1) == 1
	case "Gemm":
		in := n.GetInput()
		return c.intAttr("transA", 0) == 0 && len(in) >= 2 && !fromImage(in[1]) && (len(in) < 3 || !fromImage(in[2]))
	case "Softmax", "LogSoftmax", "Concat":
		return positive("axis")
	case "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum":
		return len(n.GetInput()) < 2 && positive("axes")
	}
	return false
}

// Build returns the NCHW values of the named layers for the network input x
// [B,C,H,W] (normalized as [Model.Input] says). Only the nodes they depend on
// are built. Like GoMLX graph-building functions it panics on errors
// (unknown layer names: a cnn.UnknownLayerError).
func (m *Model) Build(x *Node, layers ...string) []*Node {
	nn.IsFloat32(x)
	if x.Rank() != 4 || x.Shape().Dim(1) != m.in.Channels {
		exceptions.Panicf("%s: input must be [batch, %d, height, width], got %s", m.name, m.in.Channels, x.Shape())
	}
	targets := make([]string, len(layers))
	for i, l := range layers {
		t, ok := m.tensorOf(l)
		if !ok {
			panic(cnn.UnknownLayerError(m.name, l, m.Names()))
		}
		targets[i] = t
	}
	return newBuilder(m, x, m.bandCount(x)).outputs(targets)
}

// bandCount returns how many bands Build converts each image of the NCHW
// input x in, in the pure-Go backend's form (cnn.Bands): bands of at least
// cnn.BandRows input rows.
func (m *Model) bandCount(x *Node) int {
	if nn.FormFor(x.Graph().Backend()) != nn.Im2col {
		return 1
	}
	return cnn.Bands(x, m.name, cnn.BandRows)
}
