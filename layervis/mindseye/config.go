package mindseye

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"

	"github.com/layervis/layervis/layervis/cnn"
)

// Range is a hyper-parameter interpolated linearly over the iterations,
// from Start at the first iteration to End at the last (see [Schedule]).
type Range struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// At returns the value of r at iteration i of 1..total, as the reference's
// find_new_val computes it: a·i + b with a = (Start−End)/(1−total) and
// b = (End−Start·total)/(1−total), so that At(1) = Start and
// At(total) = End. A schedule of one iteration is Start.
func (r Range) At(i, total int) float64 {
	if total <= 1 {
		return r.Start
	}
	t := float64(total)
	a := (r.Start - r.End) / (1 - t)
	b := (r.End - r.Start*t) / (1 - t)
	return a*float64(i) + b
}

// Quirks switches each behaviour of the reference code (vis.py) that looks
// unintended, numbered as in the method note (Q1–Q10). [Compat] turns every
// switch on; [Clean] turns them off except FreshOptimizer, which both keep.
//
// Two quirks have no switch. Q7 (the reference's file index goes out of step
// with the features after an unreadable file, so the t-SNE plot can show the
// wrong thumbnail) is never reproduced: files and features always stay
// aligned. Q8 is a documentation mismatch only: [Config.Window] has the
// code's meaning (a standard deviation as a fraction of the canvas margin),
// not the README's ("size of the window area").
type Quirks struct {
	// FarthestExemplars (Q1): the exemplars of a facet are the images
	// FARTHEST from its k-means centre, over all images, as the reference's
	// argsort(...)[::-1] picks them. Off: the nearest, as its comment says.
	FarthestExemplars bool `json:"farthest_exemplars"`
	// CoupledChannels (Q2): the activation term of every image runs over the
	// channel sets of all facets, with multiplicity (the reference indexes
	// out[:, list_of_lists], a [K,K,n] product). Off: image k uses only S_k.
	CoupledChannels bool `json:"coupled_channels"`
	// SquaredBatchTerms (Q3): the distance and L1 terms are counted K² times
	// (the reference adds scalars to a [K,K] tensor before summing) and the
	// distance term is the mean over the whole batch. Off: per-image terms,
	// each counted once.
	SquaredBatchTerms bool `json:"squared_batch_terms"`
	// BGR (Q4): the network is fed the images with red and blue swapped
	// (cv2.imread's BGR with RGB statistics) and the saved images have red and
	// blue swapped. Off: the channel order the model expects, throughout.
	BGR bool `json:"bgr"`
	// FreshOptimizer (Q5): every step is the first step of a new Nesterov SGD
	// (momentum 0.9), x ← x − 1.9·lr·g with g the masked gradient, and the distance term is the robust
	// loss at its initial α = 1, c = 1 (Charbonnier), as the reference
	// re-creates both every iteration. Off: one Nesterov SGD (momentum 0.9)
	// keeps its momentum across iterations (α and c stay at 1).
	FreshOptimizer bool `json:"fresh_optimizer"`
	// UnshiftedSoftmax (Q6): exemplar weights are exp(1/d)/Σexp(1/d)
	// without subtracting the maximum, which fails (with an error naming the
	// distance) when an exemplar sits at or very near its centre. Off: a
	// numerically stable softmax of 1/d.
	UnshiftedSoftmax bool `json:"unshifted_softmax"`
	// MidScheduleContinuation (Q9): [Run.Continue] evaluates the schedules
	// against the new total iteration count, so they resume mid-way, and
	// repeats the last iteration number, as the reference's second generate
	// call does. Off: a continuation runs every schedule again from Start to
	// End.
	MidScheduleContinuation bool `json:"mid_schedule_continuation"`
	// Unseeded (Q10): the reference seeds nothing, so every run differs; here
	// the seed is drawn from the clock and recorded in the report, so the run
	// can still be repeated. Off: [Config.Seed] is used.
	Unseeded bool `json:"unseeded"`
}

