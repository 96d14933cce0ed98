// Command accentuate shows what in a photo drives a channel of a CNN:
// feature accentuation (Hamblin et al. 2024, faccent; Horama's
// accentuation) with layervis/optvis. The photo becomes the starting
// point of a decorrelated Fourier parameterization, which is optimized to
// raise the channel's mean activation while a regularizer keeps an
// earlier layer's features (or, with -keep pixels, the pixels) close to
// the photo's, its weight balanced against the channel by their gradients
// at the start (-alpha scales it).
//
//	go run ./examples/accentuate -model M -image P -layer L -channel C
//	    [-size 128] [-steps N] [-seed N] [-keep LAYER|pixels] [-alpha A] [-lr R] -out DIR
//
// It writes DIR/accentuated.png (size × size, the model's input), the
// photo as the model saw it (DIR/photo.png), snapshots
// (DIR/snapshots/step_NNNN.png) and DIR/report.json (the channel's
// activation on the photo and on the result, the gain, the grey-level
// correlation with the photo). Ctrl-C stops the run, keeps what it made
// and exits with status 130.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"time"

	"github.com/gomlx/compute"

	"github.com/layervis/layervis/examples/internal/cli"
	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/outdir"
	"github.com/layervis/layervis/layervis/photo"
)

// tool names the command's outputs (report.json's "tool").
const tool = "accentuate"

// Defaults, measured on the demo model (see notebooks/06).
const (
	defaultSize  = 128
	defaultSteps = 64
	// The regularizer's default weights (-alpha): the feature distance's
	// gradient keeps its size as the image moves away, the pixels' squared
	// distance's grows, so the pixels need less.
	defaultAlpha       = 0.3
	defaultAlphaPixels = 0.05
	defaultLR          = 0.05
)

// options are the command-line settings.
type options struct {
	model, weights, image, layer, keep, out string
	channel, size, steps, every             int
	alpha, lr                               float64
	seed                                    uint64
	overwrite, quiet                        bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet(tool, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.model, "model", "", "model: \"demo\" (the offline demo detector), a built-in architecture (resnet18 … vgg19_bn) or a TF.js model.json; default: demo, or "+cli.Fallback+" with random weights if the demo is not available")
	fs.StringVar(&o.weights, "weights", "", "weights file (.pth or .safetensors) for a built-in architecture")
	fs.StringVar(&o.image, "image", "", "the photo to accentuate (PNG, JPEG, GIF, WebP, BMP, TIFF); required")
	fs.StringVar(&o.layer, "layer", "", "layer of the channel; required (go run ./examples/layers -model M lists them)")
	fs.IntVar(&o.channel, "channel", -1, "channel of -layer to accentuate; required")
	fs.StringVar(&o.keep, "keep", "", "what stays close to the photo: an earlier layer's features (faccent), or \"pixels\" (Horama); default: the layer halfway to -layer in forward order")
	fs.Float64Var(&o.alpha, "alpha", -1, fmt.Sprintf("regularizer strength, relative to the channel's gradient at the start (faccent's accent_reg_alpha); larger stays closer to the photo; default %g, or %g with -keep pixels", defaultAlpha, defaultAlphaPixels))
	fs.IntVar(&o.size, "size", defaultSize, "image size (the photo is scaled and centre-cropped to size × size, the model's input)")
	fs.IntVar(&o.steps, "steps", defaultSteps, "optimization steps")
	fs.IntVar(&o.every, "snapshot-every", 16, "snapshot period in steps (0: only the final image)")
	fs.Float64Var(&o.lr, "lr", defaultLR, "Adam's learning rate")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (transforms)")
	fs.StringVar(&o.out, "out", "accentuate-out", "output folder (new, empty, or a previous accentuate output)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "write into a non-empty folder that is not a previous output")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: go run ./examples/accentuate -image P -layer L -channel C [flags]

Feature accentuation: what in this photo drives this channel. Starting from
the photo, raise the channel's mean activation while an earlier layer's
features (or the pixels) stay close to the photo's. Writes OUT/accentuated.png,
OUT/photo.png, OUT/snapshots/step_NNNN.png and OUT/report.json.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: give the photo with -image", fs.Arg(0))
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "alpha" })
	if !given {
		o.alpha = defaultAlpha
		if o.keep == "pixels" {
			o.alpha = defaultAlphaPixels
		}
	}
	switch {
	case o.image == "":
		return nil, errors.New("no photo: give one with -image PATH")
	case o.layer == "":
		return nil, errors.New("no layer: give one with -layer NAME (go run ./examples/layers -model M lists them)")
	case o.channel < 0:
		return nil, errors.New("no channel: give one with -channel N (0 or more)")
	case o.steps < 1:
		return nil, fmt.Errorf("-steps %d: take at least one step", o.steps)
	case o.size < 2:
		return nil, fmt.Errorf("-size %d is too small", o.size)
	case o.every < 0:
		return nil, fmt.Errorf("-snapshot-every %d: use 0 (final image only) or a positive period", o.every)
	case !(o.alpha >= 0) || math.IsInf(o.alpha, 0):
		return nil, fmt.Errorf("-alpha %g: use a finite value ≥ 0", o.alpha)
	case !(o.lr > 0) || math.IsInf(o.lr, 0):
		return nil, fmt.Errorf("-lr %g: use a positive learning rate", o.lr)
	}
	return o, nil
}

