package mindseye

// The output folder: its safety checks, the snapshots and report.json.

import (
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"regexp"

	"github.com/gomlx/compute"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/outdir"
	"github.com/layervis/layervis/layervis/photo"
)

// ReportTool marks a report.json written by this package; a folder holding
// one is a previous output that a new run may replace.
const ReportTool = "layervis mindseye"

// Run states recorded in [Report].Status.
const (
	StatusRunning     = outdir.StatusRunning
	StatusComplete    = outdir.StatusComplete
	StatusInterrupted = outdir.StatusInterrupted
	StatusFailed      = outdir.StatusFailed
)

// Terms are the loss terms of one evaluation of the K images.
type Terms struct {
	// Activation is −Σ W·a·T, the activation-maximization term.
	Activation float64 `json:"activation"`
	// Distance is the Charbonnier feature distance to the targets plus the
	// robust loss's constant log Z(1) = 1.18550, scaled as the quirks say.
	Distance float64 `json:"distance"`
	// L1 is λ·Σ|P| on the penalty layer, scaled as the quirks say.
	L1    float64 `json:"l1"`
	Total float64 `json:"total"`
}

// Report is the content of report.json: what was run, on what, and what
// came out. It is rewritten after Stage B, at every snapshot and at the end.
type Report struct {
	Tool   string `json:"tool"`
	Status string `json:"status"`
	// Error is the failure, for Status "failed".
	Error string `json:"error,omitempty"`

	Model   ModelReport `json:"model"`
	Backend string      `json:"backend"`
	// SIMD records whether the program was built with GOEXPERIMENT=simd.
	// The pure-Go backend's matrix products round differently with it (the
	// same seed gives other facets) and are 4–5× slower without it.
	SIMD bool `json:"simd"`
	// Seed is the seed used (drawn from the clock with Quirks.Unseeded).
	Seed     uint64 `json:"seed"`
	Settings Config `json:"settings"`
	// Variant is Stage C's variant: [VariantLoop] (the reference's loop,
	// Run.Step) or [VariantToolbox] (Run.ToolboxRender), whose settings
	// Toolbox records.
	Variant string           `json:"variant"`
	Toolbox *ToolboxSettings `json:"toolbox,omitempty"`
	// Clusters and Exemplars are K and M as used (lowered for small sets).
	Clusters  int `json:"clusters"`
	Exemplars int `json:"exemplars"`

	// Images are the images used, in feature order; Skipped the files
	// that could not be read.
	Images   []string      `json:"images"`
	Skipped  []SkippedFile `json:"skipped"`
	Warnings []string      `json:"warnings"`

	TSNE   string        `json:"tsne,omitempty"`
	Facets []FacetReport `json:"facets"`
	// Snapshots are the loss terms of the saved images, batch-wide.
	Snapshots []SnapshotTerms `json:"snapshots"`
	// Iterations is the number of iterations done.
	Iterations int     `json:"iterations"`
	Timings    Timings `json:"timings"`
	Memory     Memory  `json:"memory"`
}

// Memory records the memory the run used and planned for. Byte counts are
// 0 where unknown (the estimate is made for the pure-Go backend only, whose
// step runs in this process's memory).
type Memory struct {
	// PeakRSS is the process's peak resident set so far, in bytes.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// MicroBatch is the number of images stepped at once (K when all fit).
	MicroBatch int `json:"micro_batch"`
	// StepPerImage and StepFixed estimate the step's memory: StepFixed +
	// StepPerImage·MicroBatch bytes at its peak, from the step's graph.
	StepPerImage int64 `json:"step_per_image_bytes"`
	StepFixed    int64 `json:"step_fixed_bytes"`
	// Available is the memory that was available before Stage C.
	Available int64 `json:"available_bytes"`
}

// ModelReport identifies the model and the layers used.
type ModelReport struct {
	Name    string `json:"name"`
	Weights string `json:"weights,omitempty"`
	Target  string `json:"target"`
	Penalty string `json:"penalty"`
	// Channels is C, the target layer's channel count.
	Channels int `json:"channels"`
	// Input is the model's input convention.
	InputOrder string     `json:"input_order"`
	InputRange [2]float32 `json:"input_range"`
	InputMean  []float32  `json:"input_mean,omitempty"`
	InputStd   []float32  `json:"input_std,omitempty"`
}

// simdWarning is the warning for a run on backend b by a program built
// with simd false, or "" when there is nothing to say.
func simdWarning(simd bool, b compute.Backend) string {
	if simd || !backend.IsGo(b) {
		return ""
	}
	return "built without GOEXPERIMENT=simd: the pure-Go backend is 4-5x slower and its results differ from a SIMD build's for the same seed; export GOEXPERIMENT=simd (the Makefile and the notebook kernel set it) and rebuild"
}

