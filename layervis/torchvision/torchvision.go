// Package torchvision provides torchvision's ResNet (v1.5) and VGG
// architectures as layervis models, with weights from PyTorch state-dict
// checkpoints (.pth, the files torchvision downloads into
// ~/.cache/torch/hub/checkpoints) or safetensors files with torchvision or
// timm names.
//
// Layer names are torchvision's module paths ("layer4.2", "layer4.2.conv3",
// "features.29"); see package cnn for the ":in" suffix and modules that run
// more than once. Inputs are RGB scaled to [0,1] and normalized with the
// ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225), as
// torchvision does.
package torchvision

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/checkpoint"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/nn"
)

// Model is a torchvision architecture with its weights.
type Model struct {
	arch    archSpec
	store   *model.Store
	source  string // checkpoint path, or "random (seed N)"
	random  bool
	modules []module
	index   map[string]int // module name → position in modules
	folded  map[string]bool

	// copies holds the kernels in the other layouts that graphs have
	// asked for (see [nn.SetKeeper]).
	copies nn.Copies
}

var _ cnn.Model = (*Model)(nil)

// Load returns the architecture arch (see [Archs]) with the weights of the
// checkpoint at path (.pth/.pt or .safetensors, detected by content).
func Load(arch, path string) (*Model, error) {
	a, err := lookupArch(arch)
	if err != nil {
		return nil, err
	}
	ck, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	return FromCheckpoint(a.name, ck)
}

// FromCheckpoint returns the architecture with the weights of ck. It fails,
// naming the first tensor that does not fit and both shapes, if ck is not a
// checkpoint of arch.
func FromCheckpoint(arch string, ck *checkpoint.Checkpoint) (*Model, error) {
	a, err := lookupArch(arch)
	if err != nil {
		return nil, err
	}
	sd, err := a.fromCheckpoint(ck)
	if err != nil {
		return nil, err
	}
	return newModel(a, sd, ck.Path, false)
}

// Random returns the architecture with random weights initialized as
// torchvision initializes an untrained model, from seed. Its images show
// structure of the architecture, not of anything learned.
func Random(arch string, seed uint64) (*Model, error) {
	a, err := lookupArch(arch)
	if err != nil {
		return nil, err
	}
	return newModel(a, a.randomStateDict(seed), fmt.Sprintf("random weights (seed %d)", seed), true)
}

func newModel(a archSpec, sd stateDict, source string, random bool) (*Model, error) {
	store, folded, err := a.toStore(sd)
	if err != nil {
		return nil, err
	}
	m := &Model{arch: a, store: store, source: source, random: random, modules: a.modules(), index: map[string]int{}, folded: folded}
	for i, mod := range m.modules {
		m.index[mod.name] = i
	}
	return m, nil
}

// Name returns the architecture name, e.g. "resnet50".
func (m *Model) Name() string { return m.arch.name }

// Input returns [cnn.ImageNet], at least 32×32.
func (m *Model) Input() cnn.Input {
	in := cnn.ImageNet()
	in.MinSize, in.Multiple = 32, 1
	return in
}

// Store returns the frozen weights.
func (m *Model) Store() *model.Store { return m.store }

// Source says where the weights came from: a checkpoint path or "random
// weights (seed N)".
func (m *Model) Source() string { return m.source }

// IsRandom reports whether the weights are random rather than trained.
func (m *Model) IsRandom() bool { return m.random }

// Separable reports true: every module of these architectures computes
// each image of a batch from that image alone (see [cnn.Separable]).
func (m *Model) Separable(...string) bool { return true }

// Has reports whether name (optionally with the ":in" suffix) is a module.
func (m *Model) Has(name string) bool {
	_, ok := m.index[trimIn(name)]
	return ok
}

// Names lists the module paths in named_modules() order.
func (m *Model) Names() []string {
	out := make([]string, len(m.modules))
	for i, mod := range m.modules {
		out[i] = mod.name
	}
	return out
}