func main() {
	cli.Main(parseFlags, run, cli.Prefix("accentuate"))
}

// Report is report.json.
type Report struct {
	Tool    string `json:"tool"`
	Model   string `json:"model"`
	Source  string `json:"source"`
	Backend string `json:"backend"`
	Image   string `json:"image"`
	Layer   string `json:"layer"`
	Channel int    `json:"channel"`
	Keep    string `json:"keep"`
	Size    int    `json:"size"`
	Steps   int    `json:"steps"`
	// StepsDone is less than Steps when the run was interrupted.
	StepsDone   int     `json:"steps_done"`
	Interrupted bool    `json:"interrupted"`
	Seed        uint64  `json:"seed"`
	LR          float64 `json:"lr"`
	Alpha       float64 `json:"alpha"`
	// Balance is the ratio of the channel's and the regularizer's gradient
	// norms at the start; the regularizer's weight is Alpha·Balance.
	Balance float64 `json:"balance"`
	Param   string  `json:"param"`
	// Transforms describes the random transforms of each step.
	Transforms string `json:"transforms"`
	// ActivationPhoto and ActivationFinal are the channel's mean
	// activation on the photo and on accentuated.png (as saved, 8-bit);
	// Gain is their ratio (0 when the photo's activation is not positive),
	// Increase their difference.
	ActivationPhoto float64 `json:"activation_photo"`
	ActivationFinal float64 `json:"activation_final"`
	Gain            float64 `json:"gain"`
	Increase        float64 `json:"increase"`
	// Correlation is the grey-level (Pearson) correlation of
	// accentuated.png with the photo (0 when either is flat).
	Correlation float64    `json:"grey_correlation"`
	Files       []string   `json:"files"`
	Snapshots   []Snapshot `json:"snapshots"`
	Seconds     float64    `json:"seconds"`
}

// Snapshot is one saved step.
type Snapshot struct {
	Step int    `json:"step"`
	File string `json:"file"`
	// Objective is the channel's activation (untransformed image) minus the
	// weighted regularizer.
	Objective  float64 `json:"objective"`
	Activation float64 `json:"activation"`
}

// stale matches the files a previous run wrote.
var stale = regexp.MustCompile(`^(accentuated\.png|photo\.png|snapshots/step_\d+\.png)$`)

