// Command layers prints a model's layer catalogue: every layer's name, type
// and output shape at the chosen input size.
//
//	go run ./examples/layers -model resnet50 [-weights resnet50.pth] [-size 224]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/zoo"
)

func main() {
	name := flag.String("model", "resnet50", "model: a built-in architecture")
	weights := flag.String("weights", "", "weights file (.pth or .safetensors); empty: random weights")
	size := flag.Int("size", 0, "input size (square); 0: the model's default")
	flag.Parse()
	if err := run(*name, *weights, *size); err != nil {
		fmt.Fprintln(os.Stderr, "layers:", err)
		os.Exit(1)
	}
}

func run(name, weights string, size int) error {
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
	fmt.Printf("model:   %s\nweights: %s\nbackend: %s\n", m.Name(), info.Source, backend.Describe(b))
	fmt.Printf("input:   %s %v range, mean %v std %v, %dx%d (default %d, min %d)\n",
		in.Order, in.Range, in.Mean, in.Std, size, size, in.Size, in.MinSize)
	fmt.Printf("layers:  %d (a module's input is the name with %q)\n\n", len(layers), cnn.InputSuffix)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSHAPE")
	for _, l := range layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Name, l.Kind, strings.Trim(fmt.Sprint(l.Shape), "[]"))
	}
	return tw.Flush()
}
