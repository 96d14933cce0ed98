package mindseye

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/optvis"
)

// TestToolboxRender renders the facets of a small run with the toolbox
// variant: the dual objective must rise from the exemplar blends (the
// first snapshot is after one step) and its activation term must grow, with
// one image per facet of the run's size; before Prepare it is an error.
func TestToolboxRender(t *testing.T) {
	dir := t.TempDir()
	images := writeSyntheticImages(t, t.TempDir(), 8)
	cfg := smallConfig(t, Clean(), images, filepath.Join(dir, "out"))
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ToolboxRender(context.Background(), optvis.FourierParam(), 2, 0.05, nil); err == nil {
		t.Error("ToolboxRender before Prepare: no error")
	}
	if err := r.Prepare(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	res, err := r.ToolboxRender(context.Background(), optvis.FourierParam(), 30, 0.05, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.Snapshots[0], res.Final()
	t.Logf("terms %v: %v after step 1, %v after 30", res.TermNames, first.Terms, last.Terms)
	if len(last.Images) != len(r.Facets()) || last.Images[0].Bounds().Dx() != cfg.Size {
		t.Fatalf("%d images of %v for %d facets of %d²", len(last.Images), last.Images[0].Bounds(), len(r.Facets()), cfg.Size)
	}
	if !(last.Value > first.Value) || !(last.Terms[0] > first.Terms[0]) {
		t.Errorf("objective %.4g → %.4g, activation term %.4g → %.4g: both should rise", first.Value, last.Value, first.Terms[0], last.Terms[0])
	}
}
