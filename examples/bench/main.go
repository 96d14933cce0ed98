// Command bench times one optimization step of a model — forward to a layer,
// the gradient of the layer's mean activation w.r.t. the input, and an update
// of the input — the unit of work of every feature-visualization method.
//
//	go run ./examples/bench -model resnet50 -layer layer4 -size 224 -batch 1 -iters 10
//
// It prints one JSON line: {"median_s":…, "min_s":…, "peak_rss_mb":…, …}
// (peak_rss_mb: the process's peak resident set, weights included).
// scripts/bench.sh runs it next to PyTorch and prints the ratio.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/bench"
	"github.com/layervis/layervis/layervis/zoo"
)

func main() {
	name := flag.String("model", "resnet50", "model")
	weights := flag.String("weights", "", "weights file; empty: random weights (timing does not depend on them)")
	layer := flag.String("layer", "layer4", "layer to maximize")
	size := flag.Int("size", 224, "input size")
	batch := flag.Int("batch", 1, "batch size")
	iters := flag.Int("iters", 10, "timed steps (after 2 warm-up steps)")
	flag.Parse()
	if err := run(*name, *weights, *layer, *size, *batch, *iters); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(name, weights, layer string, size, batch, iters int) error {
	b, err := backend.Get()
	if err != nil {
		return err
	}
	m, _, err := zoo.Open(name, weights)
	if err != nil {
		return err
	}
	step, err := bench.Compile(b, m, layer, 0.01)
	if err != nil {
		return err
	}
	x := bench.Input(m, batch, size)
	t0, cpu0 := time.Now(), bench.CPUTime()
	var times []float64
	for i := range iters + 2 {
		start := time.Now()
		out, err := step.Exec(x)
		if err != nil {
			return err
		}
		if _, err := tensors.CopyFlatData[float32](out[1]); err != nil { // wait for the step (a scalar: x stays on the device)
			return err
		}
		x = out[0]
		if i >= 2 {
			times = append(times, time.Since(start).Seconds())
		}
	}
	slices.Sort(times)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"model": name, "layer": layer, "size": size, "batch": batch, "backend": backend.Describe(b),
		"median_s": times[len(times)/2], "min_s": times[0], "iters": iters, "total_s": time.Since(t0).Seconds(),
		"cpu_s_per_step": (bench.CPUTime() - cpu0).Seconds() / float64(iters+2),
		"peak_rss_mb":    float64(bench.PeakRSS()) / 1e6,
	})
}
