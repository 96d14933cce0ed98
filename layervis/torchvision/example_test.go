package torchvision_test

import (
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/torchvision"
)

// The layer catalogue of a ResNet-18: names are torchvision's module paths.
func ExampleModel_Layers() {
	m, err := torchvision.Random("resnet18", 0) // or torchvision.Load("resnet18", "resnet18.pth")
	if err != nil {
		panic(err)
	}
	layers, err := m.Layers(224, 224)
	if err != nil {
		panic(err)
	}
	for _, l := range layers[:6] {
		fmt.Println(l.Name, l.Kind, l.Shape)
	}
	fmt.Println("...", len(layers), "layers")
	// Output:
	// conv1 Conv2d [64 112 112]
	// bn1 BatchNorm2d [64 112 112]
	// relu ReLU [64 112 112]
	// maxpool MaxPool2d [64 56 56]
	// layer1 Sequential [64 56 56]
	// layer1.0 BasicBlock [64 56 56]
	// ... 67 layers
}

// Activations of two layers, one of them a module's input.
func ExampleModel_Build() {
	m, err := torchvision.Random("resnet18", 0)
	if err != nil {
		panic(err)
	}
	b, err := backend.Get()
	if err != nil {
		panic(err)
	}
	x := tensors.FromShape(tensors.FromScalarAndDimensions(float32(0), 2, 3, 64, 64).Shape()) // zeros, NCHW
	acts, err := cnn.Activations(b, m, x, "layer2", "layer4.1.conv2:in")
	if err != nil {
		panic(err)
	}
	for _, a := range acts {
		fmt.Println(a.Shape().Dimensions)
	}
	// Output:
	// [2 128 8 8]
	// [2 512 2 2]
}
