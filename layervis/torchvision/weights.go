package torchvision

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/checkpoint"
	"github.com/layervis/layervis/layervis/nn"
)

// bnEps is torchvision's BatchNorm2d epsilon.
const bnEps = 1e-5

// stateDict is a set of weights in PyTorch layout.
type stateDict map[string]*checkpoint.Tensor

// timmAliases maps timm's VGG names to torchvision's (timm's ResNets already
// use torchvision's names). timm stores the first two classifier layers as
// convolutions; their weights hold the same numbers in the same order.
var timmAliases = map[string]string{
	"pre_logits.fc1.weight": "classifier.0.weight",
	"pre_logits.fc1.bias":   "classifier.0.bias",
	"pre_logits.fc2.weight": "classifier.3.weight",
	"pre_logits.fc2.bias":   "classifier.3.bias",
	"head.fc.weight":        "classifier.6.weight",
	"head.fc.bias":          "classifier.6.bias",
}

// fromCheckpoint checks that ck has exactly the tensors of the architecture,
// with the right shapes, and returns them under torchvision's names.
func (a archSpec) fromCheckpoint(ck *checkpoint.Checkpoint) (stateDict, error) {
	sd := stateDict{}
	for _, name := range ck.Names {
		t := ck.Tensors[name]
		if alias, ok := timmAliases[name]; ok && a.family == "vgg" {
			name = alias
		}
		sd[name] = t
	}
	expected := map[string]bool{}
	for _, p := range a.params() {
		expected[p.name] = true
		t, ok := sd[p.name]
		if !ok {
			if p.optional {
				continue
			}
			return nil, fmt.Errorf("checkpoint %q does not fit %s: tensor %q is missing (the checkpoint has %d tensors; is it for another architecture?)",
				ck.Path, a.name, p.name, len(ck.Names))
		}
		if !slices.Equal(t.Shape, p.shape) && !(numel(t.Shape) == numel(p.shape) && isAlias(p.name)) {
			return nil, fmt.Errorf("checkpoint %q does not fit %s: tensor %q has shape %v in the checkpoint, the architecture expects %v",
				ck.Path, a.name, p.name, t.Shape, p.shape)
		}
	}
	for _, name := range ck.Names {
		if alias, ok := timmAliases[name]; ok && a.family == "vgg" {
			name = alias
		}
		if !expected[name] {
			return nil, fmt.Errorf("checkpoint %q does not fit %s: unexpected tensor %q (is it for another architecture? built-in: %s)",
				ck.Path, a.name, name, strings.Join(Archs(), ", "))
		}
	}
	return sd, nil
}

