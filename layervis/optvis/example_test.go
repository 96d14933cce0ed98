package optvis_test

import (
	"context"
	"fmt"
	"image/png"
	"log"
	"os"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/zoo"
)

// Render one channel of the demo model with the defaults (Fourier spectrum,
// decorrelated colour, lucid's standard transforms, Adam) and save it.
func ExampleRender() {
	b, err := backend.Get() // the backend GOMLX_BACKEND names: pure Go when unset
	if err != nil {
		log.Fatal(err)
	}
	m, _, err := zoo.Open("demo", "")
	if err != nil {
		log.Fatal(err)
	}
	layer := "tower_0/MobilenetV3/expanded_conv_5/expand/Relu"
	res, err := optvis.Render(context.Background(), b, m, optvis.Channel(layer, 7)).
		Size(128).Steps(256).Snapshots(64, 128).
		Progress(func(e optvis.Event) {
			if e.Snapshot != nil {
				fmt.Printf("step %d: activation %.2f\n", e.Step, e.Snapshot.Value)
			}
		}).Done()
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create("channel_0007.png")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, res.Final().Images[0]); err != nil {
		log.Fatal(err)
	}
}

// A batch of four images of one channel made to differ from one another
// (lucid's diversity term, weight 1 on this model), with MaCo's phase-only
// parameterization and its box-crop augmentation.
func ExampleDiversity() {
	b, err := backend.Get() // the backend GOMLX_BACKEND names: pure Go when unset
	if err != nil {
		log.Fatal(err)
	}
	m, _, err := zoo.Open("demo", "")
	if err != nil {
		log.Fatal(err)
	}
	layer := "tower_0/MobilenetV3/expanded_conv_5/expand/Relu"
	obj := optvis.Sum(optvis.Channel(layer, 7), optvis.Diversity(layer))
	res, err := optvis.Render(context.Background(), b, m, obj).
		Batch(4).Param(optvis.MaCoParam()).LR(1).
		Transforms(optvis.BoxCrop(0.5, 0.9, 2), optvis.Noise(0.05)).Done()
	if err != nil {
		log.Fatal(err)
	}
	for i, name := range res.TermNames {
		fmt.Printf("%s: %.3f\n", name, res.Final().Terms[i])
	}
}