// Layers returns the catalogue for an h×w input: every module, its type and
// output shape.
func (m *Model) Layers(h, w int) ([]cnn.Layer, error) {
	if err := m.Input().CheckSize(h, w); err != nil {
		return nil, fmt.Errorf("%s: %w", m.Name(), err)
	}
	b, err := backend.Local() // the graph is only built, for its shapes
	if err != nil {
		return nil, err
	}
	names := m.Names()
	shapes, err := cnn.Shapes(b, m, h, w, names...)
	if err != nil {
		return nil, err
	}
	out := make([]cnn.Layer, len(names))
	for i, mod := range m.modules {
		out[i] = cnn.Layer{Name: mod.name, Kind: mod.kind, Shape: shapes[i]}
	}
	return out, nil
}

func trimIn(name string) string {
	if n := len(name) - len(cnn.InputSuffix); n > 0 && name[n:] == cnn.InputSuffix {
		return name[:n]
	}
	return name
}

// tracer records the requested module inputs/outputs during a forward pass.
// A module that runs several times keeps its last call, like a PyTorch hook.
type tracer struct {
	want  map[string]int // requested name → output slot
	got   []nn.Bands     // NHWC values in bands (rank-2 ones whole)
	final []bool         // got[i] will not be overwritten
}

// wants reports whether name was requested.
func (t *tracer) wants(name string) bool {
	_, ok := t.want[name]
	return ok
}

// stopBuild is panicked, and recovered by Build, once every requested value
// is final: nothing past the deepest requested layer is built, so the graph
// has no unused nodes (the pure-Go backend rejects graphs with dead nodes).
type stopBuild struct{}

// record keeps x as the value of name; final says that no later call of the
// module will replace it.
func (t *tracer) record(name string, x nn.Bands, final bool) {
	if i, ok := t.want[name]; ok {
		t.got[i] = x
		t.final[i] = final
		if !slices.Contains(t.final, false) {
			panic(stopBuild{})
		}
	}
}

// Build returns the NCHW activations of the named layers for the network
// input x [B,3,H,W] (normalized, see [cnn.ImageNet]).
func (m *Model) Build(x *Node, layers ...string) []*Node {
	nn.IsFloat32(x)
	if x.Rank() != 4 || x.Shape().Dim(1) != 3 {
		exceptions.Panicf("%s: input must be [batch, 3, height, width], got %s", m.Name(), x.Shape())
	}
	if err := m.Input().CheckSize(x.Shape().Dim(2), x.Shape().Dim(3)); err != nil {
		exceptions.Panicf("%s: %v", m.Name(), err)
	}
	t := &tracer{want: map[string]int{}, got: make([]nn.Bands, len(layers)), final: make([]bool, len(layers))}
	for i, l := range layers {
		if !m.Has(l) {
			panic(cnn.UnknownLayerError(m.Name(), l, m.Names()))
		}
		if _, dup := t.want[l]; dup {
			exceptions.Panicf("%s: layer %q requested twice", m.Name(), l)
		}
		t.want[l] = i
	}
	f := &forward{m: m, t: t, form: nn.FormFor(x.Graph().Backend()), g: x.Graph()}
	f.run(nn.SplitRows(TransposeAllAxes(x, 0, 2, 3, 1), m.bands(x))) // NCHW → NHWC
	out := make([]*Node, len(t.got))
	for i, b := range t.got {
		if !t.final[i] {
			exceptions.Panicf("%s: layer %q was not computed (internal error)", m.Name(), layers[i])
		}
		n := b.Join()
		if n.Rank() == 4 {
			n = TransposeAllAxes(n, 0, 3, 1, 2) // NHWC → NCHW
		}
		out[i] = n
	}
	return out
}

// bands returns how many horizontal bands Build builds each image of x in
// (see [nn.Bands] and [cnn.Bands]): one per core that [cnn.Build] gives it,
// as long as each band has at least bandRows rows of the input.
func (m *Model) bands(x *Node) int {
	basic := m.arch.family == "resnet" && !m.arch.bottle
	return cnn.Bands(x, m.Name(), func(cores int) int { return bandRows(basic, cores) })
}

