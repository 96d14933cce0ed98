// Command mindseye runs the Mind's Eye feature visualization (package
// layervis/mindseye) on a set of images: it clusters the images' features
// at a layer into facets and optimizes one image per facet, starting from a
// blend of the facet's exemplars, that shows what the layer responds to in
// that facet.
//
//	go run ./examples/mindseye [-model demo] [-weights F] [-layer NAME] [-penalty NAME]
//	    [-images DIR[,FILE...]] [-out DIR] [-clusters K] [-iterations N] [-size S]
//	    [-variant toolbox|loop] [-lambda A,B] [-seed N]
//	    [-lr A,B] [-blur-sigma A,B] [-denoise-weight A,B] [-mask-sigma A,B]
//	    [-window-step N] [-micro-batch N] [-reference] [-preset clean|compat]
//
// With no flags it runs on the offline demo model and photos
// (scripts/fetch-assets.sh) with quick settings and the toolbox variant:
// 90 CPU-seconds on a 2-core machine (the loop: 80), a few minutes at
// most; -help lists the settings next to the reference's. Outputs:
// DIR/facet_XX/iteration_NNNN.png (iteration 0000 the exemplar blend),
// DIR/tsne.png and DIR/report.json (with "variant"). Ctrl-C stops the run, keeps what it made and exits with
// status 130 (a second Ctrl-C kills it). Invalid settings name the flag and
// its valid values, and exit with status 1 (status 2 for a flag that does
// not parse or flags that do not go together).
//
// # Variants
//
// -variant toolbox (the default) optimizes each facet's image with
// layervis/optvis (mindseye.Run.ToolboxRender): it starts from the
// exemplar blend in the decorrelated Fourier parameterization and runs Adam
// (learning rate mindseye.ToolboxLR, 0.05) on the method's dual objective,
// with λ the end of -lambda, through a small jitter, scale and rotation;
// no gradient mask, blur, denoising or 8-bit steps. It is not the
// reference's method.
//
// -variant loop is the reference's loop (vis.py): masked gradient steps on
// 8-bit images with a blur and TV denoising between them, in preset clean
// or compat. -preset and -reference imply it, and -variant toolbox with
// them is an error; -lr, -blur-sigma, -denoise-weight, -mask-sigma,
// -window-step and -micro-batch are its settings, and the toolbox variant
// refuses them (naming -variant loop).
//
// # Why the toolbox variant is the default
//
// Its pictures. BenchmarkToolboxVsClean (toolbox_bench_test.go) runs both
// variants on the same facets (quick settings, seeds 0–2: 12 facets; 2-core
// CPU, pure-Go backend) and measures each facet's activation on its
// channels (final image over the exemplar blend, as report.json does) and
// the share of spectral power above half-Nyquist of the final image. The
// toolbox's images fill the frame with object parts (faces and eyes,
// snouts, fur, feathers, helmet-like ovals); the loop's stay the faded
// exemplar blend with a blob of confetti-like colour in the centre, where
// its gradient mask lets it change the image. The toolbox does not win on
// the numbers: its gains are 8.7–25× (median 15×) against the loop's
// 8.0–38× (median 18×; the loop gained more on 8 of the 12 facets), and its
// images are busier than photos, with a pixel-level stipple
// (high-frequency share 0.13–0.22, median 0.18, against the photos' 0.040;
// the loop's 0.018–0.085, median 0.029, whose detail is the confetti). A
// steeper spectrum (Fourier decay 1.5, seed 0) lowered that share by about
// a third at similar gains but saturated the colours into large flat
// blocks.
//
// Per facet, loop and toolbox gains: seed 0: 37.7 and 24.8×, 19.9 and
// 19.1×, 8.0 and 11.6×, 29.5 and 14.4×; seed 1: 11.7 and 15.2×, 28.7 and
// 10.5×, 13.3 and 17.0×, 16.2 and 17.1×; seed 2: 13.2 and 9.2×, 10.9 and
// 8.7×, 25.0 and 10.7×, 22.6 and 18.5×. With the loop's quick settings and
// its host arithmetic as the reference does it, no facet of these seeds
// blew up (earlier versions saw one fall back to 1.02×). The optimization
// is chaotic: the seed, or a change in the backend's rounding, changes
// which facet gains most.
//
// # Why the loop's quick settings differ from the reference
//
// The reference (vis.py) optimizes ten 512² images for 2001 iterations on
// ResNet-152 with a GPU; that takes hours on a CPU. The quick settings run
// four 128² facets (M = 5 exemplars: the demo has 22 photos) for 301
// iterations. They were tuned on the demo model (the MobileNetV3-CenterNet
// detector, target tower_0/extern1/hard_swish/mul_1), measuring each
// facet's activation on its channels (final over initial, in report.json)
// and looking at the snapshots. The figures below are those ratios for the
// four facets of a run (seed 0, unless noted), measured while tuning, with
// earlier versions of the host steps and of the JPEG decoder:
//
//   - No jitter (-window-step 0; reference: a random re-crop every 400).
//     A re-crop shifts the image by about 14 pixels (standard deviation per
//     axis at 128²), off the centred gradient mask, and fills the border
//     with streaks from the canvas; a short run has no time to recover.
//     Re-cropping every 100 iterations ended at 1.4–3.3×, against 8–29×
//     without.
//   - A wider gradient mask: σ 600→500 (scaled by size/512; reference
//     420→340, a standard deviation of 17→14 pixels at 128²), so that more
//     of the target layer's 4×4 grid is optimized: 3.4–24× with it against
//     2.4–13× without (no jitter, TV weight 8→32, the rest as the
//     reference).
//   - Less smoothing: TV-Bregman weight 8→32 (larger smooths less;
//     reference 2→8) and blur σ 0.5→0.1 (reference 0.9→0.2). With the
//     reference's smoothing every 10 iterations the images fade back
//     towards a blur (2.2–4.7× with the reference's schedules and no
//     jitter); with the reference's blur and the other quick settings, 3
//     of 12 facets over seeds 0–2 ended below 2.1×.
//   - A smaller learning rate, 0.35→0.05 (reference 0.5→0.08), and half
//     the L1 weight, λ 0.5e-4→2.5e-4 (reference 1e-4→5e-4). The
//     detector's input gradients are large: at lr 0.5 one facet in seed 1
//     blew up into saturated colour noise, and with the reference's λ one
//     facet stayed at 2.1×.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/layervis/layervis/examples/internal/cli"
	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/mindseye"
	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/zoo"
)

