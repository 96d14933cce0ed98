package torchvision

import (
	"fmt"
	"slices"
	"strings"
)

// module is one entry of torchvision's named_modules(): its path, its type
// and, for layers with weights, what they are.
type module struct {
	name string
	kind string // "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Linear", ...
	// Conv2d / Linear shapes in PyTorch layout.
	out, in, k int
	bias       bool
}

// archSpec is an architecture: its family, configuration and module list.
type archSpec struct {
	name    string
	family  string // "resnet" or "vgg"
	blocks  []int  // resnet: blocks per stage
	bottle  bool   // resnet: Bottleneck (true) or BasicBlock
	vggCfg  []int  // vgg: channels, 0 = max-pool
	vggBN   bool
	classes int
}

var vggCfgs = map[string][]int{
	"11": {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0},
	"13": {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0},
	"16": {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0},
	"19": {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0},
}

var archs = map[string]archSpec{
	"resnet18":  {family: "resnet", blocks: []int{2, 2, 2, 2}},
	"resnet34":  {family: "resnet", blocks: []int{3, 4, 6, 3}},
	"resnet50":  {family: "resnet", blocks: []int{3, 4, 6, 3}, bottle: true},
	"resnet101": {family: "resnet", blocks: []int{3, 4, 23, 3}, bottle: true},
	"resnet152": {family: "resnet", blocks: []int{3, 8, 36, 3}, bottle: true},
}

func init() {
	for _, d := range []string{"11", "13", "16", "19"} {
		archs["vgg"+d] = archSpec{family: "vgg", vggCfg: vggCfgs[d]}
		archs["vgg"+d+"_bn"] = archSpec{family: "vgg", vggCfg: vggCfgs[d], vggBN: true}
	}
	for name, a := range archs {
		a.name = name
		a.classes = 1000
		archs[name] = a
	}
}

// Archs lists the built-in torchvision architectures.
func Archs() []string {
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		// resnet18 < resnet101: compare family, then depth numerically.
		fa, fb := strings.TrimRight(a, "0123456789_bn"), strings.TrimRight(b, "0123456789_bn")
		if fa != fb {
			return strings.Compare(fa, fb)
		}
		var da, db int
		fmt.Sscanf(strings.TrimPrefix(a, fa), "%d", &da)
		fmt.Sscanf(strings.TrimPrefix(b, fb), "%d", &db)
		if da != db {
			return da - db
		}
		return strings.Compare(a, b)
	})
	return names
}

func lookupArch(name string) (archSpec, error) {
	a, ok := archs[strings.ToLower(name)]
	if !ok {
		return a, fmt.Errorf("unknown architecture %q; built-in torchvision architectures: %s", name, strings.Join(Archs(), ", "))
	}
	return a, nil
}

// expansion returns the channel multiplier of the block type.
func (a archSpec) expansion() int {
	if a.bottle {
		return 4
	}
	return 1
}