// Config holds everything a run needs. Start from [Clean] or [Compat] and
// set Backend, Model, Images and Out.
type Config struct {
	// Backend runs the computations: backend.Get() gives the one
	// GOMLX_BACKEND names (pure Go when unset).
	Backend compute.Backend `json:"-"`
	// Model is the network; its weights are never changed.
	Model cnn.Model `json:"-"`
	// Target is the layer whose globally average-pooled activations define
	// the facets; Penalty is the layer whose activations are L1-penalized,
	// usually a module's input ("layer4.2.conv3:in"). Empty: the model's
	// suggestion ([cnn.LayerDefaults]).
	Target  string `json:"target"`
	Penalty string `json:"penalty"`
	// Images lists image files and folders (the regular, non-hidden files
	// directly inside a folder, in name order). Unreadable files are skipped
	// with a warning naming them.
	Images []string `json:"images"`
	// Out is the output folder: facet_XX/iteration_NNNN.png, tsne.png and
	// report.json. It must not be, or contain, an input. A non-empty folder
	// that is not a previous output is refused unless Overwrite is set.
	Out       string `json:"out"`
	Overwrite bool   `json:"overwrite"`

	// Size is the side of the square working images (the reference's 512).
	// Every image is resized to Size×Size with OpenCV's INTER_AREA.
	Size int `json:"size"`
	// QuantizeInputs resizes each image as the reference resizes
	// cv2.imread's 8-bit image: cv2.resize's uint8 INTER_AREA arithmetic,
	// bit for bit (integer and fixed-point; see photo.RGB.ResizeArea8), so
	// Stage A and the initial blends see whole levels (on in Compat). Off:
	// the image is resized in float32 and keeps its fractions of a level.
	//
	// The host steps of Stage C compute as the reference does in both
	// presets: the blends and the masks in float32 (in float64 the
	// truncation to 8 bits darkens the periphery a level per blend), the
	// blur σ rounded to float32 as imgaug passes it on.
	QuantizeInputs bool `json:"quantize_inputs"`
	// Clusters is K, the number of facets (the batch size of the
	// optimization); Exemplars is M, the images blended per facet;
	// TopChannels is n, the channels per facet in the activation term.
	Clusters    int `json:"clusters"`
	Exemplars   int `json:"exemplars"`
	TopChannels int `json:"top_channels"`
	// MicroBatch is the number of images stepped at once. Each image's
	// gradient depends on that image alone (both presets; batch norm is in
	// inference mode), so the images come out the same whatever it is; it
	// only trades memory for speed. 0 (the default) takes, on the pure-Go
	// backend, as many as fit half the memory available (see
	// Report.Memory), and all K on other backends.
	MicroBatch int `json:"micro_batch"`
	// Iterations is the number of optimization steps (the reference's 2001).
	Iterations int `json:"iterations"`
	// Seed seeds t-SNE, k-means and the window jitter (unless
	// Quirks.Unseeded).
	Seed uint64 `json:"seed"`

	// PCAComponents caps the PCA before t-SNE (50; at most N−1 are used).
	PCAComponents int `json:"pca_components"`
	// Perplexity, TSNEIterations and TSNELearningRate configure the exact
	// 2-D t-SNE (scikit-learn's defaults 30, 1000, 200).
	Perplexity       float64 `json:"perplexity"`
	TSNEIterations   int     `json:"tsne_iterations"`
	TSNELearningRate float64 `json:"tsne_learning_rate"`
	// KMeansRestarts is the number of k-means++ restarts (10).
	KMeansRestarts int `json:"kmeans_restarts"`
	// FeatureBatch is the batch size of the feature extraction.
	FeatureBatch int `json:"feature_batch"`

	// LR is the learning rate (0.5 → 0.08).
	LR Range `json:"lr"`
	// MaskSigma is the gradient mask's σ parameter (420 → 340 at 512²; the
	// mask's standard deviation is σ/6.0036 pixels). It scales with Size:
	// the value used is MaskSigma·Size/512.
	MaskSigma Range `json:"mask_sigma"`
	// BlurSigma is the σ of the centre-weighted Gaussian blur (0.9 → 0.2).
	BlurSigma Range `json:"blur_sigma"`
	// DenoiseWeight is the TV-Bregman data-fidelity weight (2 → 8: larger
	// smooths less).
	DenoiseWeight Range `json:"denoise_weight"`
	// Lambda weights the L1 penalty (1e-4 → 5e-4).
	Lambda Range `json:"lambda"`

	// Scale is the jitter canvas zoom (1.2: a round(1.2·Size) canvas).
	// 1 or less disables the window jitter.
	Scale float64 `json:"scale"`
	// Window is the jitter offset's standard deviation as a fraction of the
	// canvas margin (0.4; see Quirks, Q8).
	Window float64 `json:"window"`
	// WindowStep is the period of the re-crop from the canvas (400).
	WindowStep int `json:"window_step"`
	// BlurEvery and DenoiseEvery are the periods of the blur (with the
	// brightness step) and of the denoising (10 and 10).
	BlurEvery    int `json:"blur_every"`
	DenoiseEvery int `json:"denoise_every"`
	// BrightnessStep is the period of the +Brightness step (50). As in the
	// reference it is checked only on blur iterations, so it fires at
	// multiples of both BlurEvery and BrightnessStep.
	BrightnessStep int     `json:"brightness_step"`
	Brightness     float64 `json:"brightness"`
	// DenoiseMaxIter and DenoiseEps bound the split-Bregman loop (100, 1e-3).
	DenoiseMaxIter int     `json:"denoise_max_iter"`
	DenoiseEps     float64 `json:"denoise_eps"`
	// Momentum is the Nesterov SGD momentum (0.9). With
	// Quirks.FreshOptimizer every step is a first step, x − (1+Momentum)·lr·g.
	Momentum float64 `json:"momentum"`
	// SaveEvery is the snapshot period (200). The initial blend is saved as
	// iteration 0 and the last iteration is always saved.
	SaveEvery int `json:"save_every"`

	// Quirks selects the reference's behaviour where it looks unintended.
	Quirks Quirks `json:"quirks"`
	// Preset names the preset the config started from ("clean" or
	// "compat"), for the report.
	Preset string `json:"preset"`
}