// bandRows returns the least input rows of a band on the given cores, for
// a ResNet of basic blocks (basic) or another model: on 2 cores 112 or 64
// rows, which a band needs to pay for the rows it reads from its
// neighbours and for the ops it repeats; on more cores 64·2/cores, down to
// 16, and from 8 cores 28 for the basic ResNets.
//
// Basic blocks do less per pixel, so their bands need more rows. Measured
// on 2 cores, one image, step to the last stage (examples/bench, ms, whole
// → 2 bands): ResNet-50 128² 110 → 96–100, 224² 264–275 → 208–217; VGG-16
// 128² 262–339 → 215–221; ResNet-18 224² 140–148 → 116–140, 160² 73–75 →
// 75–78, 96² 47 → 53.
//
// On more cores the span of the step (its critical path) is what the
// bands shorten, and thinner ones pay. No machine with more than 2 cores
// was at hand, so those rows come from scripts/opprof.sh -span: each op's
// one-core cost, measured here, scheduled on more cores with compute's
// serial dispatch (1.3 µs per op) and a 10 µs handoff between ops, which
// puts the 2-core step 4–14% short of the measured one (178–188 ms against
// 196–207, in pairs). Predicted, ms for 64 → 32 → 16 rows: ResNet-50 at
// 224², 4 cores 137 → 124 (16 rows: the same 4 bands), 8 cores 127 → 87
// → 84, 16 cores 122 → 84–95 → 85–106 (three runs each; 30% more work in
// 16-row bands); ResNet-50 at 128², 4 cores, 82 → 67; at 96², 68 → 64;
// VGG-16 at 128², 4 cores, 183 → 148. ResNet-18, 112 → 56 → 28 rows: at
// 224², 8 cores 91 → 65 → 52, 4 cores 87 → 72; at 128², 8 cores 37.0 →
// 36.5 (28 rows), but 4 cores 42 → 52 (56 rows), so the basic ResNets keep
// 112 rows below 8 cores. These predate F(2×2, 3×3) (nn's Winograd
// convolutions); with it, ResNet-50 at 224² on 16 cores is predicted at 84
// ms in 16-row bands and 92 in 32-row ones (one run each), so the rule
// stands. scripts/gpu-check.sh times the 2-core rows against these on a
// 16-core machine.
func bandRows(basic bool, cores int) int {
	switch {
	case basic && cores < 8:
		return 112
	case basic:
		return 28
	}
	return cnn.BandRows(cores)
}

// forward holds the state of one Build.
type forward struct {
	m    *Model
	t    *tracer
	form nn.Form
	g    *Graph
}

// run builds the network on the NHWC input h until every requested value is
// recorded.
func (f *forward) run(h nn.Bands) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopBuild); !ok {
				panic(r)
			}
		}
	}()
	switch f.m.arch.family {
	case "resnet":
		f.resnet(h)
	case "vgg":
		f.vgg(h)
	}
}

func (f *forward) v(name string) *Node { return f.variable(name).NodeValue(f.g) }

// variable returns the model's weight name.
func (f *forward) variable(name string) *model.Variable {
	v := f.m.store.GetVariable("/" + name)
	if v == nil {
		exceptions.Panicf("%s: no weight %q (internal error)", f.m.Name(), name)
	}
	return v
}

func (f *forward) in(name string, x nn.Bands) { f.t.record(name+cnn.InputSuffix, x, true) }

func (f *forward) out(name string, x nn.Bands) nn.Bands {
	f.t.record(name, x, true)
	return x
}

// conv2D returns the convolution module name's configuration; its kernel
// is stored as a matrix (see [nn.Conv2D.Window]).
func (f *forward) conv2D(name string, stride, pad int) nn.Conv2D {
	k := f.m.modules[f.m.index[name]].k
	return nn.Conv2D{Stride: [2]int{stride, stride}, Pad: nn.SymmetricPad(pad), Window: [2]int{k, k}}
}

func (f *forward) conv(name string, x nn.Bands, stride, pad int) nn.Bands {
	f.in(name, x)
	var b *Node
	if f.m.modules[f.m.index[name]].bias {
		b = f.v(name + ".bias")
	}
	return f.out(name, f.conv2D(name, stride, pad).ApplyBands(f.form, x, f.kernel(name), b))
}

