package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/photo"
)

// Report is the content of report.json. It is rewritten at every snapshot
// and at the end.
type Report struct {
	Tool   string `json:"tool"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`

	Model    ModelReport `json:"model"`
	Backend  string      `json:"backend"`
	Settings Settings    `json:"settings"`
	// Photos describes the photos the activations are compared with (nil
	// without -photos).
	Photos *PhotosReport `json:"photos,omitempty"`
	// Snapshots are the steps at which images were saved so far; Steps is
	// the last.
	Snapshots []int `json:"snapshots"`
	Steps     int   `json:"steps"`
	// Units are the channels rendered (one unit for -objective direction).
	Units   []UnitReport `json:"units"`
	Timings struct {
		// Render is the time from the start of the render (compilation
		// included) to the last snapshot; Step the mean per step.
		Render float64 `json:"render_s"`
		Step   float64 `json:"step_s"`
	} `json:"timings"`
}

// ModelReport identifies the model and the layer.
type ModelReport struct {
	Name    string `json:"name"`
	Weights string `json:"weights"`
	Random  bool   `json:"random_weights"`
	Layer   string `json:"layer"`
	Shape   []int  `json:"shape"` // the layer's [C, H, W] at the render size
}

// Settings are the render's settings.
type Settings struct {
	Objective     string  `json:"objective"`
	Channels      []int   `json:"channels"`
	Size          int     `json:"size"`
	Steps         int     `json:"steps"`
	Batch         int     `json:"batch"` // images per unit
	Param         string  `json:"param"`
	Transforms    string  `json:"transforms"`
	TransformList string  `json:"transform_list,omitempty"`
	LR            float64 `json:"lr"`
	InitSD        float64 `json:"init_sd"`
	RedirectReLU  int     `json:"redirect_relu"` // steps with redirected ReLU gradients
	Seed          uint64  `json:"seed"`
	Snapshots     []int   `json:"snapshot_steps"`
}

// PhotosReport describes the comparison photos.
type PhotosReport struct {
	Source string `json:"source"` // "demo" or the folder
	Files  int    `json:"files"`
	// HFShare is the photos' mean share of spectral power above
	// half-Nyquist (at the render size).
	HFShare float64 `json:"hf_share"`
}

// UnitReport is one channel (or the direction) and how its images came
// out.
type UnitReport struct {
	Channel int      `json:"channel"` // −1 for the direction
	Label   string   `json:"label,omitempty"`
	Files   []string `json:"files"`
	// Objective is the unit's objective (mean over its images) at each
	// snapshot, on the images without transforms.
	Objective []float64 `json:"objective"`
	// Activation is the channel's mean activation (centre value for
	// -objective neuron) on the final images as saved (8-bit), averaged
	// over the unit's images.
	Activation float64 `json:"activation"`
	// PhotosMax is the most any comparison photo reaches, PhotosBest that
	// photo; Ratio is Activation / PhotosMax.
	PhotosMax  float64 `json:"photos_max,omitempty"`
	PhotosBest string  `json:"photos_best,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	// HFShare is the final images' share of spectral power above
	// half-Nyquist (mean over the unit's images).
	HFShare float64 `json:"hf_share"`
}

// listPhotos lists the regular, non-hidden files of a folder.
func listPhotos(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("-photos: %w (give \"demo\", \"none\" or a folder of images)", err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// unitValues returns, for each image, each unit's value: the mean of its
// channel over positions, or the centre value for -objective neuron (the
// position optvis.Neuron reads).
func (j *job) unitValues(imgs []*photo.RGB) ([][]float64, error) {
	const chunk = 8 // images per forward pass, to bound memory
	var out [][]float64
	for lo := 0; lo < len(imgs); lo += chunk {
		acts, err := cnn.Activations(j.b, j.m, cnn.Batch(j.m.Input(), imgs[lo:min(lo+chunk, len(imgs))]...), j.layer)
		if err != nil {
			return nil, err
		}
		a := acts[0]
		data, err := tensors.CopyFlatData[float32](a)
		dims := a.Shape().Dimensions
		a.FinalizeAll()
		if err != nil {
			return nil, err
		}
		plane := 1
		for _, d := range dims[2:] {
			plane *= d
		}
		for i := range dims[0] {
			vals := make([]float64, len(j.units))
			for u, un := range j.units {
				p := data[(i*dims[1]+un.channel)*plane:][:plane]
				if j.o.objective == objNeuron {
					vals[u] = float64(p[dims[2]/2*dims[3]+dims[3]/2])
					continue
				}
				var s float64
				for _, v := range p {
					s += float64(v)
				}
				vals[u] = s / float64(plane)
			}
			out = append(out, vals)
		}
	}
	return out, nil
}

// measure fills in each unit's activation on the final images as saved
// and their high-frequency share.
func (j *job) measure(s *optvis.Snapshot) error {
	imgs := make([]*photo.RGB, len(s.Images))
	for i, img := range s.Images {
		imgs[i] = photo.FromImage(img)
	}
	var vals [][]float64
	if j.o.objective != objDirection {
		var err error
		if vals, err = j.unitValues(imgs); err != nil {
			return err
		}
	}
	for u := range j.units {
		r := &j.report.Units[u]
		r.Activation, r.HFShare = 0, 0
		for k := range j.batch {
			i := u*j.batch + k
			if vals != nil {
				r.Activation += vals[i][u] / float64(j.batch)
			}
			r.HFShare += imageops.HighFrequencyShare(imgs[i].Pix, imgs[i].W, imgs[i].H, 3, hfCutoff) / float64(j.batch)
		}
		if j.photoMax != nil {
			r.PhotosMax, r.PhotosBest = j.photoMax[u], j.photoBest[u]
			if r.PhotosMax > 0 {
				r.Ratio = r.Activation / r.PhotosMax
			}
		}
	}
	if j.report.Steps > 0 {
		j.report.Timings.Step = j.report.Timings.Render / float64(j.report.Steps)
	}
	return nil
}

// summary prints where the images are and how each unit came out.
func (j *job) summary(w io.Writer) {
	rep := &j.report
	fmt.Fprintf(w, "\n%d images in %s (grid.png, report.json), %d steps in %.1fs (%.3fs a step)\n",
		len(rep.Units)*j.batch, j.out.Path, rep.Steps, rep.Timings.Render, rep.Timings.Step)
	beat := 0
	for _, u := range rep.Units {
		line := fmt.Sprintf("  %-18s objective %.4g", u.Files[0], u.Objective[len(u.Objective)-1])
		if u.Label != "" {
			line += " (" + u.Label + ")"
		}
		if rep.Photos != nil {
			line += fmt.Sprintf(", activation %.3g vs photos' max %.3g (%s)", u.Activation, u.PhotosMax, u.PhotosBest)
			if u.Activation > u.PhotosMax {
				beat++
			}
		}
		fmt.Fprintf(w, "%s, HF share %.3f\n", line, u.HFShare)
	}
	if rep.Photos != nil {
		fmt.Fprintf(w, "above the photos' max on %d of %d; the photos' HF share: %.3f\n", beat, len(rep.Units), rep.Photos.HFShare)
	}
}