// SkippedFile is an input that could not be used.
type SkippedFile struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// FacetReport describes one facet and how its image evolved.
type FacetReport struct {
	Index     int             `json:"index"` // 1-based, as in facet_XX
	Dir       string          `json:"dir"`
	Members   int             `json:"members"`
	Centre    [2]float64      `json:"centre"`
	Nearest   string          `json:"nearest"`
	Exemplars []Exemplar      `json:"exemplars"`
	Channels  []int           `json:"channels"`
	Snapshots []FacetSnapshot `json:"snapshots"`
	// ActivationGain is the activation on the facet's channels at the last
	// snapshot minus that of the initial blend; ActivationGainRatio is their
	// ratio (0 when the initial activation is not positive).
	ActivationGain      float64 `json:"activation_gain"`
	ActivationGainRatio float64 `json:"activation_gain_ratio"`
}

// Exemplar is one image blended into a facet's initial image.
type Exemplar struct {
	File     string  `json:"file"`
	Distance float64 `json:"distance"`
	Weight   float64 `json:"weight"`
}

// FacetSnapshot measures one saved image of a facet.
type FacetSnapshot struct {
	Iteration int    `json:"iteration"`
	File      string `json:"file"`
	// Activation is the mean over the facet's channels S_k of the image's
	// pooled target activation.
	Activation float64 `json:"activation"`
	// Distance is ‖a − T_k‖, the Euclidean distance between the image's
	// pooled target activation and the facet's target vector.
	Distance float64 `json:"distance"`
}

// SnapshotTerms are the loss terms of the images saved at an iteration.
type SnapshotTerms struct {
	Iteration int `json:"iteration"`
	Terms
}

// Timings are wall-clock seconds per stage, and the per-iteration split of
// Stage C between the compiled step, the host regularizers and the copies
// of the images between host and device that the regularizers need.
type Timings struct {
	Features float64 `json:"features_s"`
	Facets   float64 `json:"facets_s"`
	Optimize float64 `json:"optimize_s"`
	// Step, Host and Transfer are totals over the iterations; StepMean,
	// HostMean and TransferMean their means per iteration. The first step
	// includes compilation.
	Step         float64 `json:"step_s"`
	Host         float64 `json:"host_s"`
	Transfer     float64 `json:"transfer_s"`
	StepMean     float64 `json:"step_mean_s"`
	HostMean     float64 `json:"host_mean_s"`
	TransferMean float64 `json:"transfer_mean_s"`
	// Snapshots is the time spent measuring and saving snapshots.
	Snapshots float64 `json:"snapshots_s"`
}

// outDir is a checked output folder.
type outDir struct{ *outdir.Dir }

// staleRE matches the files a previous run wrote: report.json, tsne.png and
// facet_XX/iteration_NNNN.png.
var staleRE = regexp.MustCompile(`^(report\.json|tsne\.png|facet_\d{2,}/iteration_\d{4,}\.png)$`)

// checkOut refuses an output folder that is an input folder, holds an input
// file or folder, is not a folder, or is not empty and not a previous output
// (unless overwrite).
func checkOut(out string, set *imageSet, overwrite bool) (*outDir, error) {
	var inputs []outdir.Input
	for _, d := range set.dirs {
		inputs = append(inputs, outdir.Input{Path: d, What: "input folder"})
	}
	for _, f := range set.files {
		inputs = append(inputs, outdir.Input{Path: f, What: "input image"})
	}
	d, err := outdir.Check(out, ReportTool, overwrite, inputs...)
	if err != nil {
		return nil, fmt.Errorf("mindseye: %w", err)
	}
	return &outDir{d}, nil
}

// prepare creates the folder and, in a previous output, removes the files
// a previous run wrote (report.json, tsne.png, facet_XX/iteration_NNNN.png
// and the facet folders left empty), so stale facets do not linger.
func (o *outDir) prepare() error {
	if err := o.Prepare(staleRE); err != nil {
		return fmt.Errorf("mindseye: %w", err)
	}
	return nil
}

// facetDir creates and returns facet_XX (1-based), refusing a symlink, so
// that nothing is written outside the output folder.
func (o *outDir) facetDir(index int) (string, error) {
	name := fmt.Sprintf("facet_%02d", index+1)
	if _, err := o.Sub(name); err != nil {
		return "", fmt.Errorf("mindseye: %w", err)
	}
	return name, nil
}

// writeReport writes report.json through a temporary file renamed into
// place, so a reader never sees a partial file.
func (o *outDir) writeReport(r *Report) error {
	if err := o.WriteReport(r); err != nil {
		return fmt.Errorf("mindseye: %w", err)
	}
	return nil
}

// toImage converts one image of 8-bit values (HWC RGB) to an image.Image,
// swapping red and blue when swap is set.
func toImage(px []float32, size int, swap bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for p := range size * size {
		r, g, b := px[3*p], px[3*p+1], px[3*p+2]
		if swap {
			r, b = b, r
		}
		img.SetNRGBA(p%size, p/size, color.NRGBA{R: uint8(r), G: uint8(g), B: uint8(b), A: 255})
	}
	return img
}

// savePNG writes img under the output folder.
func (o *outDir) savePNG(rel string, img image.Image) error {
	return photo.SavePNG(filepath.Join(o.Path, rel), img)
}
