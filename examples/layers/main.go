// Command layers prints a model's layer catalogue: every layer's name, type
// and output shape at the chosen input size, with the layers the Mind's Eye
// method uses by default marked.
//
//	go run ./examples/layers -model resnet50 [-weights resnet50.pth] [-size 224]
//	go run ./examples/layers -model demo
//	go run ./examples/layers -model model.onnx
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/zoo"
)

func main() {
	name := flag.String("model", "resnet50", "model: \"demo\" (the offline demo detector), a built-in architecture (resnet18 … vgg19_bn), a TF.js model.json or an ONNX .onnx file")
	weights := flag.String("weights", "", "weights file (.pth or .safetensors) for a built-in architecture; empty: random weights")
	size := flag.Int("size", 0, "input size (square); 0: the model's default")
	flag.Parse()
	if err := run(os.Stdout, *name, *weights, *size); err != nil {
		fmt.Fprintln(os.Stderr, "layers:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, name, weights string, size int) error {
	b, err := backend.Get()
	if err != nil {
		return err
	}
	m, info, err := zoo.Open(name, weights)
	if err != nil {
		return err
	}
	in := m.Input()
	if size == 0 {
		size = in.Size
	}
	layers, err := m.Layers(size, size)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "model:   %s\nweights: %s\nbackend: %s\n", m.Name(), info.Source, backend.Describe(b))
	fmt.Fprintf(w, "input:   %s in %v, %s, %dx%d (%s)\n", in.Order, in.Range, normalization(in), size, size, sizes(in))
	roles := map[string]string{}
	if d, ok := m.(cnn.LayerDefaults); ok {
		target, penalty := d.DefaultLayers()
		roles[target] = "target"
		if base, ok := strings.CutSuffix(penalty, cnn.InputSuffix); ok {
			roles[base] = "penalty: its input"
		} else {
			roles[penalty] = "penalty"
		}
		fmt.Fprintf(w, "mindseye: target %s, penalty %s (the defaults; -layer and -penalty choose others)\n", target, penalty)
	}
	fmt.Fprintf(w, "layers:  %d (a module's input is the name with %q)\n\n", len(layers), cnn.InputSuffix)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSHAPE\tMINDSEYE")
	for _, l := range layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Name, l.Kind, strings.Trim(fmt.Sprint(l.Shape), "[]"), roles[l.Name])
	}
	return tw.Flush()
}

// normalization describes the per-channel normalization after scaling to
// the input range.
func normalization(in cnn.Input) string {
	if len(in.Mean) == 0 {
		return "no mean/std normalization"
	}
	return fmt.Sprintf("normalized with mean %v std %v", in.Mean, in.Std)
}

// sizes describes the input sizes the model takes.
func sizes(in cnn.Input) string {
	s := fmt.Sprintf("default %d, min %d", in.Size, in.MinSize)
	if in.Multiple > 1 {
		s += fmt.Sprintf(", a multiple of %d", in.Multiple)
	}
	return s
}