func run(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	dir, err := outdir.Check(o.out, tool, o.overwrite, outdir.Input{Path: o.image, What: "input image"})
	if err != nil {
		return err
	}
	img, err := photo.Load(o.image)
	if err != nil {
		return fmt.Errorf("photo %s: %w", o.image, err)
	}
	b, err := backend.Get()
	if err != nil {
		return err
	}
	m, info, err := cli.OpenModel(o.model, o.weights, nil, stderr)
	if err != nil {
		return err
	}
	if err := m.Input().CheckSize(o.size, o.size); err != nil {
		return fmt.Errorf("model %s: %w; choose another -size", m.Name(), err)
	}
	if err := cnn.Check(m, o.layer); err != nil {
		return err
	}
	if o.keep == "" {
		if o.keep, err = keepLayer(m, o.layer, o.size); err != nil {
			return err
		}
	}
	shapes, err := cnn.Shapes(b, m, o.size, o.size, o.layer)
	if err != nil {
		return err
	}
	if n := shapes[0][0]; o.channel >= n {
		return fmt.Errorf("channel %d is out of range: layer %s has %d channels (0…%d)", o.channel, o.layer, n, n-1)
	}
	ph := cnn.Fit(img, o.size)
	obj := optvis.Channel(o.layer, o.channel)
	var reg optvis.Objective
	if o.keep == "pixels" {
		reg = optvis.KeepPixels(ph)
	} else {
		if err := cnn.Check(m, o.keep); err != nil {
			return fmt.Errorf("-keep: %w", err)
		}
		reg = optvis.Keep(m, o.keep, ph)
	}
	before, _, err := optvis.Evaluate(b, m, obj, ph)
	if err != nil {
		return err
	}
	a, r, err := optvis.Accentuate(ctx, b, m, obj, reg, o.alpha, optvis.FourierParam(), ph)
	if err != nil {
		return err
	}
	var snaps []int
	for s := o.every; o.every > 0 && s < o.steps; s += o.every {
		snaps = append(snaps, s)
	}
	fmt.Fprintf(stdout, "model %s: %s\nbackend %s\naccentuating %s:%d on %s (%dx%d), keeping %s (weight %.3g = alpha %g × balance %.3g), %d steps\n",
		m.Name(), info.Source, backend.Describe(b), o.layer, o.channel, o.image, o.size, o.size, o.keep, a.Weight, o.alpha, a.Balance, o.steps)
	if err := dir.Prepare(stale); err != nil {
		return err
	}
	rep := &Report{Tool: tool, Model: m.Name(), Source: info.Source, Backend: backend.Describe(b), Image: o.image,
		Layer: o.layer, Channel: o.channel, Keep: o.keep, Size: o.size, Steps: o.steps, Seed: o.seed, LR: o.lr,
		Alpha: o.alpha, Balance: a.Balance, ActivationPhoto: before}
	if err := photo.SavePNG(filepath.Join(dir.Path, "photo.png"), ph.ToImage()); err != nil {
		return err
	}
	rep.Files = append(rep.Files, "photo.png")
	if err := dir.WriteReport(rep); err != nil { // marks the folder as ours at once
		return err
	}
	snapDir, err := dir.Sub("snapshots")
	if err != nil {
		return err
	}
	bar := &cli.Bar{W: stderr, Quiet: o.quiet}
	var saveErr error
	start := time.Now()
	res, rerr := r.Steps(o.steps).Snapshots(snaps...).Seed(o.seed).LR(o.lr).Progress(func(e optvis.Event) {
		switch {
		case e.Stage == optvis.StageCompile:
			bar.Status(0, 0, e.Message)
		case e.Snapshot != nil && saveErr == nil:
			saveErr = saveSnapshot(rep, snapDir, e.Snapshot)
			if !cli.IsTerminal(stderr) && !o.quiet {
				bar.Line("step %d/%d: activation %.4g, objective %.4g", e.Step, e.Total, e.Snapshot.Terms[0], e.Snapshot.Value)
			}
		default:
			bar.Status(e.Done, e.Total, fmt.Sprintf("%d/%d objective %.4g %.2f steps/s ETA %s", e.Step, e.Total, e.Value, e.Rate, cli.ETA(e.Done, e.Total, e.Rate)))
		}
	}).Done()
	bar.Clear()
	if res == nil {
		return rerr
	}
	rep.Param, rep.Transforms, rep.StepsDone, rep.Interrupted = res.Param, res.Transforms, res.Steps, res.Interrupted
	final := res.Final()
	if final != nil && (len(rep.Snapshots) == 0 || rep.Snapshots[len(rep.Snapshots)-1].Step != final.Step) && saveErr == nil {
		saveErr = saveSnapshot(rep, snapDir, final) // the images an interrupted run had
	}
	if final != nil && saveErr == nil {
		saveErr = finish(rep, dir.Path, b, m, obj, ph, final)
	}
	rep.Seconds = time.Since(start).Seconds()
	if err := dir.WriteReport(rep); err != nil && saveErr == nil {
		saveErr = err
	}
	if saveErr != nil {
		return saveErr
	}
	if final != nil {
		fmt.Fprintf(stdout, "activation of %s:%d: %.4g on the photo → %.4g (%+.4g%s); grey-level correlation with the photo %.3f\n  %s\n  %s\n",
			o.layer, o.channel, rep.ActivationPhoto, rep.ActivationFinal, rep.Increase, gainText(rep.Gain), rep.Correlation,
			filepath.Join(o.out, "accentuated.png"), filepath.Join(o.out, outdir.Report))
	}
	if res.Interrupted {
		fmt.Fprintf(stdout, "interrupted after %d of %d steps; the outputs so far are in %s\n", res.Steps, o.steps, o.out)
		return cli.ErrInterrupted
	}
	return rerr
}

