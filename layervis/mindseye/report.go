package mindseye

// The output folder: its safety checks, the snapshots and report.json.

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gomlx/compute"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/internal/atomicfile"
	"github.com/layervis/layervis/layervis/photo"
)

// ReportTool marks a report.json written by this package; a folder holding
// one is a previous output that a new run may replace.
const ReportTool = "layervis mindseye"

// Run states recorded in [Report].Status.
const (
	StatusRunning     = "running"
	StatusComplete    = "complete"
	StatusInterrupted = "interrupted"
	StatusFailed      = "failed"
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
type outDir struct {
	path     string // absolute, symlinks resolved
	previous bool   // holds a previous report.json of this package
}

// resolve returns p absolute with symlinks resolved as far as it exists.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for cur := abs; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest), nil
		}
		if filepath.Dir(cur) == cur {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}

// within reports whether path is dir or inside it (both resolved).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// checkOut refuses an output folder that is an input folder, holds an input
// file or folder, is not a folder, or is not empty and not a previous output
// (unless overwrite).
func checkOut(out string, set *imageSet, overwrite bool) (*outDir, error) {
	path, err := resolve(out)
	if err != nil {
		return nil, fmt.Errorf("mindseye: output folder %q: %w", out, err)
	}
	for _, d := range set.dirs {
		rd, err := resolve(d)
		if err != nil {
			return nil, err
		}
		if rd == path {
			return nil, fmt.Errorf("mindseye: output folder %q is an input folder; choose another output folder", out)
		}
		if within(rd, path) {
			return nil, fmt.Errorf("mindseye: output folder %q contains the input folder %q; choose another output folder", out, d)
		}
	}
	for _, f := range set.files {
		rf, err := resolve(f)
		if err != nil {
			return nil, err
		}
		if within(rf, path) {
			return nil, fmt.Errorf("mindseye: output folder %q contains the input image %q; choose another output folder", out, f)
		}
	}
	o := &outDir{path: path}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mindseye: output folder %q: %w", out, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("mindseye: output %q exists and is not a folder; choose a folder name", out)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("mindseye: output folder %q: %w", out, err)
	}
	if len(entries) == 0 {
		return o, nil
	}
	o.previous = isPreviousOutput(path)
	if !o.previous && !overwrite {
		return nil, fmt.Errorf("mindseye: output folder %q is not empty and holds no previous %s report.json; choose a new or empty folder, or set Overwrite (-overwrite) to write into it", out, ReportTool)
	}
	return o, nil
}

// isPreviousOutput reports whether dir/report.json was written by this
// package.
func isPreviousOutput(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return false
	}
	var r struct {
		Tool string `json:"tool"`
	}
	return json.Unmarshal(data, &r) == nil && r.Tool == ReportTool
}

var (
	facetDirRE = regexp.MustCompile(`^facet_\d{2,}$`)
	snapFileRE = regexp.MustCompile(`^iteration_\d{4,}\.png$`)
)

// prepare creates the folder and, in a previous output, removes the files
// a previous run wrote (report.json, tsne.png, facet_XX/iteration_NNNN.png
// and the facet folders left empty), so stale facets do not linger.
func (o *outDir) prepare() error {
	if err := os.MkdirAll(o.path, 0o755); err != nil {
		return fmt.Errorf("mindseye: creating the output folder: %w", err)
	}
	if !o.previous {
		return nil
	}
	entries, err := os.ReadDir(o.path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(o.path, e.Name())
		switch {
		case e.Name() == "report.json" || e.Name() == "tsne.png":
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("mindseye: removing the previous %s: %w", p, err)
			}
		case e.IsDir() && facetDirRE.MatchString(e.Name()):
			files, err := os.ReadDir(p)
			if err != nil {
				return err
			}
			for _, f := range files {
				if f.Type().IsRegular() && snapFileRE.MatchString(f.Name()) {
					if err := os.Remove(filepath.Join(p, f.Name())); err != nil {
						return fmt.Errorf("mindseye: removing a previous snapshot: %w", err)
					}
				}
			}
			os.Remove(p) // only succeeds if now empty
		}
	}
	return nil
}

// facetDir creates and returns facet_XX (1-based), refusing a symlink, so
// that nothing is written outside the output folder.
func (o *outDir) facetDir(index int) (string, error) {
	name := fmt.Sprintf("facet_%02d", index+1)
	p := filepath.Join(o.path, name)
	if st, err := os.Lstat(p); err == nil && !st.IsDir() {
		return "", fmt.Errorf("mindseye: %s exists and is not a folder (a link?); remove it or choose another output folder", p)
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("mindseye: creating %s: %w", p, err)
	}
	return name, nil
}

// writeReport writes report.json through a temporary file renamed into
// place, so a reader never sees a partial file.
func (o *outDir) writeReport(r *Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("mindseye: encoding the report: %w", err)
	}
	err = atomicfile.Write(filepath.Join(o.path, "report.json"), func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("mindseye: writing the report: %w", err)
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
	return photo.SavePNG(filepath.Join(o.path, rel), img)
}
