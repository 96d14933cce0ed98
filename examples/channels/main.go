// Command channels renders classic feature visualizations (package
// layervis/optvis): for each channel of a layer, an image optimized to
// make that channel fire, all channels rendered together as one batch.
//
//	go run ./examples/channels [-model demo] [-weights F] [-layer L] [-channels 3,17,40|0-15]
//	    [-size 128] [-steps N] [-param fourier|pixel|maco] [-decorrelate=true]
//	    [-transforms standard|none] [-objective channel|neuron|direction|diversity]
//	    [-batch B] [-lr 0.05] [-init-sd SD] [-seed N] [-photos demo|none|DIR] [-out DIR]
//
// It writes DIR/channel_NNNN.png (the channel number zero-padded to four
// digits) for each channel, DIR/grid.png with all of them, and
// DIR/report.json: the settings, the backend, each channel's objective at
// every snapshot, and two quality measures of each final image (8-bit, as
// saved): the channel's mean activation next to the most any photo of the
// -photos set reaches (a feature visualization should beat every natural
// image), and the share of its spectral power above half-Nyquist next to
// the photos' (a noise check). The images are rewritten at every snapshot,
// so Ctrl-C keeps the latest ones (and exits with status 130).
//
// With no flags it renders channels 0–15 of the demo model's
// tower_0/MobilenetV3/expanded_conv_5/expand/Relu (a mid-depth layer) at
// 128² with the Fourier parameterization in decorrelated colour and lucid's
// standard transforms: see [defaultSteps] for the step count and its time on
// two CPU cores.
//
// Objectives: channel (the mean of the channel over positions), neuron (the
// channel at the centre position), direction (one image for the sum of the
// listed channels, -batch images), diversity (-batch images per channel
// made to differ by lucid's Gram-matrix diversity term; files
// channel_NNNN.png, channel_NNNN_1.png, …).
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/layervis/layervis/examples/internal/cli"
	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/outdir"
	"github.com/layervis/layervis/layervis/photo"
	"github.com/layervis/layervis/layervis/zoo"
)

// Tool marks a report.json written by this command; a folder holding one is
// a previous output that a new run may replace.
const Tool = "layervis channels"

// Defaults.
const (
	// demoLayer is the default layer of the demo model: mid-depth (96
	// channels at 1/8 of the input), where channels show textures and
	// parts rather than edges or whole objects.
	demoLayer = "tower_0/MobilenetV3/expanded_conv_5/expand/Relu"
	// defaultChannels is the number of channels rendered when -channels is
	// not given: the first ones of the layer.
	defaultChannels = 16
	// defaultSteps: 16 channels of demoLayer at 128² took 200 s of CPU
	// time for the whole run (pure Go, 2 cores shared with other jobs), so
	// under 3 minutes on two idle cores; the images are crisp by step 128
	// and keep gaining contrast and activation to 256.
	defaultSteps = 256
	// diversityWeight scales the diversity term against the channel term.
	// lucid uses 100 on InceptionV1; on the demo model that swamped the
	// channel term (expanded_conv_5 channel 13: its mean fell from 9.7 to
	// 0.4 at 96², 96 steps, batch 4); at 10 it fell to 2.3, the images
	// differing, some keeping the channel's pattern.
	diversityWeight = 10
	// hfCutoff is half-Nyquist, in cycles per pixel.
	hfCutoff = 0.25
)

// Objective kinds.
const (
	objChannel   = "channel"
	objNeuron    = "neuron"
	objDirection = "direction"
	objDiversity = "diversity"
)

// options are the command-line settings.
type options struct {
	model, weights, layer, channels, param, transforms, objective, photos, out string
	size, steps, batch, saveEvery, redirect                                    int
	lr, initSD                                                                 float64
	seed                                                                       uint64
	decorrelate, overwrite, quiet                                              bool
}

// choice is a flag that takes one of a few values.
type choice struct {
	v     *string
	valid []string
}

func (c choice) String() string {
	if c.v == nil {
		return ""
	}
	return *c.v
}