func isAlias(name string) bool {
	for _, v := range timmAliases {
		if v == name {
			return true
		}
	}
	return false
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// randomStateDict initializes weights as torchvision does (Kaiming-normal
// fan-out convolutions, unit batch norms), seeded.
func (a archSpec) randomStateDict(seed uint64) stateDict {
	rng := rand.New(rand.NewPCG(seed, 0x6c617965727669))
	sd := stateDict{}
	normal := func(shape []int, std float64) []float32 {
		v := make([]float32, numel(shape))
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
		return v
	}
	fill := func(shape []int, c float32) []float32 {
		v := make([]float32, numel(shape))
		for i := range v {
			v[i] = c
		}
		return v
	}
	for _, p := range a.params() {
		var data []float32
		switch {
		case strings.HasSuffix(p.name, ".running_var"), strings.HasSuffix(p.name, ".num_batches_tracked"):
			data = fill(p.shape, 1)
		case len(p.shape) == 4: // conv: kaiming_normal_(mode="fan_out", relu)
			fanOut := p.shape[0] * p.shape[2] * p.shape[3]
			data = normal(p.shape, math.Sqrt(2/float64(fanOut)))
		case len(p.shape) == 2: // linear
			data = normal(p.shape, 0.01)
		case strings.HasSuffix(p.name, ".weight"): // batch norm γ
			data = fill(p.shape, 1)
		default: // biases, β, running_mean
			data = fill(p.shape, 0)
		}
		sd[p.name] = &checkpoint.Tensor{Name: p.name, Shape: p.shape, DType: "float32", Data: data}
	}
	return sd
}

// toStore converts a state dict into frozen GoMLX variables in the layout
// the graph uses: convolution kernels HWIO as matrices [kh·kw·in, out], batch norms as a per-channel
// scale and shift. A batch norm that follows a convolution is folded into
// it (see [foldBN]); toStore returns the names of the folded convolutions.
func (a archSpec) toStore(sd stateDict) (*model.Store, map[string]bool, error) {
	store := model.NewStore()
	put := func(name string, data []float32, dims ...int) error {
		v, err := store.CreateVariable("/"+name, tensors.FromFlatDataAndDimensions(data, dims...))
		if err != nil {
			return err
		}
		v.SetTrainable(false)
		return nil
	}
	folded := map[string]bool{}
	mods := a.modules()
	for i, m := range mods {
		var err error
		switch m.kind {
		case "Conv2d":
			w := oihwToHWIO(sd[m.name+".weight"].Data, m.out, m.in, m.k)
			var bias []float32
			if m.bias {
				bias = sd[m.name+".bias"].Data
				err = put(m.name+".bias", bias, m.out)
			}
			if err == nil && i+1 < len(mods) && mods[i+1].kind == "BatchNorm2d" {
				bn := mods[i+1].name
				var scale, shift []float32
				scale, shift, err = nn.BatchNormScaleShift(sd[bn+".weight"].Data, sd[bn+".bias"].Data,
					sd[bn+".running_mean"].Data, sd[bn+".running_var"].Data, bnEps)
				if err == nil {
					if unscale, ok := foldBN(w, bias, scale, shift); ok {
						folded[m.name] = true
						err = errors.Join(put(bn+".unscale", unscale, m.out), put(bn+".shift", shift, m.out))
					} else {
						err = errors.Join(put(bn+".scale", scale, m.out), put(bn+".shift", shift, m.out))
					}
				}
			}
			if err == nil {
				err = put(m.name+".weight", w, m.k*m.k*m.in, m.out) // HWIO as a matrix: see nn.Conv2D.Window
			}
		case "BatchNorm2d":
			if i > 0 && mods[i-1].kind == "Conv2d" {
				continue // stored with its convolution
			}
			var scale, shift []float32
			scale, shift, err = nn.BatchNormScaleShift(sd[m.name+".weight"].Data, sd[m.name+".bias"].Data,
				sd[m.name+".running_mean"].Data, sd[m.name+".running_var"].Data, bnEps)
			if err == nil {
				err = errors.Join(put(m.name+".scale", scale, m.out), put(m.name+".shift", shift, m.out))
			}
		case "Linear":
			err = put(m.name+".weight", sd[m.name+".weight"].Data, m.out, m.in)
			if err == nil {
				err = put(m.name+".bias", sd[m.name+".bias"].Data, m.out)
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: module %s: %w", a.name, m.name, err)
		}
	}
	return store, folded, nil
}

// foldBN folds the inference batch norm y·scale + shift that follows a
// convolution with the HWIO kernel w (and bias, nil if none) into it, in
// place: w·scale per output channel, shift ← bias·scale + shift. It returns
// 1/scale, with which the convolution's own output stays available
// (conv(x, w·scale)·(1/scale) + bias), and false, changing nothing, if a
// scale is zero, tiny or not finite, where that would lose precision.
func foldBN(w, bias, scale, shift []float32) (unscale []float32, ok bool) {
	n := len(scale)
	unscale = make([]float32, n)
	for i, s := range scale {
		u := 1 / float64(s)
		if math.Abs(float64(s)) < 1e-12 || math.IsInf(u, 0) || math.IsNaN(u) || math.IsInf(float64(s), 0) {
			return nil, false
		}
		unscale[i] = float32(u)
	}
	for i := range w {
		w[i] = float32(float64(w[i]) * float64(scale[i%n]))
	}
	for i := range bias {
		shift[i] = float32(float64(bias[i])*float64(scale[i]) + float64(shift[i]))
	}
	return unscale, true
}

// oihwToHWIO transposes a PyTorch convolution kernel to [kh, kw, in, out].
func oihwToHWIO(w []float32, o, i, k int) []float32 {
	out := make([]float32, len(w))
	for oo := range o {
		for ii := range i {
			for ky := range k {
				for kx := range k {
					out[((ky*k+kx)*i+ii)*o+oo] = w[((oo*i+ii)*k+ky)*k+kx]
				}
			}
		}
	}
	return out
}