// modules lists the architecture's modules in named_modules() order.
func (a archSpec) modules() []module {
	var ms []module
	add := func(m module) { ms = append(ms, m) }
	switch a.family {
	case "resnet":
		add(module{name: "conv1", kind: "Conv2d", out: 64, in: 3, k: 7})
		add(module{name: "bn1", kind: "BatchNorm2d", out: 64})
		add(module{name: "relu", kind: "ReLU"})
		add(module{name: "maxpool", kind: "MaxPool2d"})
		inplanes := 64
		for s, n := range a.blocks {
			planes := 64 << s
			stage := fmt.Sprintf("layer%d", s+1)
			add(module{name: stage, kind: "Sequential"})
			for b := range n {
				p := fmt.Sprintf("%s.%d", stage, b)
				stride := 1
				if s > 0 && b == 0 {
					stride = 2
				}
				out := planes * a.expansion()
				if a.bottle {
					add(module{name: p, kind: "Bottleneck"})
					add(module{name: p + ".conv1", kind: "Conv2d", out: planes, in: inplanes, k: 1})
					add(module{name: p + ".bn1", kind: "BatchNorm2d", out: planes})
					add(module{name: p + ".conv2", kind: "Conv2d", out: planes, in: planes, k: 3})
					add(module{name: p + ".bn2", kind: "BatchNorm2d", out: planes})
					add(module{name: p + ".conv3", kind: "Conv2d", out: out, in: planes, k: 1})
					add(module{name: p + ".bn3", kind: "BatchNorm2d", out: out})
					add(module{name: p + ".relu", kind: "ReLU"})
				} else {
					add(module{name: p, kind: "BasicBlock"})
					add(module{name: p + ".conv1", kind: "Conv2d", out: planes, in: inplanes, k: 3})
					add(module{name: p + ".bn1", kind: "BatchNorm2d", out: planes})
					add(module{name: p + ".relu", kind: "ReLU"})
					add(module{name: p + ".conv2", kind: "Conv2d", out: planes, in: planes, k: 3})
					add(module{name: p + ".bn2", kind: "BatchNorm2d", out: planes})
				}
				if stride != 1 || inplanes != out {
					add(module{name: p + ".downsample", kind: "Sequential"})
					add(module{name: p + ".downsample.0", kind: "Conv2d", out: out, in: inplanes, k: 1})
					add(module{name: p + ".downsample.1", kind: "BatchNorm2d", out: out})
				}
				inplanes = out
			}
		}
		add(module{name: "avgpool", kind: "AdaptiveAvgPool2d"})
		add(module{name: "fc", kind: "Linear", out: a.classes, in: 512 * a.expansion(), bias: true})
	case "vgg":
		add(module{name: "features", kind: "Sequential"})
		i, in := 0, 3
		for _, c := range a.vggCfg {
			if c == 0 {
				add(module{name: fmt.Sprintf("features.%d", i), kind: "MaxPool2d"})
				i++
				continue
			}
			add(module{name: fmt.Sprintf("features.%d", i), kind: "Conv2d", out: c, in: in, k: 3, bias: true})
			i++
			if a.vggBN {
				add(module{name: fmt.Sprintf("features.%d", i), kind: "BatchNorm2d", out: c})
				i++
			}
			add(module{name: fmt.Sprintf("features.%d", i), kind: "ReLU"})
			i++
			in = c
		}
		add(module{name: "avgpool", kind: "AdaptiveAvgPool2d"})
		add(module{name: "classifier", kind: "Sequential"})
		add(module{name: "classifier.0", kind: "Linear", out: 4096, in: 512 * 7 * 7, bias: true})
		add(module{name: "classifier.1", kind: "ReLU"})
		add(module{name: "classifier.2", kind: "Dropout"})
		add(module{name: "classifier.3", kind: "Linear", out: 4096, in: 4096, bias: true})
		add(module{name: "classifier.4", kind: "ReLU"})
		add(module{name: "classifier.5", kind: "Dropout"})
		add(module{name: "classifier.6", kind: "Linear", out: a.classes, in: 4096, bias: true})
	}
	return ms
}

// param is one tensor of the state dict.
type param struct {
	name     string
	shape    []int
	optional bool // num_batches_tracked
}

// params lists the state-dict tensors of the architecture, in order.
func (a archSpec) params() []param {
	var ps []param
	for _, m := range a.modules() {
		switch m.kind {
		case "Conv2d":
			ps = append(ps, param{name: m.name + ".weight", shape: []int{m.out, m.in, m.k, m.k}})
			if m.bias {
				ps = append(ps, param{name: m.name + ".bias", shape: []int{m.out}})
			}
		case "Linear":
			ps = append(ps, param{name: m.name + ".weight", shape: []int{m.out, m.in}},
				param{name: m.name + ".bias", shape: []int{m.out}})
		case "BatchNorm2d":
			for _, s := range []string{"weight", "bias", "running_mean", "running_var"} {
				ps = append(ps, param{name: m.name + "." + s, shape: []int{m.out}})
			}
			ps = append(ps, param{name: m.name + ".num_batches_tracked", shape: []int{}, optional: true})
		}
	}
	return ps
}
