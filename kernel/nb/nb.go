// Package nb holds the helpers every layervis notebook shares: stopping a
// cell on an error, opening the demo model, loading images and thumbnails,
// and reading back a Mind's Eye run's report.
//
// GoNB runs each cell as its own program, so a cell stops on an error by
// panicking: GoNB shows the panic's message under the cell, and the
// notebook runner (`layervis-kernel run`) fails the notebook. That is what
// [Must] and [Check] do; the other helpers stop the cell the same way,
// with an error that says what is missing and how to get it.
//
// A notebook imports it next to [github.com/layervis/layervis/kernel/display]:
//
//	m := nb.Demo()
//	photos := nb.Must(assets.DemoPhotos())
//	nb.Check(display.Image(nb.Thumb(photos[0], 128), "the first demo photo"))
package nb

import (
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/mindseye"
	"github.com/layervis/layervis/layervis/photo"
	"github.com/layervis/layervis/layervis/zoo"
)

// Must returns v, or stops the cell with err if it is not nil.
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Must2 is [Must] for a function returning two values and an error.
func Must2[T, U any](t T, u U, err error) (T, U) {
	Check(err)
	return t, u
}

// Check stops the cell with err if it is not nil.
func Check(err error) {
	if err != nil {
		panic(err)
	}
}

// Demo opens the offline demo model (zoo.Open("demo", "")), or stops the
// cell saying how to fetch it.
func Demo() cnn.Model {
	m, _, err := zoo.Open("demo", "")
	Check(err)
	return m
}

// Image loads an image file (JPEG, PNG, WebP...) at its own size.
func Image(path string) image.Image {
	return Must(photo.Load(path)).ToImage()
}

// Thumb loads an image file as a side×side thumbnail, scaled and
// centre-cropped as [cnn.Fit] does.
func Thumb(path string, side int) image.Image {
	if side < 1 {
		Check(fmt.Errorf("thumbnail side %d: give a positive number of pixels", side))
	}
	return cnn.Fit(Must(photo.Load(path)), side).ToImage()
}

// Snapshot loads the image file of a facet's snapshot s, listed in the
// report of the Mind's Eye run in dir.
func Snapshot(dir string, s mindseye.FacetSnapshot) image.Image {
	return Image(filepath.Join(dir, s.File))
}

// Report reads the report.json a Mind's Eye run wrote into its output
// folder dir (mindseye.Run or `go run ./examples/mindseye -out dir`).
// [Snapshot] loads the images it lists.
func Report(dir string) *mindseye.Report {
	file := filepath.Join(dir, "report.json")
	data, err := os.ReadFile(file)
	if err != nil {
		Check(fmt.Errorf("no Mind's Eye run in %s yet (%w): run the cell that makes it first", dir, err))
	}
	var r mindseye.Report
	if err := json.Unmarshal(data, &r); err != nil {
		Check(fmt.Errorf("%s: %w", file, err))
	}
	if r.Tool != mindseye.ReportTool {
		Check(fmt.Errorf("%s was written by %q, not by a Mind's Eye run (%q)", file, r.Tool, mindseye.ReportTool))
	}
	return &r
}