// referenceSize is the working size the reference's pixel constants
// (MaskSigma) are given for.
const referenceSize = 512

// defaults returns the reference hyper-parameters (vis.py's __main__).
func defaults() Config {
	return Config{
		Size: 512, Clusters: 10, Exemplars: 10, TopChannels: 50, Iterations: 2001,
		PCAComponents: 50, Perplexity: 30, TSNEIterations: 1000, TSNELearningRate: 200,
		KMeansRestarts: 10, FeatureBatch: 8,
		LR:            Range{0.5, 0.08},
		MaskSigma:     Range{420, 340},
		BlurSigma:     Range{0.9, 0.2},
		DenoiseWeight: Range{2, 8},
		Lambda:        Range{1e-4, 5e-4},
		Scale:         1.2, Window: 0.4, WindowStep: 400,
		BlurEvery: 10, DenoiseEvery: 10, BrightnessStep: 50, Brightness: 5,
		DenoiseMaxIter: 100, DenoiseEps: 1e-3,
		Momentum:  0.9,
		SaveEvery: 200,
	}
}

// Clean returns the reference hyper-parameters with the apparent intent of
// the method: nearest exemplars, per-facet channels, per-image loss terms,
// the model's own channel order, a stable softmax and a fixed seed (every
// quirk off except FreshOptimizer). It is the default.
func Clean() Config {
	c := defaults()
	c.Preset = "clean"
	c.Quirks = Quirks{FreshOptimizer: true}
	return c
}

// Compat returns the configuration that reproduces the reference code
// (vis.py): the same hyper-parameters and every quirk (Q1–Q10) switched on.
// The images are also quantized to 8 bits after resizing, as the reference
// resizes 8-bit images.
func Compat() Config {
	c := defaults()
	c.Preset = "compat"
	c.QuantizeInputs = true
	c.Quirks = Quirks{
		FarthestExemplars: true, CoupledChannels: true, SquaredBatchTerms: true, BGR: true,
		FreshOptimizer: true, UnshiftedSoftmax: true, MidScheduleContinuation: true, Unseeded: true,
	}
	return c
}

// Quick returns c with the quick settings, sized and tuned on the demo
// model (the MobileNetV3-CenterNet detector) to finish in about 3 minutes
// on two CPU cores with every facet's activation clearly up: 128² images,
// K = 4 facets, M = 5 exemplars, 301 iterations, a snapshot every 50, no
// jitter (Scale 1), and schedules with less smoothing, a wider gradient
// mask, a smaller learning rate and half the L1 weight. make demo
// (examples/mindseye with no flags, whose doc says why each differs from
// the reference) and notebook 01 use them. Everything else, the preset's
// quirks included, stays as in c.
func Quick(c Config) Config {
	c.Size, c.Clusters, c.Exemplars, c.Iterations, c.SaveEvery = 128, 4, 5, 301, 50
	c.Scale = 1 // no jitter
	c.LR = Range{0.35, 0.05}
	c.Lambda = Range{0.5e-4, 2.5e-4}
	c.BlurSigma = Range{0.5, 0.1}
	c.DenoiseWeight = Range{8, 32}
	c.MaskSigma = Range{600, 500}
	return c
}

// Preset returns the configuration named "clean" or "compat".
func Preset(name string) (Config, error) {
	switch name {
	case "clean", "":
		return Clean(), nil
	case "compat":
		return Compat(), nil
	}
	return Config{}, fmt.Errorf("unknown preset %q: use \"clean\" (the method's apparent intent) or \"compat\" (reproduces vis.py)", name)
}

// A SettingError is a [Config] setting the method cannot use: the field,
// its value and what a valid value is, so that a command can name its own
// flag for the field.
type SettingError struct {
	Field string // the Config field, e.g. "Size", or "LR.Start" for a Range's end
	Value any
	Want  string // what a valid value is, e.g. "a multiple of 32, at least 32, for model demo (e.g. 64)"
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("mindseye: %s is %v; it must be %s", e.Field, e.Value, e.Want)
}

// minSize is the smallest working size of the host-side image operations.
const minSize = 8

