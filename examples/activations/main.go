// Command activations writes a layer's activations for one image, and
// optionally the gradient of the layer's mean activation w.r.t. the
// (normalized) network input, as NumPy .npy files (float32, NCHW).
//
//	go run ./examples/activations -model resnet18 -weights r18.pth -image cat.jpg \
//	    -layer layer3 -out act.npy -grad grad.npy
//
// An image already at the input size (-size, default the model's) is used as
// is; any other is scaled (OpenCV INTER_AREA) so its shorter side is the
// input size and centre-cropped.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/npy"
	"github.com/layervis/layervis/layervis/photo"
	"github.com/layervis/layervis/layervis/zoo"
)

func main() {
	name := flag.String("model", "resnet50", "model: a built-in architecture")
	weights := flag.String("weights", "", "weights file (.pth or .safetensors); empty: random weights")
	image := flag.String("image", "", "input image (PNG, JPEG, GIF, BMP, TIFF, WebP)")
	layer := flag.String("layer", "", "layer name (see examples/layers)")
	out := flag.String("out", "", "output .npy for the activations")
	grad := flag.String("grad", "", "optional output .npy for d mean(layer) / d input")
	size := flag.Int("size", 0, "input size; 0: the model's default")
	force := flag.Bool("force", false, "overwrite existing output files")
	flag.Parse()
	if err := checkOutputs(*image, *force, *out, *grad); err != nil {
		fmt.Fprintln(os.Stderr, "activations:", err)
		os.Exit(1)
	}
	if err := run(*name, *weights, *image, *layer, *out, *grad, *size); err != nil {
		fmt.Fprintln(os.Stderr, "activations:", err)
		os.Exit(1)
	}
}

func run(name, weights, image, layer, out, grad string, size int) error {
	if image == "" || layer == "" || out == "" {
		return fmt.Errorf("-image, -layer and -out are required (see -help)")
	}
	b, err := backend.Get()
	if err != nil {
		return err
	}
	m, info, err := zoo.Open(name, weights)
	if err != nil {
		return err
	}
	if err := cnn.Check(m, layer); err != nil {
		return err
	}
	if size == 0 {
		size = m.Input().Size
	}
	img, err := photo.Load(image)
	if err != nil {
		return err
	}
	x := cnn.Batch(m.Input(), cnn.Fit(img, size))
	fmt.Printf("model %s (%s) on %s, image %s %dx%d → %dx%d\n", m.Name(), info.Source, backend.Describe(b), image, img.W, img.H, size, size)
	var act, g *tensors.Tensor
	if grad != "" {
		act, g, err = cnn.MeanGradient(b, m, x, layer)
	} else {
		var acts []*tensors.Tensor
		acts, err = cnn.Activations(b, m, x, layer)
		if err == nil {
			act = acts[0]
		}
	}
	if err != nil {
		return err
	}
	if err := save(out, act); err != nil {
		return err
	}
	fmt.Printf("%s %v → %s\n", layer, act.Shape().Dimensions, out)
	if g != nil {
		if err := save(grad, g); err != nil {
			return err
		}
		fmt.Printf("gradient %v → %s\n", g.Shape().Dimensions, grad)
	}
	return nil
}

// checkOutputs refuses to write over the input image, and over existing
// files unless force is set.
func checkOutputs(image string, force bool, outs ...string) error {
	in, inErr := os.Stat(image)
	for _, o := range outs {
		if o == "" {
			continue
		}
		st, err := os.Stat(o)
		if err != nil {
			continue // does not exist yet
		}
		if inErr == nil && os.SameFile(in, st) {
			return fmt.Errorf("output %s is the input image; choose another path", o)
		}
		if !force {
			return fmt.Errorf("output %s already exists; remove it or pass -force to overwrite", o)
		}
	}
	return nil
}

func save(path string, t *tensors.Tensor) error {
	data, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return err
	}
	return npy.Write(path, t.Shape().Dimensions, data)
}