// saveSnapshot writes a snapshot's image and records it.
func saveSnapshot(rep *Report, dir string, s *optvis.Snapshot) error {
	name := fmt.Sprintf("step_%04d.png", s.Step)
	if err := photo.SavePNG(filepath.Join(dir, name), s.Images[0]); err != nil {
		return err
	}
	rel := filepath.ToSlash(filepath.Join("snapshots", name))
	rep.Files = append(rep.Files, rel)
	rep.Snapshots = append(rep.Snapshots, Snapshot{Step: s.Step, File: rel, Objective: s.Value, Activation: s.Terms[0]})
	return nil
}

// finish writes accentuated.png and measures it: the channel's activation
// on the saved 8-bit image, the gain over the photo, the grey-level
// correlation with the photo.
func finish(rep *Report, dir string, b compute.Backend, m cnn.Model, obj optvis.Objective, ph *photo.RGB, s *optvis.Snapshot) error {
	if err := photo.SavePNG(filepath.Join(dir, "accentuated.png"), s.Images[0]); err != nil {
		return err
	}
	rep.Files = append(rep.Files, "accentuated.png")
	got := photo.FromImage(s.Images[0])
	after, _, err := optvis.Evaluate(b, m, obj, got)
	if err != nil {
		return err
	}
	rep.ActivationFinal, rep.Increase = after, after-rep.ActivationPhoto
	if rep.ActivationPhoto > 0 {
		rep.Gain = after / rep.ActivationPhoto
	}
	if rep.Correlation = imageops.GreyCorrelation(got.Pix, ph.Pix, ph.W, ph.H, 3); math.IsNaN(rep.Correlation) {
		rep.Correlation = 0
	}
	return nil
}

// gainText formats a gain ratio, or nothing when there is none.
func gainText(g float64) string {
	if g == 0 {
		return ""
	}
	return fmt.Sprintf(", %.2f×", g)
}

// keepLayer picks the default -keep: the layer with a feature map halfway
// (in forward order) between the input and layer.
func keepLayer(m cnn.Model, layer string, size int) (string, error) {
	ls, err := m.Layers(size, size)
	if err != nil {
		return "", err
	}
	at := -1
	for i, l := range ls {
		if l.Name == layer {
			at = i
		}
	}
	for i := at / 2; i > 0; i-- {
		if len(ls[i].Shape) == 3 && ls[i].Shape[1] > 1 {
			return ls[i].Name, nil
		}
	}
	return "pixels", nil
}