// sizeRule returns what Size must be for model in: at least lo and, when
// step > 1, a multiple of step; and the valid size nearest above size.
func sizeRule(in cnn.Input, size int) (lo, step, next int) {
	step = max(in.Multiple, 1)
	lo = max(in.MinSize, minSize)
	lo = (lo + step - 1) / step * step
	next = max(lo, (size+step-1)/step*step)
	return lo, step, next
}

// validate checks the numeric settings, with errors ([SettingError])
// naming the field and what a valid value is.
func (c *Config) validate() error {
	ref := defaults()
	pos := []struct {
		name   string
		v, ref int
	}{
		{"Clusters", c.Clusters, ref.Clusters}, {"Exemplars", c.Exemplars, ref.Exemplars},
		{"TopChannels", c.TopChannels, ref.TopChannels}, {"Iterations", c.Iterations, ref.Iterations},
		{"PCAComponents", c.PCAComponents, ref.PCAComponents}, {"TSNEIterations", c.TSNEIterations, ref.TSNEIterations},
		{"KMeansRestarts", c.KMeansRestarts, ref.KMeansRestarts}, {"FeatureBatch", c.FeatureBatch, ref.FeatureBatch},
		{"WindowStep", c.WindowStep, ref.WindowStep}, {"BlurEvery", c.BlurEvery, ref.BlurEvery},
		{"DenoiseEvery", c.DenoiseEvery, ref.DenoiseEvery}, {"BrightnessStep", c.BrightnessStep, ref.BrightnessStep},
		{"DenoiseMaxIter", c.DenoiseMaxIter, ref.DenoiseMaxIter}, {"SaveEvery", c.SaveEvery, ref.SaveEvery},
	}
	for _, p := range pos {
		if p.v <= 0 {
			return &SettingError{p.name, p.v, fmt.Sprintf("positive (the reference uses %d)", p.ref)}
		}
	}
	finite := []struct {
		name string
		v    float64
		min  float64
	}{
		{"Perplexity", c.Perplexity, 1e-9}, {"TSNELearningRate", c.TSNELearningRate, 1e-12},
		{"Scale", c.Scale, 1e-9}, {"Window", c.Window, 0}, {"Brightness", c.Brightness, -255},
		{"DenoiseEps", c.DenoiseEps, 0}, {"Momentum", c.Momentum, 0},
		{"LR.Start", c.LR.Start, 0}, {"LR.End", c.LR.End, 0},
		{"MaskSigma.Start", c.MaskSigma.Start, 1e-9}, {"MaskSigma.End", c.MaskSigma.End, 1e-9},
		{"BlurSigma.Start", c.BlurSigma.Start, 0}, {"BlurSigma.End", c.BlurSigma.End, 0},
		{"DenoiseWeight.Start", c.DenoiseWeight.Start, 1e-12}, {"DenoiseWeight.End", c.DenoiseWeight.End, 1e-12},
		{"Lambda.Start", c.Lambda.Start, 0}, {"Lambda.End", c.Lambda.End, 0},
	}
	for _, f := range finite {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < f.min {
			want := fmt.Sprintf("a finite number of at least %v", f.min)
			if f.min > 0 && f.min < 1e-6 {
				want = "a finite positive number"
			}
			return &SettingError{f.name, f.v, want}
		}
	}
	if c.MicroBatch < 0 {
		return &SettingError{"MicroBatch", c.MicroBatch, "0 (chosen from the memory available) or a positive number of images"}
	}
	if c.TSNEIterations < 250 {
		return &SettingError{"TSNEIterations", c.TSNEIterations, "at least 250 (t-SNE's early-exaggeration phase; the default is 1000)"}
	}
	if c.Backend == nil {
		return fmt.Errorf("mindseye: Config.Backend is nil; pass one, e.g. backend.Get() (the one GOMLX_BACKEND names)")
	}
	if c.Model == nil {
		return fmt.Errorf("mindseye: Config.Model is nil; open one with zoo.Open or torchvision.Load")
	}
	if lo, step, next := sizeRule(c.Model.Input(), c.Size); c.Size < lo || c.Size%step != 0 {
		want := fmt.Sprintf("at least %d", lo)
		if step > 1 {
			want = fmt.Sprintf("a multiple of %d, at least %d,", step, lo)
		}
		return &SettingError{"Size", c.Size, fmt.Sprintf("%s for model %s (e.g. %d; the reference uses %d)", want, c.Model.Name(), next, ref.Size)}
	}
	if len(c.Images) == 0 {
		return fmt.Errorf("mindseye: Config.Images is empty; give image files or folders")
	}
	if c.Out == "" {
		return fmt.Errorf("mindseye: Config.Out is empty; name an output folder")
	}
	return nil
}
