package nb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/mindseye"
)

// stopped runs f and returns the error it stopped the cell with (its
// panic), or nil if it returned normally.
func stopped(t *testing.T, f func()) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(error)
			if !ok {
				t.Fatalf("panicked with %T %v, want an error", p, p)
			}
			err = e
		}
	}()
	f()
	return nil
}

func TestMustCheck(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		err  error
	}{{"nil", nil}, {"error", boom}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v int
			if err := stopped(t, func() { v = Must(7, tc.err) }); err != tc.err {
				t.Errorf("Must stopped with %v, want %v", err, tc.err)
			}
			if tc.err == nil && v != 7 {
				t.Errorf("Must returned %d, want 7", v)
			}
			var a, b string
			if err := stopped(t, func() { a, b = Must2("a", "b", tc.err) }); err != tc.err {
				t.Errorf("Must2 stopped with %v, want %v", err, tc.err)
			}
			if tc.err == nil && (a != "a" || b != "b") {
				t.Errorf("Must2 returned %q, %q, want \"a\", \"b\"", a, b)
			}
			if err := stopped(t, func() { Check(tc.err) }); err != tc.err {
				t.Errorf("Check stopped with %v, want %v", err, tc.err)
			}
		})
	}
}

// writePNG writes a w×h PNG whose left half is red and right half blue.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: 255, A: 255}
			if x >= w/2 {
				c = color.NRGBA{B: 255, A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImageThumb(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wide.png")
	writePNG(t, file, 40, 20)

	if got := Image(file).Bounds(); got != image.Rect(0, 0, 40, 20) {
		t.Errorf("Image: bounds %v, want 40×20", got)
	}
	if got := Snapshot(filepath.Dir(dir), mindseye.FacetSnapshot{File: filepath.Join(filepath.Base(dir), "wide.png")}).Bounds(); got != image.Rect(0, 0, 40, 20) {
		t.Errorf("Snapshot: bounds %v, want 40×20", got)
	}
	// 40×20 scaled to 20×10, its centre 10×10 cropped: columns 5–14 of the
	// scaled image, red on the left half, blue on the right.
	th := Thumb(file, 10)
	if got := th.Bounds(); got != image.Rect(0, 0, 10, 10) {
		t.Fatalf("Thumb: bounds %v, want 10×10", got)
	}
	for _, p := range []struct {
		x    int
		want color.RGBA
	}{{0, color.RGBA{R: 255, A: 255}}, {4, color.RGBA{R: 255, A: 255}}, {5, color.RGBA{B: 255, A: 255}}, {9, color.RGBA{B: 255, A: 255}}} {
		r, g, b, a := th.At(p.x, 5).RGBA()
		got := color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: uint8(a >> 8)}
		if got != p.want {
			t.Errorf("Thumb: pixel (%d, 5) %v, want %v", p.x, got, p.want)
		}
	}

	missing := filepath.Join(dir, "missing.png")
	for name, f := range map[string]func(){
		"Image of a missing file": func() { Image(missing) },
		"Thumb of a missing file": func() { Thumb(missing, 10) },
	} {
		if err := stopped(t, f); err == nil || !strings.Contains(err.Error(), "missing.png") {
			t.Errorf("%s: stopped with %v, want an error naming the file", name, err)
		}
	}
	if err := stopped(t, func() { Thumb(file, 0) }); err == nil || !strings.Contains(err.Error(), "positive") {
		t.Errorf("Thumb side 0: stopped with %v, want an error asking for a positive side", err)
	}
}

func TestReport(t *testing.T) {
	write := func(t *testing.T, content string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "report.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	want := mindseye.Report{Tool: mindseye.ReportTool, Status: mindseye.StatusComplete, Iterations: 60,
		Facets: []mindseye.FacetReport{{Index: 1, Snapshots: []mindseye.FacetSnapshot{
			{Iteration: 0, File: "facet_01/iteration_0000.png", Activation: 0.5},
			{Iteration: 60, File: "facet_01/iteration_0060.png", Activation: 2.25},
		}}}}
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a run's report", func(t *testing.T) {
		r := Report(write(t, string(data)))
		if r.Tool != want.Tool || r.Status != want.Status || r.Iterations != 60 || len(r.Facets) != 1 ||
			fmt.Sprint(r.Facets[0].Snapshots) != fmt.Sprint(want.Facets[0].Snapshots) {
			t.Errorf("read %+v, want %+v", r, want)
		}
	})

	tests := []struct {
		name string
		dir  func(t *testing.T) string
		want string // in the error
		is   error
	}{
		{"no run yet", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") }, "no Mind's Eye run in", fs.ErrNotExist},
		{"not JSON", func(t *testing.T) string { return write(t, "{") }, "report.json: unexpected end", nil},
		{"another tool's report", func(t *testing.T) string { return write(t, `{"tool": "layervis channels"}`) },
			`written by "layervis channels", not by a Mind's Eye run`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			err := stopped(t, func() { Report(dir) })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("stopped with %v, want an error naming %s and saying %q", err, dir, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	if _, err := assets.DemoModel(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v\nCI must fetch the demo assets first: run scripts/fetch-assets.sh", err)
		}
		t.Skip(err)
	}
	m := Demo()
	if in := m.Input(); in.Channels != 3 || in.Order != "RGB" {
		t.Errorf("demo model input %+v, want 3 channels in RGB order", in)
	}

	t.Setenv(assets.EnvVar, t.TempDir()) // an empty cache
	err := stopped(t, func() { Demo() })
	if err == nil || !strings.Contains(err.Error(), "fetch-assets") {
		t.Errorf("Demo with an empty cache stopped with %v, want an error saying how to fetch the assets", err)
	}
}
