// Command mindseye runs the Mind's Eye feature visualization (package
// layervis/mindseye) on a set of images: it clusters the images' features
// at a layer into facets and optimizes one image per facet that shows what
// the layer responds to in that facet.
//
//	go run ./examples/mindseye [-model demo] [-weights F] [-layer NAME] [-penalty NAME]
//	    [-images DIR[,FILE...]] [-out DIR] [-clusters K] [-iterations N] [-size S]
//	    [-preset clean|compat] [-seed N]
//
// With no flags it runs on the offline demo model and photos
// (scripts/fetch-assets.sh), with settings sized to finish in minutes on a
// laptop CPU; -help lists them next to the reference's. Outputs:
// DIR/facet_XX/iteration_NNNN.png, DIR/tsne.png and DIR/report.json.
// Ctrl-C stops the run and keeps what it made (a second Ctrl-C kills it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/mindseye"
	"github.com/layervis/layervis/layervis/zoo"
)

// Quick settings: what a run with no flags uses, sized so that the demo
// finishes in a few minutes on two CPU cores (the reference's values are
// in the help).
const (
	quickSize       = 128
	quickClusters   = 4
	quickExemplars  = 5
	quickIterations = 301
	quickSaveEvery  = 50
	fallbackModel   = "resnet18"
)