// whyToolbox says, in the help, why the toolbox variant is the default:
// the figures of BenchmarkToolboxVsClean (see the command's doc comment).
const whyToolbox = `its pictures. On the demo model with the quick
settings (seeds 0-2, 12 facets; BenchmarkToolboxVsClean, 2-core CPU) its
images fill the frame with object parts (faces and eyes, snouts, fur,
feathers); the loop's stay the faded exemplar blend with a blob of
confetti-like colour in the centre, where its gradient mask lets it change
the image. It does not win on the numbers: it raises each facet's activation
on its channels 8.7-25x (median 15x), the loop 8.0-38x (median 18x), and its
images are busier than photos, with a pixel-level stipple (share of spectral
power above half-Nyquist 0.13-0.22 against the photos' 0.04; the loop's
0.02-0.09).`

// quick holds the quick settings (mindseye.Quick), the flags' defaults:
// sized and tuned so that the demo model finishes in a few minutes on two
// CPU cores with every facet's activation clearly up (see the command's
// doc comment for why each differs from the reference; the reference's
// values are in the help). Notebook 01 uses the same.
var quick = mindseye.Quick(mindseye.Clean())

// quickWindowStep is the -window-step default: 0 (no jitter) when the
// quick settings turn the jitter off.
func quickWindowStep() int {
	if quick.Scale <= 1 {
		return 0
	}
	return quick.WindowStep
}

// options are the command-line settings.
type options struct {
	model, weights, layer, penalty, images, out, preset, variant  string
	overwrite, quiet, reference                                   bool
	clusters, exemplars, channels, iterations, size, save, window int
	micro                                                         int
	lr, lambda, blur, denoise, mask                               mindseye.Range
	seed                                                          uint64
	seedSet                                                       bool
	extra                                                         []string // positional image paths
}

// rangeFlag is a schedule flag: "START,END", or one value for both.
type rangeFlag struct{ r *mindseye.Range }

func (f rangeFlag) String() string {
	if f.r == nil {
		return ""
	}
	return fmt.Sprintf("%g,%g", f.r.Start, f.r.End)
}