// kernel returns the kernel matrix of the convolution module name, with
// the model's copies of it in other layouts (see [nn.SetKeeper]).
func (f *forward) kernel(name string) *Node {
	v := f.variable(name + ".weight")
	w := v.NodeValue(f.g)
	nn.SetKeeper(w, f.m.copies.Keeper(f.g, v))
	return w
}

func (f *forward) bn(name string, x nn.Bands) nn.Bands {
	f.in(name, x)
	scale, shift := f.v(name+".scale"), f.v(name+".shift")
	return f.out(name, x.Map(func(x *Node) *Node { return nn.Affine(x, scale, shift) }))
}

// convBN is the convolution conv followed by the batch norm bn. Where the
// batch norm is folded into the convolution's weights (at load time, see
// foldBN), it is one convolution with a bias, and the convolution's own
// output, when requested (as conv or bn's input), is recovered from the
// folded one per channel: y·(1/scale) + the convolution's bias.
func (f *forward) convBN(conv, bn string, x nn.Bands, stride, pad int) nn.Bands {
	if !f.m.folded[conv] {
		return f.bn(bn, f.conv(conv, x, stride, pad))
	}
	f.in(conv, x)
	c := f.conv2D(conv, stride, pad)
	w := f.kernel(conv)
	if !f.t.wants(conv) && !f.t.wants(bn+cnn.InputSuffix) {
		return f.out(bn, c.ApplyBands(f.form, x, w, f.v(bn+".shift")))
	}
	y := c.ApplyBands(f.form, x, w, nil)
	unscale, shift := f.v(bn+".unscale"), f.v(bn+".shift")
	var bias *Node
	if f.m.modules[f.m.index[conv]].bias {
		bias = f.v(conv + ".bias")
	}
	u := y.Map(func(y *Node) *Node {
		u := nn.Scale(y, unscale)
		if bias != nil {
			u = nn.AddBias(u, bias)
		}
		return u
	})
	f.out(conv, u)
	f.in(bn, u)
	return f.out(bn, y.Map(func(y *Node) *Node { return nn.AddBias(y, shift) }))
}

func (f *forward) relu(name string, x nn.Bands) nn.Bands { return f.reusedReLU(name, x, true) }

// reusedReLU is a call of a ReLU module that may run again in the same
// block; only its last call (last) is final.
func (f *forward) reusedReLU(name string, x nn.Bands, last bool) nn.Bands {
	f.t.record(name+cnn.InputSuffix, x, last)
	y := x.Map(nn.ReLU)
	f.t.record(name, y, last)
	return y
}

// linear is the linear module name on x [B, features], whole.
func (f *forward) linear(name string, x *Node) *Node {
	f.in(name, nn.Bands{x})
	return f.out(name, nn.Bands{nn.Linear(x, f.v(name+".weight"), f.v(name+".bias"))})[0]
}

func (f *forward) resnet(x nn.Bands) {
	x = f.convBN("conv1", "bn1", x, 2, 3)
	x = f.relu("relu", x)
	f.in("maxpool", x)
	x = f.out("maxpool", nn.Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: nn.SymmetricPad(1)}.MaxBands(f.form, x))
	for s, n := range f.m.arch.blocks {
		stage := fmt.Sprintf("layer%d", s+1)
		f.in(stage, x)
		for b := range n {
			stride := 1
			if s > 0 && b == 0 {
				stride = 2
			}
			p := fmt.Sprintf("%s.%d", stage, b)
			x = f.block(p, x, stride)
		}
		f.out(stage, x)
	}
	f.in("avgpool", x)
	whole := x.Join()
	b, c := whole.Shape().Dim(0), whole.Shape().Dim(3)
	pooled := f.out("avgpool", nn.Bands{Reshape(nn.GlobalAvg(whole), b, 1, 1, c)})[0]
	f.linear("fc", Reshape(pooled, b, c))
}