func (c choice) Set(s string) error {
	if !slices.Contains(c.valid, s) {
		return fmt.Errorf("%q is not one of: %s", s, strings.Join(c.valid, ", "))
	}
	*c.v = s
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("channels", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{param: "fourier", transforms: "standard", objective: objChannel}
	fs.StringVar(&o.model, "model", "", "model: \"demo\" (the offline demo detector), a built-in architecture (resnet18 … vgg19_bn) or a TF.js model.json / .onnx file; default: demo, or "+cli.Fallback+" with random weights if the demo is not available")
	fs.StringVar(&o.weights, "weights", "", "weights file (.pth or .safetensors) for a built-in architecture")
	fs.StringVar(&o.layer, "layer", "", "layer whose channels to render; default: "+demoLayer+" for the demo, the model's suggested layer otherwise")
	fs.StringVar(&o.channels, "channels", "", fmt.Sprintf("channels: numbers and ranges, e.g. 3,17,40 or 0-15; default: the first %d", defaultChannels))
	fs.IntVar(&o.size, "size", 128, "image side in pixels")
	fs.IntVar(&o.steps, "steps", defaultSteps, "optimization steps")
	fs.Var(choice{&o.param, []string{"fourier", "pixel", "maco"}}, "param", "parameterization: fourier (1/f-scaled spectrum), pixel, or maco (fixed natural magnitude spectrum, optimized phase)")
	fs.BoolVar(&o.decorrelate, "decorrelate", true, "optimize in ImageNet's decorrelated colour space")
	fs.Var(choice{&o.transforms, []string{"standard", "none"}}, "transforms", "random transforms each step: standard (lucid's pad, jitter, scale, rotate) or none")
	fs.Var(choice{&o.objective, []string{objChannel, objNeuron, objDirection, objDiversity}}, "objective", "channel (mean over positions), neuron (centre position), direction (the listed channels together) or diversity (-batch different images per channel)")
	fs.IntVar(&o.batch, "batch", 0, "images per channel (diversity, default 4) or for the direction (default 1)")
	fs.Float64Var(&o.lr, "lr", optvis.DefaultAdam().LR, "Adam's learning rate")
	fs.Float64Var(&o.initSD, "init-sd", 0, "standard deviation of the random initial parameters; 0: the parameterization's own (lucid's 0.01 for pixel and fourier). Larger values start from a more varied image, which wakes ReLU channels that are zero on a flat one")
	fs.IntVar(&o.redirect, "redirect-relu", optvis.RedirectSteps, "first steps whose gradient passes the model's ReLUs redirected (lucid's redirected_relu_grad), so that a channel that is zero on the initial image starts; 0: off")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (initial images and transforms)")
	fs.IntVar(&o.saveEvery, "save-every", 0, "snapshot period in steps: the images and report are rewritten; default: a quarter of the steps")
	fs.StringVar(&o.photos, "photos", "demo", "photos to compare each channel's activation with: \"demo\", \"none\" or a folder")
	fs.StringVar(&o.out, "out", "channels-out", "output folder (new, empty, or a previous channels output)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "write into a non-empty folder that is not a previous output")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: go run ./examples/channels [flags]

Feature visualization: one image per channel of a layer, optimized to make
that channel fire. Writes OUT/channel_NNNN.png, OUT/grid.png and
OUT/report.json. Ctrl-C stops and keeps the latest images.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	return o, nil
}

func main() {
	cli.Main(parseFlags, run, cli.Prefix("channels"))
}

// parseChannels parses "3,17,40" or "0-15,20" into channel numbers of a
// layer with n channels, in the order given, without repeats.
func parseChannels(s string, n int, layer string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err != nil || b < a {
			return nil, fmt.Errorf("-channels %q: %q is not a channel number or a range such as 0-15", s, part)
		}
		for c := a; c <= b; c++ {
			if c >= n {
				return nil, fmt.Errorf("-channels: channel %d is out of range: layer %s has %d channels, 0–%d", c, layer, n, n-1)
			}
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// defaultLayer is the layer rendered when -layer is not given.
func defaultLayer(m cnn.Model) (string, error) {
	if m.Name() == zoo.DemoName {
		return demoLayer, nil
	}
	if d, ok := m.(cnn.LayerDefaults); ok {
		target, _ := d.DefaultLayers()
		return target, nil
	}
	return "", fmt.Errorf("model %s suggests no layer; give one with -layer (list them with: go run ./examples/layers -model %s)", m.Name(), m.Name())
}

// job is a checked run: the model, the layer, the units to render and the
// output folder.
type job struct {
	o       *options
	b       compute.Backend
	m       cnn.Model
	layer   string
	shape   []int // the layer's [C, H, W] at the render size
	labels  []string
	units   []unit
	batch   int // images per unit
	obj     optvis.Objective
	param   optvis.Param
	ts      []optvis.Transform
	snaps   []int
	out     *outdir.Dir
	report  Report
	started time.Time
	// photoMax and photoBest are each unit's highest value on the photos
	// and the photo that reaches it (nil without photos).
	photoMax  []float64
	photoBest []string
}

// unit is what one group of images renders: a channel, or the direction.
type unit struct {
	channel int // −1 for the direction
	name    string
}

// prepare checks the options against the model and builds the job.
func prepare(o *options, stderr io.Writer) (*job, error) {
	switch {
	case o.size < 1:
		return nil, fmt.Errorf("-size %d: give the image side in pixels (e.g. 128)", o.size)
	case o.steps < 1:
		return nil, fmt.Errorf("-steps %d: take at least one step", o.steps)
	case o.batch < 0:
		return nil, fmt.Errorf("-batch %d: give a positive number of images", o.batch)
	case o.saveEvery < 0:
		return nil, fmt.Errorf("-save-every %d: give a positive period, or 0 for a quarter of the steps", o.saveEvery)
	case !(o.lr > 0):
		return nil, fmt.Errorf("-lr %g: give a positive learning rate (e.g. 0.05)", o.lr)
	case o.redirect < 0:
		return nil, fmt.Errorf("-redirect-relu %d: give a number of steps ≥ 0 (0: off)", o.redirect)
	case !(o.initSD >= 0):
		return nil, fmt.Errorf("-init-sd %g: give a standard deviation ≥ 0 (0: the parameterization's own)", o.initSD)
	}
	j := &job{o: o, batch: max(o.batch, 1)}
	var inputs []outdir.Input
	for _, p := range []string{o.weights, o.model} {
		if st, err := os.Stat(p); p != "" && err == nil {
			what := "input file"
			if st.IsDir() {
				what = "input folder"
			}
			inputs = append(inputs, outdir.Input{Path: p, What: what})
		}
	}
	if o.photos != "demo" && o.photos != "none" {
		inputs = append(inputs, outdir.Input{Path: o.photos, What: "input folder"})
	}
	var err error
	if j.out, err = outdir.Check(o.out, Tool, o.overwrite, inputs...); err != nil {
		return nil, err
	}
	switch o.objective {
	case objDiversity:
		if o.batch == 0 {
			j.batch = 4
		}
		if j.batch < 2 {
			return nil, fmt.Errorf("-objective diversity makes several images per channel differ: give -batch 2 or more (default 4)")
		}
	case objChannel, objNeuron:
		if j.batch != 1 {
			return nil, fmt.Errorf("-batch applies to -objective diversity and direction; -objective %s renders one image per channel", o.objective)
		}
	}
	b, err := backend.Get()
	if err != nil {
		return nil, err
	}
	m, info, err := cli.OpenModel(o.model, o.weights, nil, stderr)
	if err != nil {
		return nil, err
	}
	j.b, j.m = b, m
	if j.layer = o.layer; j.layer == "" {
		if j.layer, err = defaultLayer(m); err != nil {
			return nil, err
		}
	}
	if err := cnn.Check(m, j.layer); err != nil {
		return nil, err
	}
	if err := m.Input().CheckSize(o.size, o.size); err != nil {
		return nil, fmt.Errorf("-size %d: model %s: %w", o.size, m.Name(), err)
	}
	shp, err := cnn.Shapes(b, m, o.size, o.size, j.layer)
	if err != nil {
		return nil, err
	}
	j.shape = shp[0]
	if len(j.shape) != 3 && (len(j.shape) != 1 || o.objective == objNeuron || o.objective == objDiversity) {
		return nil, fmt.Errorf("layer %s has shape %v; -objective %s needs a feature map [C,H,W]", j.layer, j.shape, o.objective)
	}
	spec := o.channels
	if spec == "" {
		spec = fmt.Sprintf("0-%d", min(defaultChannels, j.shape[0])-1)
	}
	channels, err := parseChannels(spec, j.shape[0], j.layer)
	if err != nil {
		return nil, err
	}
	if layers, err := m.Layers(o.size, o.size); err == nil {
		for _, l := range layers {
			if l.Name == j.layer {
				j.labels = l.Labels
			}
		}
	}
	if o.objective == objDirection {
		j.units = []unit{{channel: -1, name: "direction"}}
	} else {
		for _, c := range channels {
			j.units = append(j.units, unit{channel: c, name: fmt.Sprintf("channel_%04d", c)})
		}
	}
	j.obj = j.objective(channels)
	j.param = optvis.ParamFor(map[string]optvis.Kind{"fourier": optvis.Fourier, "pixel": optvis.Pixel, "maco": optvis.MaCo}[o.param])
	j.param.Decorrelate = o.decorrelate
	if o.initSD > 0 {
		j.param.SD = o.initSD
	}
	if o.transforms == "standard" {
		j.ts = optvis.Standard()
	}
	every := o.saveEvery
	if every == 0 {
		every = max(1, o.steps/4)
	}
	for s := every; s < o.steps; s += every {
		j.snaps = append(j.snaps, s)
	}
	j.report = Report{
		Tool: Tool, Status: outdir.StatusRunning, Backend: backend.Describe(b),
		Model: ModelReport{Name: m.Name(), Weights: info.Source, Random: info.Random, Layer: j.layer, Shape: j.shape},
		Settings: Settings{
			Objective: o.objective, Channels: channels, Size: o.size, Steps: o.steps, Batch: j.batch,
			Param: j.param.String(), Transforms: o.transforms, LR: o.lr, InitSD: j.param.SD, RedirectReLU: o.redirect, Seed: o.seed, Snapshots: append(slices.Clone(j.snaps), o.steps),
		},
	}
	return j, nil
}

// objective builds the batch's objective: one term per image, image
// u·batch+k rendering unit u, plus a diversity term per unit.
func (j *job) objective(channels []int) optvis.Objective {
	var terms []optvis.Objective
	if j.o.objective == objDirection {
		vec := make([]float32, j.shape[0])
		for _, c := range channels {
			vec[c] = 1
		}
		for k := range j.batch {
			terms = append(terms, optvis.Direction(j.layer, vec, 0).At(k))
		}
		return optvis.Sum(terms...)
	}
	for u, c := range channels {
		var o optvis.Objective
		switch j.o.objective {
		case objNeuron:
			o = optvis.Neuron(j.layer, c)
		default:
			o = optvis.Channel(j.layer, c)
		}
		for k := range j.batch {
			terms = append(terms, o.At(u*j.batch+k))
		}
	}
	if j.o.objective == objDiversity {
		for u := range channels {
			terms = append(terms, diversity(j.layer, u*j.batch, (u+1)*j.batch).Scale(diversityWeight))
		}
	}
	return optvis.Sum(terms...)
}

// diversity is optvis.Diversity on images [lo, hi) of the batch.
func diversity(layer string, lo, hi int) optvis.Objective {
	d := optvis.Diversity(layer)
	return optvis.NewObjective(fmt.Sprintf("%s@%d-%d", d.Name(), lo, hi-1), func(a optvis.Acts) *Node {
		sub := make(optvis.Acts, len(a))
		for k, v := range a {
			sub[k] = Slice(v, AxisRange(lo, hi))
		}
		return d.Build(sub)
	}, layer)
}

func run(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	j, err := prepare(o, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "model %s: %s\nlayer %s %v\nbackend %s\n%s: %d images of %dx%d, %s, transforms %s, %d steps\n",
		j.m.Name(), j.report.Model.Weights, j.layer, j.shape, j.report.Backend, o.objective, len(j.units)*j.batch,
		o.size, o.size, j.param, o.transforms, o.steps)
	if err := j.comparePhotos(stderr); err != nil {
		return err
	}
	if err := j.out.Prepare(staleRE); err != nil {
		return err
	}
	bar := &cli.Bar{W: stderr, Quiet: o.quiet}
	j.started = time.Now()
	var saveErr error
	res, err := optvis.Render(ctx, j.b, j.m, j.obj).Size(o.size).Batch(len(j.units) * j.batch).Param(j.param).
		Transforms(j.ts...).Steps(o.steps).Snapshots(j.snaps...).Seed(o.seed).LR(o.lr).RedirectReLU(o.redirect).
		Progress(func(ev optvis.Event) {
			switch {
			case ev.Stage != optvis.StageOptimize:
				bar.Status(0, 0, ev.Message)
			case ev.Snapshot != nil:
				if e := j.save(ev.Snapshot, outdir.StatusRunning); e != nil && saveErr == nil {
					saveErr = e
				}
				if !cli.IsTerminal(stderr) && !o.quiet {
					bar.Line("step %d/%d objective %.4g, %.2f steps/s; images saved", ev.Step, ev.Total, ev.Value, ev.Rate)
				}
			default:
				bar.Status(ev.Done, ev.Total, fmt.Sprintf("step %d/%d objective %.4g %.2f steps/s ETA %s",
					ev.Step, ev.Total, ev.Value, ev.Rate, cli.ETA(ev.Done, ev.Total, ev.Rate)))
			}
		}).Done()
	bar.Clear()
	if saveErr != nil {
		return saveErr
	}
	interrupted := res != nil && res.Interrupted
	if err != nil && !interrupted {
		j.report.Status, j.report.Error = outdir.StatusFailed, err.Error()
		_ = j.out.WriteReport(&j.report)
		return err
	}
	j.report.Settings.Param, j.report.Settings.TransformList = res.Param, res.Transforms
	final := res.Final()
	status := outdir.StatusComplete
	if interrupted {
		status = outdir.StatusInterrupted
	}
	if final != nil && (len(j.report.Snapshots) == 0 || j.report.Snapshots[len(j.report.Snapshots)-1] != final.Step) {
		if err := j.save(final, status); err != nil {
			return err
		}
	}
	if final != nil {
		if err := j.measure(final); err != nil {
			return err
		}
	}
	j.report.Status = status
	if err := j.out.WriteReport(&j.report); err != nil {
		return err
	}
	j.summary(stdout)
	if interrupted {
		fmt.Fprintf(stdout, "interrupted after %d steps; the images so far are in %s\n", res.Steps, j.out.Path)
		return cli.ErrInterrupted
	}
	return nil
}

// staleRE matches the files a previous run wrote.
var staleRE = regexp.MustCompile(`^(report\.json|grid\.png|(channel_\d{4,}|direction)(_\d+)?\.png)$`)

// file returns the file name of image k of unit u.
func (j *job) file(u, k int) string {
	if k == 0 {
		return j.units[u].name + ".png"
	}
	return fmt.Sprintf("%s_%d.png", j.units[u].name, k)
}

// save writes the images of a snapshot, the grid and the report.
func (j *job) save(s *optvis.Snapshot, status string) error {
	for u := range j.units {
		for k := range j.batch {
			if err := photo.SavePNG(filepath.Join(j.out.Path, j.file(u, k)), s.Images[u*j.batch+k]); err != nil {
				return err
			}
		}
	}
	if err := photo.SavePNG(filepath.Join(j.out.Path, "grid.png"), j.grid(s.Images)); err != nil {
		return err
	}
	j.record(s)
	j.report.Status = status
	return j.out.WriteReport(&j.report)
}

// record adds a snapshot's objective values to the report.
func (j *job) record(s *optvis.Snapshot) {
	j.report.Snapshots = append(j.report.Snapshots, s.Step)
	j.report.Steps = s.Step
	j.report.Timings.Render = time.Since(j.started).Seconds()
	if j.report.Units == nil {
		for u, un := range j.units {
			ur := UnitReport{Channel: un.channel}
			for k := range j.batch {
				ur.Files = append(ur.Files, j.file(u, k))
			}
			if un.channel >= 0 && un.channel < len(j.labels) {
				ur.Label = j.labels[un.channel]
			}
			j.report.Units = append(j.report.Units, ur)
		}
	}
	for u := range j.units {
		var sum float64
		for k := range j.batch {
			sum += s.Terms[u*j.batch+k]
		}
		j.report.Units[u].Objective = append(j.report.Units[u].Objective, sum/float64(j.batch))
	}
}

// grid lays out the images with their channel numbers, a row per unit
// when there are several images per unit.
func (j *job) grid(imgs []*image.NRGBA) *image.NRGBA {
	const gap, text = 4, 16
	side := j.o.size
	cols := j.batch
	if cols == 1 {
		cols = min(len(imgs), 8)
	}
	rows := (len(imgs) + cols - 1) / cols
	g := image.NewNRGBA(image.Rect(0, 0, cols*(side+gap)+gap, rows*(side+gap+text)+gap))
	draw.Draw(g, g.Bounds(), image.White, image.Point{}, draw.Src)
	for i, img := range imgs {
		x, y := gap+(i%cols)*(side+gap), gap+(i/cols)*(side+gap+text)
		draw.Draw(g, image.Rect(x, y, x+side, y+side), img, image.Point{}, draw.Src)
		un := j.units[i/j.batch]
		s := un.name
		if un.channel >= 0 {
			s = strconv.Itoa(un.channel)
			if un.channel < len(j.labels) {
				s += " " + j.labels[un.channel]
			}
		}
		d := font.Drawer{Dst: g, Src: image.NewUniform(color.Black), Face: basicfont.Face7x13,
			Dot: fixed.P(x, y+side+basicfont.Face7x13.Ascent+1)}
		d.DrawString(s)
	}
	return g
}

// comparePhotos measures, for each channel, the most its mean activation
// (centre value for -objective neuron) reaches on the photos, and the
// photos' high-frequency share.
func (j *job) comparePhotos(stderr io.Writer) error {
	if j.o.photos == "none" || j.o.objective == objDirection {
		return nil
	}
	var files []string
	var err error
	if j.o.photos == "demo" {
		if files, err = assets.DemoPhotos(); err != nil {
			fmt.Fprintf(stderr, "no comparison with photos: %v\n", err)
			return nil
		}
	} else if files, err = listPhotos(j.o.photos); err != nil {
		return err
	}
	var imgs []*photo.RGB
	var used []string
	var hf float64
	for _, f := range files {
		p, err := photo.Load(f)
		if err != nil {
			fmt.Fprintf(stderr, "skipping %s: %v\n", f, err)
			continue
		}
		p = cnn.Fit(p, j.o.size)
		imgs, used = append(imgs, p), append(used, f)
		hf += imageops.HighFrequencyShare(p.Pix, p.W, p.H, 3, hfCutoff)
	}
	if len(imgs) == 0 {
		return fmt.Errorf("-photos %s: no readable image", j.o.photos)
	}
	vals, err := j.unitValues(imgs)
	if err != nil {
		return err
	}
	j.report.Photos = &PhotosReport{Source: j.o.photos, Files: len(used), HFShare: hf / float64(len(used))}
	j.photoMax = make([]float64, len(j.units))
	j.photoBest = make([]string, len(j.units))
	for u := range j.units {
		j.photoMax[u] = vals[0][u]
		for i := range imgs {
			if v := vals[i][u]; v >= j.photoMax[u] {
				j.photoMax[u], j.photoBest[u] = v, filepath.Base(used[i])
			}
		}
	}
	return nil
}
