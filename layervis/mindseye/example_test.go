package mindseye_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/mindseye"
	"github.com/layervis/layervis/layervis/zoo"
)

// A whole run: the images of a folder, the model's suggested layers, the
// reference hyper-parameters except a smaller size and fewer iterations.
func ExampleGenerate() {
	m, _, err := zoo.Open("resnet50", "resnet50-0676ba61.pth")
	if err != nil {
		log.Fatal(err)
	}
	cfg := mindseye.Clean()          // or mindseye.Compat() to reproduce vis.py
	cfg.Backend, err = backend.Get() // the backend GOMLX_BACKEND names: pure Go when unset
	if err != nil {
		log.Fatal(err)
	}
	cfg.Model, cfg.Images, cfg.Out = m, []string{"photos/"}, "out/"
	cfg.Size, cfg.Iterations = 256, 601
	rep, err := mindseye.Generate(context.Background(), cfg, func(ev mindseye.Event) {
		if ev.Snapshot != nil {
			fmt.Printf("iteration %d: loss %.4g\n", ev.Iteration, ev.Terms.Total)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range rep.Facets {
		fmt.Printf("%s: activation %+.3g\n", f.Dir, f.ActivationGain)
	}
}

// Step by step, as in a notebook: the images of each snapshot are
// image.Image values ready to display.
func ExampleRun_Step() {
	m, _, err := zoo.Open("demo", "")
	if err != nil {
		log.Fatal(err)
	}
	cfg := mindseye.Clean()
	cfg.Backend, err = backend.Get() // the backend GOMLX_BACKEND names: pure Go when unset
	if err != nil {
		log.Fatal(err)
	}
	cfg.Model, cfg.Images, cfg.Out = m, []string{"photos/"}, "out/"
	cfg.Size, cfg.Clusters, cfg.Iterations, cfg.SaveEvery = 192, 4, 301, 50
	r, err := mindseye.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Prepare(ctx, nil); err != nil {
		log.Fatal(err)
	}
	for {
		ev, err := r.Step(ctx)
		if errors.Is(err, mindseye.ErrDone) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if ev.Snapshot != nil {
			fmt.Println(ev.Iteration, len(ev.Snapshot.Images), ev.Snapshot.Activation)
		}
	}
	if err := r.Finish(); err != nil {
		log.Fatal(err)
	}
}