func (f *forward) block(p string, x nn.Bands, stride int) nn.Bands {
	f.in(p, x)
	identity := x
	var y nn.Bands
	if f.m.arch.bottle {
		y = f.reusedReLU(p+".relu", f.convBN(p+".conv1", p+".bn1", x, 1, 0), false)
		y = f.reusedReLU(p+".relu", f.convBN(p+".conv2", p+".bn2", y, stride, 1), false)
		y = f.convBN(p+".conv3", p+".bn3", y, 1, 0)
	} else {
		y = f.reusedReLU(p+".relu", f.convBN(p+".conv1", p+".bn1", x, stride, 1), false)
		y = f.convBN(p+".conv2", p+".bn2", y, 1, 1)
	}
	if _, ok := f.m.index[p+".downsample"]; ok {
		d := p + ".downsample"
		f.in(d, x)
		identity = f.out(d, f.convBN(d+".0", d+".1", x, stride, 0))
	}
	return f.out(p, f.relu(p+".relu", nn.Zip(y, identity, Add)))
}

func (f *forward) vgg(x nn.Bands) {
	f.in("features", x)
	i := 0
	name := func() string { return fmt.Sprintf("features.%d", i) }
	for _, c := range f.m.arch.vggCfg {
		if c == 0 {
			f.in(name(), x)
			x = f.out(name(), nn.Pool2D{Kernel: [2]int{2, 2}}.MaxBands(f.form, x))
		} else {
			if f.m.arch.vggBN {
				conv := name()
				i++
				x = f.convBN(conv, name(), x, 1, 1)
			} else {
				x = f.conv(name(), x, 1, 1)
			}
			i++
			x = f.relu(name(), x)
		}
		i++
	}
	f.out("features", x)
	f.in("avgpool", x)
	pooled := f.out("avgpool", nn.Bands{adaptiveAvg(x.Join(), 7, 7)})[0]
	// torch.flatten of NCHW: channels outermost.
	b := pooled.Shape().Dim(0)
	flat := Reshape(TransposeAllAxes(pooled, 0, 3, 1, 2), b, -1)
	f.in("classifier", nn.Bands{flat})
	y := nn.Bands{f.linear("classifier.0", flat)}
	y = f.relu("classifier.1", y)
	y = f.out("classifier.2", f.identity("classifier.2", y)) // Dropout: identity in eval mode
	y = nn.Bands{f.linear("classifier.3", y[0])}
	y = f.relu("classifier.4", y)
	y = f.out("classifier.5", f.identity("classifier.5", y))
	f.out("classifier", nn.Bands{f.linear("classifier.6", y[0])})
}

func (f *forward) identity(name string, x nn.Bands) nn.Bands {
	f.in(name, x)
	return x
}

// adaptiveAvg is PyTorch's AdaptiveAvgPool2d on NHWC: output cell i averages
// input rows floor(i·H/oh) … ceil((i+1)·H/oh)−1.
func adaptiveAvg(x *Node, oh, ow int) *Node {
	h, w := x.Shape().Dim(1), x.Shape().Dim(2)
	if h == oh && w == ow {
		return x
	}
	rows := make([]*Node, oh)
	for i := range oh {
		r0, r1 := i*h/oh, ((i+1)*h+oh-1)/oh
		cols := make([]*Node, ow)
		for j := range ow {
			c0, c1 := j*w/ow, ((j+1)*w+ow-1)/ow
			cell := Slice(x, AxisRange(), AxisRange(r0, r1), AxisRange(c0, c1), AxisRange())
			cols[j] = ReduceMean(cell, 1, 2)
		}
		rows[i] = Stack(cols, 1) // [B, ow, C]
	}
	return Stack(rows, 1) // [B, oh, ow, C]
}

// DefaultLayers returns the default target and penalty layers: for ResNets the last
// stage output ("layer4") and the input of the last convolution of its last
// block (ResNet-152: "layer4.2.conv3:in", as the reference code); for VGGs
// the last ReLU of features and the input of the last convolution.
func (m *Model) DefaultLayers() (target, penalty string) {
	var lastConv string
	for _, mod := range m.modules {
		if mod.kind == "Conv2d" && !strings.Contains(mod.name, "downsample") {
			lastConv = mod.name
		}
	}
	if m.arch.family == "resnet" {
		return "layer4", lastConv + cnn.InputSuffix
	}
	lastReLU := ""
	for _, mod := range m.modules {
		if mod.kind == "ReLU" && strings.HasPrefix(mod.name, "features.") {
			lastReLU = mod.name
		}
	}
	return lastReLU, lastConv + cnn.InputSuffix
}