// options are the command-line settings.
type options struct {
	model, weights, layer, penalty, images, out, preset           string
	overwrite, quiet                                              bool
	clusters, exemplars, channels, iterations, size, save, window int
	seed                                                          uint64
	seedSet                                                       bool
	extra                                                         []string // positional image paths
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("mindseye", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	ref := mindseye.Clean()
	fs.StringVar(&o.model, "model", "", "model: \"demo\" (the offline demo detector), a built-in architecture (resnet18 … vgg19_bn) or a TF.js model.json; default: demo, or "+fallbackModel+" with random weights if the demo is not available")
	fs.StringVar(&o.weights, "weights", "", "weights file (.pth or .safetensors) for a built-in architecture")
	fs.StringVar(&o.layer, "layer", "", "target layer whose pooled features define the facets; default: the model's suggestion (ResNet: layer4)")
	fs.StringVar(&o.penalty, "penalty", "", "penalty layer (L1), usually a module's input; default: the model's suggestion (ResNet-50: layer4.2.conv3:in)")
	fs.StringVar(&o.images, "images", "", "image folder(s) or files, comma-separated (more may follow the flags); default: the demo photos")
	fs.StringVar(&o.out, "out", "mindseye-out", "output folder (new, empty, or a previous mindseye output)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "write into a non-empty folder that is not a previous output")
	fs.StringVar(&o.preset, "preset", "clean", "\"clean\" (the method's apparent intent) or \"compat\" (reproduces the reference vis.py, quirks included)")
	fs.IntVar(&o.clusters, "clusters", quickClusters, fmt.Sprintf("K, facets (reference: %d)", ref.Clusters))
	fs.IntVar(&o.exemplars, "exemplars", quickExemplars, fmt.Sprintf("M, images blended per facet (reference: %d)", ref.Exemplars))
	fs.IntVar(&o.channels, "channels", ref.TopChannels, "n, channels per facet in the activation term (reference: 50)")
	fs.IntVar(&o.iterations, "iterations", quickIterations, fmt.Sprintf("optimization steps (reference: %d)", ref.Iterations))
	fs.IntVar(&o.size, "size", quickSize, fmt.Sprintf("working image size (reference: %d)", ref.Size))
	fs.IntVar(&o.save, "save-every", quickSaveEvery, fmt.Sprintf("snapshot period (reference: %d)", ref.SaveEvery))
	fs.IntVar(&o.window, "window-step", 0, fmt.Sprintf("jitter re-crop period; 0: the reference's %d scaled to -iterations (%d·iterations/%d, at least 10)", ref.WindowStep, ref.WindowStep, ref.Iterations))
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (t-SNE, k-means, jitter); compat draws one unless given")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: go run ./examples/mindseye [flags] [image paths...]

The Mind's Eye (ICIP 2021): cluster a set of images by a layer's features and
optimize one image per facet. Writes OUT/facet_XX/iteration_NNNN.png,
OUT/tsne.png and OUT/report.json.

The defaults are sized to finish in minutes on a laptop CPU: %d×%d images,
K = %d, M = %d, %d iterations, snapshots every %d. The reference runs
512×512, K = 10, M = 10, n = 50, 2001 iterations, snapshots every 200,
re-crop every 400 (ResNet-152 on a GPU): -size 512 -clusters 10 -exemplars 10
-iterations 2001 -save-every 200 -preset compat reproduces it.

`, quickSize, quickSize, quickClusters, quickExemplars, quickIterations, quickSaveEvery)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			o.seedSet = true
		}
	})
	o.extra = fs.Args()
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the process
	}()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mindseye:", err)
		os.Exit(1)
	}
}

// openModel opens the model the options name. With no -model it tries the
// demo and, if it is missing or suggests no layers, falls back to
// resnet18 with random weights, saying so loudly.
func openModel(o *options, stderr io.Writer) (cnn.Model, zoo.Info, error) {
	if o.model != "" {
		return zoo.Open(o.model, o.weights)
	}
	m, info, err := zoo.Open("demo", "")
	if err == nil {
		if _, ok := m.(cnn.MethodLayers); ok || o.layer != "" {
			return m, info, nil
		}
		err = fmt.Errorf("the demo model suggests no layers for the method yet")
	}
	fmt.Fprintf(stderr, "\n*** The demo model is not usable here (%v).\n*** Running %s with RANDOM weights instead: the images show the architecture, nothing learned.\n*** Fetch the demo with %s, or pass -model and -weights.\n\n", err, fallbackModel, assets.FetchHint)
	return zoo.Open(fallbackModel, "")
}

func run(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	cfg, err := mindseye.Preset(o.preset)
	if err != nil {
		return err
	}
	b, err := backend.Get()
	if err != nil {
		return err
	}
	m, info, err := openModel(o, stderr)
	if err != nil {
		return err
	}
	if info.Random && o.model != "" {
		fmt.Fprintf(stderr, "*** %s has RANDOM weights (%s): the images show the architecture, nothing learned.\n", m.Name(), info.Source)
	}
	images := o.extra
	if o.images != "" {
		images = append(strings.Split(o.images, ","), images...)
	}
	if len(images) == 0 {
		if images, err = assets.DemoPhotos(); err != nil {
			return fmt.Errorf("no -images given and %w", err)
		}
	}
	cfg.Model, cfg.Target, cfg.Penalty = m, o.layer, o.penalty
	cfg.Images, cfg.Out, cfg.Overwrite = images, o.out, o.overwrite
	cfg.Size, cfg.Clusters, cfg.Exemplars, cfg.TopChannels = o.size, o.clusters, o.exemplars, o.channels
	cfg.Iterations, cfg.SaveEvery = o.iterations, o.save
	cfg.WindowStep = o.window
	if o.window == 0 {
		cfg.WindowStep = max(10, cfg.WindowStep*o.iterations/mindseye.Clean().Iterations)
	}
	if o.seedSet {
		cfg.Seed, cfg.Quirks.Unseeded = o.seed, false
	}
	r, err := mindseye.New(cfg)
	if err != nil {
		return err
	}
	cfg = r.Config()
	fmt.Fprintf(stdout, "model %s: %s\ntarget %s, penalty %s\nbackend %s\npreset %s: %d images → up to %d facets, %dx%d, %d iterations\n",
		m.Name(), info.Source, cfg.Target, cfg.Penalty, backend.Describe(b), cfg.Preset, len(images), cfg.Clusters,
		cfg.Size, cfg.Size, cfg.Iterations)
	bar := &progress{w: stderr, quiet: o.quiet, start: time.Now()}
	err = r.Prepare(ctx, bar.event)
	for err == nil {
		var ev mindseye.Event
		if ev, err = r.Step(ctx); err == nil {
			bar.event(ev)
		}
	}
	bar.clear()
	if errors.Is(err, mindseye.ErrDone) {
		err = nil
	}
	ferr := r.Finish()
	rep := r.Report()
	summary(stdout, rep, cfg.Out)
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stdout, "interrupted after %d iterations; the outputs so far are in %s\n", rep.Iterations, cfg.Out)
		return nil
	case err != nil:
		return err
	}
	return ferr
}

// summary prints where the outputs are and how each facet's activation
// changed.
func summary(w io.Writer, rep *mindseye.Report, out string) {
	if len(rep.Facets) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%d facets from %d images (%d skipped); outputs in %s:\n", len(rep.Facets), len(rep.Images), len(rep.Skipped), out)
	for _, f := range rep.Facets {
		last := f.Snapshots[len(f.Snapshots)-1]
		fmt.Fprintf(w, "  %s/ %d members, activation on its %d channels %.3g → %.3g (%+.3g) at iteration %d\n",
			filepath.Join(out, f.Dir), f.Members, len(f.Channels), f.Snapshots[0].Activation, last.Activation, f.ActivationGain, last.Iteration)
	}
	fmt.Fprintf(w, "  %s\n  %s\n", filepath.Join(out, rep.TSNE), filepath.Join(out, "report.json"))
	if rep.Iterations > 0 {
		fmt.Fprintf(w, "time: features %.1fs, facets %.1fs, optimization %.1fs (per iteration: step %.3fs, host %.3fs)\n",
			rep.Timings.Features, rep.Timings.Facets, rep.Timings.Optimize, rep.Timings.StepMean, rep.Timings.HostMean)
	}
}

// progress draws a one-line progress bar on a terminal, or a line per
// snapshot elsewhere.
type progress struct {
	w     io.Writer
	quiet bool
	start time.Time
	shown bool
}

func (p *progress) event(ev mindseye.Event) {
	if ev.Warning {
		p.clear()
		fmt.Fprintln(p.w, "warning:", ev.Message)
		return
	}
	if p.quiet {
		return
	}
	tty := isTerminal(p.w)
	switch {
	case ev.Stage != mindseye.StageOptimize:
		if tty {
			fmt.Fprintf(p.w, "\r\033[K%s: %s", ev.Stage, ev.Message)
			p.shown = true
		} else if ev.Stage == mindseye.StageFacets && ev.Total == 0 {
			fmt.Fprintf(p.w, "%s: %s\n", ev.Stage, ev.Message)
		}
	case tty:
		const width = 24
		done := width * ev.Done / max(ev.Total, 1)
		eta := time.Duration(float64(ev.Total-ev.Done)/max(ev.Rate, 1e-9)) * time.Second
		fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d loss %.4g (act %.3g, dist %.3g, L1 %.3g) %.2f it/s ETA %s",
			strings.Repeat("#", done), strings.Repeat(".", width-done), ev.Iteration, ev.Total, ev.Terms.Total,
			ev.Terms.Activation, ev.Terms.Distance, ev.Terms.L1, ev.Rate, eta.Round(time.Second))
		p.shown = true
	case ev.Snapshot != nil:
		fmt.Fprintf(p.w, "iteration %d/%d loss %.4g, %.2f it/s\n", ev.Iteration, ev.Total, ev.Terms.Total, ev.Rate)
	}
}

func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