func (f rangeFlag) Set(s string) error {
	a, b, two := strings.Cut(s, ",")
	start, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
	end := start
	if err == nil && two {
		end, err = strconv.ParseFloat(strings.TrimSpace(b), 64)
	}
	if err != nil {
		return fmt.Errorf("%q is not START,END (two numbers, e.g. 0.5,0.08) or one number", s)
	}
	*f.r = mindseye.Range{Start: start, End: end}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("mindseye", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	ref := mindseye.Clean()
	fs.StringVar(&o.model, "model", "", "model: \"demo\" (the offline demo detector), a built-in architecture (resnet18 … vgg19_bn), a TF.js model.json or an ONNX .onnx file; default: demo, or "+cli.Fallback+" with random weights if the demo is not available")
	fs.StringVar(&o.weights, "weights", "", "weights file (.pth or .safetensors) for a built-in architecture given with -model (the demo, TF.js and ONNX models carry their own)")
	fs.StringVar(&o.layer, "layer", "", "target layer whose pooled features define the facets; default: the model's suggestion (ResNet: layer4)")
	fs.StringVar(&o.penalty, "penalty", "", "penalty layer (L1), usually a module's input; default: the model's suggestion (ResNet-50: layer4.2.conv3:in)")
	fs.StringVar(&o.images, "images", "", "image folder(s) or files, comma-separated (more may follow the flags); default: the demo photos")
	fs.StringVar(&o.out, "out", "mindseye-out", "output folder (new, empty, or a previous mindseye output)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "write into a non-empty folder that is not a previous output")
	fs.StringVar(&o.variant, "variant", "", "\"toolbox\" (optvis's Fourier parameterization and transforms from the exemplar blends) or \"loop\" (the reference's loop); default: toolbox, loop with -preset or -reference")
	fs.StringVar(&o.preset, "preset", "clean", "the loop's preset: \"clean\" (the method's apparent intent) or \"compat\" (reproduces the reference vis.py, quirks included); implies -variant loop")
	fs.IntVar(&o.clusters, "clusters", quick.Clusters, fmt.Sprintf("K, facets (reference: %d)", ref.Clusters))
	fs.IntVar(&o.exemplars, "exemplars", quick.Exemplars, fmt.Sprintf("M, images blended per facet (reference: %d)", ref.Exemplars))
	fs.IntVar(&o.channels, "channels", ref.TopChannels, "n, channels per facet in the activation term (reference: 50)")
	fs.IntVar(&o.iterations, "iterations", quick.Iterations, fmt.Sprintf("optimization steps (reference: %d)", ref.Iterations))
	fs.IntVar(&o.size, "size", quick.Size, fmt.Sprintf("working image size (reference: %d)", ref.Size))
	fs.IntVar(&o.micro, "micro-batch", 0, "loop: images stepped at once; 0: as many as fit half the memory available (pure Go), all on XLA. The images come out the same")
	fs.IntVar(&o.save, "save-every", quick.SaveEvery, fmt.Sprintf("snapshot period (reference: %d)", ref.SaveEvery))
	o.lr, o.lambda, o.blur, o.denoise, o.mask = quick.LR, quick.Lambda, quick.BlurSigma, quick.DenoiseWeight, quick.MaskSigma
	fs.Var(rangeFlag{&o.lr}, "lr", fmt.Sprintf("loop: learning rate START,END, linear over the iterations (reference: %s; the toolbox's Adam runs at %g)", rangeFlag{&ref.LR}, mindseye.ToolboxLR))
	fs.Var(rangeFlag{&o.lambda}, "lambda", fmt.Sprintf("L1 penalty weight λ START,END (reference: %s); the toolbox variant uses END throughout", rangeFlag{&ref.Lambda}))
	fs.Var(rangeFlag{&o.blur}, "blur-sigma", fmt.Sprintf("loop: Gaussian blur σ START,END (reference: %s)", rangeFlag{&ref.BlurSigma}))
	fs.Var(rangeFlag{&o.denoise}, "denoise-weight", fmt.Sprintf("loop: TV-Bregman fidelity weight START,END, larger smooths less (reference: %s)", rangeFlag{&ref.DenoiseWeight}))
	fs.Var(rangeFlag{&o.mask}, "mask-sigma", fmt.Sprintf("loop: gradient mask σ START,END at 512², scaled by size/512 (reference: %s)", rangeFlag{&ref.MaskSigma}))
	fs.IntVar(&o.window, "window-step", quickWindowStep(), fmt.Sprintf("loop: jitter re-crop period; 0: no jitter (reference: %d)", ref.WindowStep))
	fs.BoolVar(&o.reference, "reference", false, "take every quick setting not given as a flag from the reference (the table above); implies -variant loop")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (t-SNE, k-means, jitter); compat draws one unless given")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: go run ./examples/mindseye [flags] [image paths...]

The Mind's Eye (ICIP 2021): cluster a set of images by a layer's features and
optimize one image per facet, starting from a blend of the facet's exemplars.
Writes OUT/facet_XX/iteration_NNNN.png, OUT/tsne.png and OUT/report.json.

Two variants optimize the facets (-variant):

  toolbox  the default. Each facet's image starts from its exemplar blend in
           layervis/optvis's decorrelated Fourier parameterization and is
           optimized with Adam (learning rate `+fmt.Sprint(mindseye.ToolboxLR)+`), small jitter, scale and
           rotation, and the method's dual objective (λ: the end of -lambda);
           no gradient mask, blur, denoising or 8-bit steps. It is not the
           reference's method.
  loop     the reference's loop (vis.py): masked gradient steps on 8-bit
           images with a blur and TV denoising between them. -preset and
           -reference select it (with -variant toolbox they are an error),
           and -lr, -blur-sigma, -denoise-weight, -mask-sigma, -window-step
           and -micro-batch are its settings.

Why toolbox is the default: `+whyToolbox+`

The defaults (the quick settings) are sized and tuned for the demo model on a
laptop CPU: a few minutes on two cores. The reference (vis.py) runs
ResNet-152 on a GPU:

  flag             quick           reference
`)
		for _, st := range referenceSettings(&ref) {
			fmt.Fprintf(stderr, "  -%-15s %-15s %s\n", st.flag, fs.Lookup(st.flag).DefValue, st.reference)
		}
		fmt.Fprint(stderr, `
-reference takes every setting not given as a flag from the reference and
runs the loop; -reference -preset compat reproduces vis.py.

Why the loop's quick settings differ (measured on the demo model; see the
command's doc comment): the reference's run takes hours on a CPU, hence 128²
and 301 iterations. A re-crop moves the image off the centred gradient mask
and a short run has no time to recover, hence no jitter (-window-step 0).
At 128² the mask (its σ scaled by size/512) covers little of the target
layer's 4×4 grid, hence a wider one. With the reference's TV weight, blur
and learning rate the demo detector's images smooth back to a blur or blow
up into noise, hence less smoothing (a larger TV weight), a lighter blur, a
smaller learning rate and half the L1 weight.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	o.seedSet = given["seed"]
	if err := o.pickVariant(given); err != nil {
		return nil, err
	}
	if o.reference {
		for _, st := range referenceSettings(&ref) {
			if !given[st.flag] {
				if err := fs.Set(st.flag, st.reference); err != nil {
					return nil, err
				}
			}
		}
	}
	o.extra = fs.Args()
	return o, nil
}

// loopFlags are the settings of the loop variant alone.
var loopFlags = []string{"lr", "blur-sigma", "denoise-weight", "mask-sigma", "window-step", "micro-batch"}

// pickVariant sets o.variant from -variant, or when not given, to loop
// with -preset or -reference and toolbox otherwise; it refuses the loop's
// flags with the toolbox variant.
func (o *options) pickVariant(given map[string]bool) error {
	loop := given["preset"] || given["reference"]
	switch o.variant {
	case "":
		o.variant = mindseye.VariantToolbox
		if loop {
			o.variant = mindseye.VariantLoop
		}
	case mindseye.VariantLoop:
	case mindseye.VariantToolbox:
		if loop {
			return errors.New("-variant toolbox takes no -preset or -reference: they set up the reference's loop; drop them, or use -variant loop")
		}
	default:
		return fmt.Errorf("-variant %q: use \"toolbox\" (the default) or \"loop\" (the reference's loop)", o.variant)
	}
	if o.variant == mindseye.VariantToolbox {
		for _, f := range loopFlags {
			if given[f] {
				return fmt.Errorf("-%s is a setting of the loop variant, which the default toolbox variant does not have; add -variant loop to run the loop", f)
			}
		}
	}
	return nil
}

// setting is a flag whose default is a quick setting, with the
// reference's value as flag text.
type setting struct{ flag, reference string }

// referenceSettings lists the quick settings' flags with the reference's
// values, in the order the help shows them.
func referenceSettings(ref *mindseye.Config) []setting {
	return []setting{
		{"size", strconv.Itoa(ref.Size)}, {"clusters", strconv.Itoa(ref.Clusters)},
		{"exemplars", strconv.Itoa(ref.Exemplars)}, {"channels", strconv.Itoa(ref.TopChannels)},
		{"iterations", strconv.Itoa(ref.Iterations)}, {"save-every", strconv.Itoa(ref.SaveEvery)},
		{"window-step", strconv.Itoa(ref.WindowStep)}, {"lr", rangeFlag{&ref.LR}.String()},
		{"lambda", rangeFlag{&ref.Lambda}.String()}, {"blur-sigma", rangeFlag{&ref.BlurSigma}.String()},
		{"denoise-weight", rangeFlag{&ref.DenoiseWeight}.String()}, {"mask-sigma", rangeFlag{&ref.MaskSigma}.String()},
	}
}

func main() {
	cli.Main(parseFlags, run, message)
}

// flags maps mindseye.Config fields to the flags that set them.
var flags = map[string]string{
	"Size": "size", "Clusters": "clusters", "Exemplars": "exemplars", "TopChannels": "channels",
	"Iterations": "iterations", "SaveEvery": "save-every", "WindowStep": "window-step",
	"LR": "lr", "Lambda": "lambda", "BlurSigma": "blur-sigma", "DenoiseWeight": "denoise-weight", "MaskSigma": "mask-sigma",
}

// message is the line an error prints as: one "mindseye:" prefix, and a
// setting named by its flag ("-size 7: it must be ...").
func message(err error) string {
	var se *mindseye.SettingError
	if errors.As(err, &se) {
		field, end, isRange := strings.Cut(se.Field, ".")
		if f, ok := flags[field]; ok {
			if isRange {
				return fmt.Sprintf("mindseye: -%s START,END: %s %v; it must be %s", f, strings.ToLower(end), se.Value, se.Want)
			}
			return fmt.Sprintf("mindseye: -%s %v: it must be %s", f, se.Value, se.Want)
		}
	}
	return "mindseye: " + strings.TrimPrefix(err.Error(), "mindseye: ")
}

// openModel opens the model the options name. With no -model it tries the
// demo and, if it is missing or suggests no layers, falls back to
// cli.Fallback with random weights, saying so loudly.
func openModel(o *options, stderr io.Writer) (cnn.Model, zoo.Info, error) {
	return cli.OpenModel(o.model, o.weights, func(m cnn.Model) error {
		if _, ok := m.(cnn.LayerDefaults); !ok && o.layer == "" {
			return fmt.Errorf("the demo model suggests no layers for the method yet")
		}
		return nil
	}, stderr)
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
	images := o.extra
	if o.images != "" {
		images = append(strings.Split(o.images, ","), images...)
	}
	if len(images) == 0 {
		if images, err = assets.DemoPhotos(); err != nil {
			return fmt.Errorf("no -images given and %w", err)
		}
	}
	cfg.Backend, cfg.Model, cfg.Target, cfg.Penalty = b, m, o.layer, o.penalty
	cfg.Images, cfg.Out, cfg.Overwrite = images, o.out, o.overwrite
	cfg.Size, cfg.Clusters, cfg.Exemplars, cfg.TopChannels = o.size, o.clusters, o.exemplars, o.channels
	cfg.Iterations, cfg.SaveEvery, cfg.MicroBatch = o.iterations, o.save, o.micro
	cfg.LR, cfg.Lambda, cfg.BlurSigma, cfg.DenoiseWeight, cfg.MaskSigma = o.lr, o.lambda, o.blur, o.denoise, o.mask
	if o.window == 0 {
		cfg.Scale = 1 // no jitter canvas
	} else {
		cfg.WindowStep = o.window
	}
	if o.seedSet {
		cfg.Seed, cfg.Quirks.Unseeded = o.seed, false
	}
	r, err := mindseye.New(cfg)
	if err != nil {
		return err
	}
	cfg = r.Config()
	variant := fmt.Sprintf("variant loop, preset %s", cfg.Preset)
	if o.variant == mindseye.VariantToolbox {
		variant = fmt.Sprintf("variant toolbox (Fourier parameterization, Adam at %g)", mindseye.ToolboxLR)
	}
	fmt.Fprintf(stdout, "model %s: %s\ntarget %s, penalty %s\nbackend %s\n%s: %d images → up to %d facets, %dx%d, %d iterations\n",
		m.Name(), info.Source, cfg.Target, cfg.Penalty, backend.Describe(b), variant, len(r.Files()), cfg.Clusters,
		cfg.Size, cfg.Size, cfg.Iterations)
	if mem := r.Report().Memory; mem.StepPerImage > 0 && o.variant == mindseye.VariantLoop {
		fmt.Fprintf(stdout, "step memory (estimated): %.1f GB + %.1f GB per image stepped at once; %.1f GB available\n",
			float64(mem.StepFixed)/1e9, float64(mem.StepPerImage)/1e9, float64(mem.Available)/1e9)
	}
	for _, w := range r.Report().Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	bar := &progress{cli.Bar{W: stderr, Quiet: o.quiet}}
	err = r.Prepare(ctx, bar.event)
	if err == nil && o.variant == mindseye.VariantToolbox {
		err = r.ToolboxRender(ctx, optvis.FourierParam(), mindseye.ToolboxLR, bar.event)
	}
	for err == nil && o.variant == mindseye.VariantLoop {
		var ev mindseye.Event
		if ev, err = r.Step(ctx); err == nil {
			bar.event(ev)
		}
	}
	bar.Clear()
	if errors.Is(err, mindseye.ErrDone) {
		err = nil
	}
	ferr := r.Finish()
	rep := r.Report()
	summary(stdout, rep, cfg.Out)
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stdout, "interrupted after %d iterations; the outputs so far are in %s\n", rep.Iterations, cfg.Out)
		return cli.ErrInterrupted
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
	tm := rep.Timings
	switch {
	case rep.Iterations == 0:
	case rep.Variant == mindseye.VariantToolbox:
		fmt.Fprintf(w, "time: features %.1fs, facets %.1fs, optimization %.1fs (compilation included; per step %.3fs, snapshots %.1fs)\n",
			tm.Features, tm.Facets, tm.Optimize, tm.StepMean, tm.Snapshots)
		fmt.Fprintf(w, "memory: peak resident %.1f GB\n", float64(rep.Memory.PeakRSS)/1e9)
	default:
		fmt.Fprintf(w, "time: features %.1fs, facets %.1fs, optimization %.1fs (per iteration: step %.3fs, host %.3fs, transfer %.3fs)\n",
			tm.Features, tm.Facets, tm.Optimize, tm.StepMean, tm.HostMean, tm.TransferMean)
		fmt.Fprintf(w, "memory: peak resident %.1f GB, %d image(s) per step\n", float64(rep.Memory.PeakRSS)/1e9, rep.Memory.MicroBatch)
	}
}

// progress shows a run's events: a progress bar on a terminal, a line per
// snapshot elsewhere.
type progress struct{ cli.Bar }

func (p *progress) event(ev mindseye.Event) {
	if ev.Warning {
		p.Line("warning: %s", ev.Message)
		return
	}
	if p.Quiet {
		return
	}
	tty := cli.IsTerminal(p.W)
	switch {
	case ev.Stage != mindseye.StageOptimize:
		p.Status(0, 0, fmt.Sprintf("%s: %s", ev.Stage, ev.Message))
		if !tty && (ev.Stage == mindseye.StageFacets && ev.Total == 0 || ev.Stage == mindseye.StageCompile) {
			p.Line("%s: %s", ev.Stage, ev.Message)
		}
	case tty:
		p.Status(ev.Done, ev.Total, fmt.Sprintf("%d/%d loss %.4g (act %.3g, dist %.3g, L1 %.3g) %.2f it/s ETA %s",
			ev.Iteration, ev.Total, ev.Terms.Total, ev.Terms.Activation, ev.Terms.Distance, ev.Terms.L1, ev.Rate,
			cli.ETA(ev.Done, ev.Total, ev.Rate)))
	case ev.Snapshot != nil:
		p.Line("iteration %d/%d loss %.4g, %.2f it/s", ev.Iteration, ev.Total, ev.Terms.Total, ev.Rate)
	}
}
