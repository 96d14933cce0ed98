package mindseye

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/photo"
)

// TestToolboxRender renders the facets of a small run with the toolbox
// variant and checks its outputs: a compile event, then one event per step
// with the snapshots at SaveEvery and at the end; the snapshots saved as
// the loop saves them (iteration 0 the blends), the saved final images
// those the render returned; report.json complete, with the variant, its
// settings and the activation on every facet's channels up from the
// blend. Before Prepare, after a Step or twice it is an error.
func TestToolboxRender(t *testing.T) {
	dir := t.TempDir()
	images := writeSyntheticImages(t, t.TempDir(), 8)
	out := filepath.Join(dir, "out")
	cfg := smallConfig(t, Clean(), images, out)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.ToolboxRender(ctx, optvis.FourierParam(), ToolboxLR, nil); err == nil {
		t.Error("ToolboxRender before Prepare: no error")
	}
	if err := r.Prepare(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	if err := r.ToolboxRender(ctx, optvis.FourierParam(), ToolboxLR, func(ev Event) { evs = append(evs, ev) }); err != nil {
		t.Fatal(err)
	}
	if err := r.ToolboxRender(ctx, optvis.FourierParam(), ToolboxLR, nil); err == nil {
		t.Error("ToolboxRender twice: no error")
	}
	if len(evs) != cfg.Iterations+1 || evs[0].Stage != StageCompile {
		t.Fatalf("%d events, the first %+v; want a compile event and %d steps", len(evs), evs[0], cfg.Iterations)
	}
	var saved []int
	for i, ev := range evs[1:] {
		if ev.Stage != StageOptimize || ev.Iteration != i+1 || ev.Total != cfg.Iterations || ev.Terms.Total == 0 {
			t.Fatalf("event %d: %+v", i+1, ev)
		}
		if ev.Snapshot != nil {
			saved = append(saved, ev.Iteration)
			if len(ev.Snapshot.Images) != len(r.Facets()) || len(ev.Snapshot.Activation) != len(r.Facets()) {
				t.Fatalf("snapshot at %d: %d images, %d activations for %d facets", ev.Iteration, len(ev.Snapshot.Images), len(ev.Snapshot.Activation), len(r.Facets()))
			}
		}
	}
	if want := []int{20, 40}; len(saved) != 2 || saved[0] != want[0] || saved[1] != want[1] {
		t.Errorf("snapshots at %v, want %v", saved, want)
	}
	final := evs[len(evs)-1].Snapshot.Images
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	rep := readReport(t, out)
	if rep.Status != StatusComplete || rep.Variant != VariantToolbox || rep.Iterations != cfg.Iterations {
		t.Errorf("report: status %q, variant %q, %d iterations", rep.Status, rep.Variant, rep.Iterations)
	}
	if tb := rep.Toolbox; tb == nil || tb.LR != ToolboxLR || tb.Lambda != cfg.Lambda.End || tb.Param == "" || tb.Transforms == "" {
		t.Errorf("report.toolbox = %+v", tb)
	}
	if rep.Timings.Optimize <= 0 || rep.Timings.Step <= 0 {
		t.Errorf("timings %+v", rep.Timings)
	}
	for k, f := range rep.Facets {
		if len(f.Snapshots) != 3 || f.Snapshots[0].Iteration != 0 || f.Snapshots[2].Iteration != cfg.Iterations {
			t.Fatalf("facet %d: snapshots %+v", k+1, f.Snapshots)
		}
		for _, s := range f.Snapshots {
			if _, err := os.Stat(filepath.Join(out, s.File)); err != nil {
				t.Error(err)
			}
		}
		got, err := photo.Load(filepath.Join(out, f.Snapshots[2].File))
		if err != nil {
			t.Fatal(err)
		}
		want := photo.FromImage(final[k])
		for i := range want.Pix {
			if got.Pix[i] != want.Pix[i] {
				t.Fatalf("facet %d: the saved final image differs from the render's at value %d", k+1, i)
			}
		}
		t.Logf("facet %d: activation %.4g → %.4g", k+1, f.Snapshots[0].Activation, f.Snapshots[2].Activation)
		if !(f.ActivationGain > 0) {
			t.Errorf("facet %d: activation gain %v, want > 0", k+1, f.ActivationGain)
		}
	}
	if _, err := r.Step(ctx); err == nil {
		t.Error("Step after Finish: no error")
	}
}

// TestToolboxRenderInterrupted cancels the toolbox variant at its third
// step: the images are saved as they are and report.json says interrupted.
func TestToolboxRenderInterrupted(t *testing.T) {
	images := writeSyntheticImages(t, t.TempDir(), 8)
	out := filepath.Join(t.TempDir(), "out")
	r, err := New(smallConfig(t, Clean(), images, out))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Prepare(ctx, nil); err != nil {
		t.Fatal(err)
	}
	err = r.ToolboxRender(ctx, optvis.FourierParam(), ToolboxLR, func(ev Event) {
		if ev.Iteration == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	checkInterrupted(t, out, 3)
}

// TestToolboxRenderSaveFails makes the toolbox variant's second snapshot
// unwritable (a directory where facet_01's image goes): the render stops
// there with an error naming the file, keeps the first snapshot, leaves
// the directory alone and reports the failure.
func TestToolboxRenderSaveFails(t *testing.T) {
	images := writeSyntheticImages(t, t.TempDir(), 8)
	out := filepath.Join(t.TempDir(), "out")
	cfg := smallConfig(t, Clean(), images, out)
	cfg.Iterations = 60
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Prepare(ctx, nil); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(out, "facet_01", "iteration_0040.png")
	last := 0
	err = r.ToolboxRender(ctx, optvis.FourierParam(), ToolboxLR, func(ev Event) {
		last = max(last, ev.Iteration)
		if ev.Iteration == 21 {
			if err := os.Mkdir(blocker, 0o755); err != nil {
				t.Error(err)
			}
		}
	})
	if err == nil || errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "iteration_0040.png") {
		t.Fatalf("err = %v, want a save error naming iteration_0040.png", err)
	}
	if last >= 41 {
		t.Errorf("the render went on to step %d after the failed save at 40", last)
	}
	if st, err := os.Stat(blocker); err != nil || !st.IsDir() {
		t.Errorf("the directory in the way was touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "facet_01", "iteration_0020.png")); err != nil {
		t.Errorf("the first snapshot is gone: %v", err)
	}
	rep := readReport(t, out)
	if rep.Status != StatusFailed || !strings.Contains(rep.Error, "iteration_0040.png") {
		t.Errorf("report status %q, error %q: want failed, naming the file", rep.Status, rep.Error)
	}
}
