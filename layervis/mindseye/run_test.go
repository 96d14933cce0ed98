package mindseye

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/torchvision"
)

// writeSyntheticImages writes n small PNG images in dir: stripes of several
// orientations, frequencies and colours, and discs, so the set has
// structure for t-SNE and k-means. They are 80×96, not square.
func writeSyntheticImages(t testing.TB, dir string, n int) []string {
	t.Helper()
	var files []string
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 80, 96))
		freq := 0.15 + 0.1*float64(i%4)
		angle := float64(i) * 0.7
		col := color.NRGBA{uint8(60 * (i % 5)), uint8(255 - 40*(i%6)), uint8(30 * (i % 9)), 255}
		for y := range 96 {
			for x := range 80 {
				var v float64
				if i%2 == 0 {
					v = 0.5 + 0.5*math.Sin(freq*(float64(x)*math.Cos(angle)+float64(y)*math.Sin(angle)))
				} else if math.Hypot(float64(x-40), float64(y-48)) < 10+3*float64(i%5) {
					v = 1
				}
				img.SetNRGBA(x, y, color.NRGBA{uint8(float64(col.R) * v), uint8(float64(col.G) * v), uint8(float64(col.B)*v + 40*(1-v)), 255})
			}
		}
		p := filepath.Join(dir, "img"+string(rune('a'+i))+".png")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		files = append(files, p)
	}
	return files
}

// smallConfig is a run of seconds: random-weight ResNet-18 at 64², K = 2,
// M = 3, n = 8.
func smallConfig(t testing.TB, preset Config, images []string, out string) Config {
	t.Helper()
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := preset
	cfg.Model, cfg.Images, cfg.Out = m, images, out
	cfg.Backend = backend.MustGet()
	cfg.Size, cfg.Clusters, cfg.Exemplars, cfg.TopChannels = 64, 2, 3, 8
	cfg.Iterations, cfg.SaveEvery = 40, 20
	cfg.TSNEIterations = 250
	cfg.Quirks.Unseeded = false
	return cfg
}

func readReport(t *testing.T, dir string) *Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report.json is not valid JSON: %v", err)
	}
	return &r
}

// TestGenerate runs both presets end to end on synthetic images and checks
// the outputs, and that every facet's activation on its channels rose from
// the initial blend to the last snapshot.
func TestGenerate(t *testing.T) {
	for _, preset := range []Config{Clean(), Compat()} {
		t.Run(preset.Preset, func(t *testing.T) {
			in := t.TempDir()
			images := writeSyntheticImages(t, in, 8)
			// An unreadable file in the folder is skipped, with a warning.
			bad := filepath.Join(in, "notes.txt")
			if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			cfg := smallConfig(t, preset, []string{in}, out)
			var warnings []string
			var steps int
			rep, err := Generate(context.Background(), cfg, func(ev Event) {
				if ev.Warning {
					warnings = append(warnings, ev.Message)
				}
				if ev.Stage == StageOptimize {
					steps++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if steps != cfg.Iterations {
				t.Errorf("%d optimization events, want %d", steps, cfg.Iterations)
			}
			if len(warnings) == 0 || !strings.Contains(warnings[0], "notes.txt") {
				t.Errorf("warnings %q: want one naming notes.txt", warnings)
			}
			r := readReport(t, out)
			if r.Status != StatusComplete || r.Iterations != cfg.Iterations || rep.Status != StatusComplete {
				t.Errorf("report status %q after %d iterations, want complete after %d", r.Status, r.Iterations, cfg.Iterations)
			}
			if len(r.Skipped) != 1 || r.Skipped[0].File != bad {
				t.Errorf("skipped = %+v, want %s", r.Skipped, bad)
			}
			if !slices.Equal(r.Images, images) {
				t.Errorf("images used %v, want %v (aligned with the readable files)", r.Images, images)
			}
			if _, err := os.Stat(filepath.Join(out, "tsne.png")); err != nil {
				t.Error(err)
			}
			if len(r.Facets) != cfg.Clusters {
				t.Fatalf("%d facets, want %d", len(r.Facets), cfg.Clusters)
			}
			for _, f := range r.Facets {
				its := []int{}
				for _, s := range f.Snapshots {
					its = append(its, s.Iteration)
					if _, err := os.Stat(filepath.Join(out, s.File)); err != nil {
						t.Error(err)
					}
				}
				if !slices.Equal(its, []int{0, 20, 40}) {
					t.Errorf("facet %d snapshots at %v, want [0 20 40]", f.Index, its)
				}
				if len(f.Exemplars) != cfg.Exemplars || len(f.Channels) < cfg.TopChannels {
					t.Errorf("facet %d: %d exemplars, %d channels", f.Index, len(f.Exemplars), len(f.Channels))
				}
				sum := 0.0
				for _, e := range f.Exemplars {
					sum += e.Weight
					if !slices.Contains(images, e.File) {
						t.Errorf("facet %d: exemplar %s is not an input image", f.Index, e.File)
					}
				}
				if math.Abs(sum-1) > 1e-9 {
					t.Errorf("facet %d: exemplar weights sum to %v", f.Index, sum)
				}
				first, last := f.Snapshots[0], f.Snapshots[len(f.Snapshots)-1]
				t.Logf("%s facet %d: activation on its %d channels %.4g → %.4g (gain %+.4g, ×%.3g), feature distance %.4g → %.4g",
					preset.Preset, f.Index, len(f.Channels), first.Activation, last.Activation, f.ActivationGain, f.ActivationGainRatio,
					first.Distance, last.Distance)
				if !(last.Activation > first.Activation) || f.ActivationGain != last.Activation-first.Activation {
					t.Errorf("facet %d: activation %v at iteration %d is not above the initial blend's %v (report gain %v)",
						f.Index, last.Activation, last.Iteration, first.Activation, f.ActivationGain)
				}
			}
			if len(r.Snapshots) != 3 || r.Timings.Step <= 0 || r.Timings.Host <= 0 {
				t.Errorf("snapshot terms %d, timings %+v", len(r.Snapshots), r.Timings)
			}
		})
	}
}

// TestHostOrder checks the order and periods of the host operations on a
// tiny run with short periods, against the reference's rules (§4.3): crop
// every WindowStep before the blur, blur every BlurEvery, brightness when
// also a multiple of BrightnessStep, paste every iteration, the step, the
// denoising every DenoiseEvery, saves every SaveEvery and at the end.
func TestHostOrder(t *testing.T) {
	in := t.TempDir()
	writeSyntheticImages(t, in, 6)
	cfg := smallConfig(t, Clean(), []string{in}, filepath.Join(t.TempDir(), "out"))
	cfg.Size, cfg.Iterations = 32, 12
	cfg.WindowStep, cfg.BlurEvery, cfg.BrightnessStep, cfg.DenoiseEvery, cfg.SaveEvery = 5, 2, 3, 4, 6
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r.Points() != nil {
		t.Error("Points before Prepare")
	}
	if err := r.Prepare(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The map: one point per image; each facet's centre is the mean of its
	// members' points (k-means), and the facets' distances agree with it.
	pts := r.Points()
	if len(pts) != len(r.Report().Images) {
		t.Fatalf("%d points for %d images", len(pts), len(r.Report().Images))
	}
	for _, f := range r.Facets() {
		var cx, cy float64
		for _, i := range f.Members {
			cx, cy = cx+pts[i][0]/float64(len(f.Members)), cy+pts[i][1]/float64(len(f.Members))
		}
		if math.Abs(cx-f.Centre[0]) > 1e-6 || math.Abs(cy-f.Centre[1]) > 1e-6 {
			t.Errorf("facet %d: centre %v, members' mean (%v, %v)", f.Index, f.Centre, cx, cy)
		}
		for e, i := range f.Exemplars {
			if d := math.Hypot(pts[i][0]-f.Centre[0], pts[i][1]-f.Centre[1]); math.Abs(d-f.Distances[e]) > 1e-6 {
				t.Errorf("facet %d exemplar %d: distance %v, map says %v", f.Index, i, f.Distances[e], d)
			}
		}
	}
	want := map[int]string{
		1:  "paste step",
		2:  "blur paste step",
		3:  "paste step",
		4:  "blur paste step denoise",
		5:  "crop paste step",
		6:  "blur brightness paste step save",
		7:  "paste step",
		8:  "blur paste step denoise",
		9:  "paste step",
		10: "crop blur paste step",
		11: "paste step",
		12: "blur brightness paste step denoise save",
	}
	for i := 1; ; i++ {
		ev, err := r.Step(ctx)
		if errors.Is(err, ErrDone) {
			if i != 13 {
				t.Errorf("done after %d iterations, want 12", i-1)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(ev.Ops, " "); ev.Iteration != i || got != want[i] {
			t.Errorf("iteration %d (event %d): ops %q, want %q", i, ev.Iteration, got, want[i])
		}
		if (ev.Snapshot != nil) != strings.Contains(want[i], "save") {
			t.Errorf("iteration %d: snapshot %v", i, ev.Snapshot != nil)
		}
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
}

// checkInterrupted checks that out's report says the run was interrupted
// after n iterations and that every facet's last snapshot is that
// iteration's image, saved.
func checkInterrupted(t *testing.T, out string, n int) {
	t.Helper()
	r := readReport(t, out)
	if r.Status != StatusInterrupted || r.Iterations != n {
		t.Errorf("report status %q after %d iterations, want interrupted after %d", r.Status, r.Iterations, n)
	}
	for _, f := range r.Facets {
		last := f.Snapshots[len(f.Snapshots)-1]
		if last.Iteration != n {
			t.Errorf("facet %d: last snapshot at %d, want the interrupted iteration %d", f.Index, last.Iteration, n)
		}
		if _, err := os.Stat(filepath.Join(out, last.File)); err != nil {
			t.Error(err)
		}
	}
}

// TestInterrupt cancels a run mid-way: the error is the context's, and
// report.json is valid, marked interrupted, and lists the snapshot of the
// iteration reached.
func TestInterrupt(t *testing.T) {
	in := t.TempDir()
	writeSyntheticImages(t, in, 6)
	out := filepath.Join(t.TempDir(), "out")
	cfg := smallConfig(t, Clean(), []string{in}, out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Generate(ctx, cfg, func(ev Event) {
		if ev.Iteration == 7 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate after cancel: %v, want context.Canceled", err)
	}
	checkInterrupted(t, out, 7)

	// Cancelled before Stage A: still a report, marked interrupted.
	out2 := filepath.Join(t.TempDir(), "out")
	cfg.Out = out2
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := Generate(ctx2, cfg, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate with a cancelled context: %v", err)
	}
	if r := readReport(t, out2); r.Status != StatusInterrupted {
		t.Errorf("report status %q, want interrupted", r.Status)
	}
}

// TestOutputSafety checks the refusals: an output folder that is an input
// folder, contains an input, is a file, or is a non-empty folder that is
// not a previous output (unless Overwrite); and that a previous output is
// replaced, its stale facets removed, and other files left alone.
func TestOutputSafety(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "photos")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	images := writeSyntheticImages(t, in, 4)
	foreign := filepath.Join(root, "foreign")
	os.Mkdir(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "thesis.tex"), []byte("x"), 0o644)
	file := filepath.Join(root, "file.txt")
	os.WriteFile(file, []byte("x"), 0o644)
	m, err := torchvision.Random("resnet18", 1)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		images    []string
		out       string
		overwrite bool
		wantErr   string
	}{
		{"input folder", []string{in}, in, false, "is an input folder"},
		{"input folder, other spelling", []string{in}, in + "/./", true, "is an input folder"},
		{"contains input folder", []string{in}, root, true, "contains the input folder"},
		{"contains input file", images[:1], root, true, "contains the input image"},
		{"a file", []string{in}, file, true, "not a folder"},
		{"foreign non-empty", []string{in}, foreign, false, "not empty"},
		{"foreign with overwrite", []string{in}, foreign, true, ""},
		{"new folder inside the input folder", []string{in}, filepath.Join(in, "out"), false, ""},
		{"missing image", []string{filepath.Join(root, "nope.png")}, filepath.Join(root, "o"), false, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Clean()
			cfg.Model, cfg.Images, cfg.Out, cfg.Overwrite = m, tc.images, tc.out, tc.overwrite
			cfg.Backend = backend.MustGet()
			_, err := New(cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("New: %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("New: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if entries, _ := os.ReadDir(foreign); len(entries) != 1 {
		t.Errorf("New wrote into %s: %v", foreign, entries)
	}

	// A previous output is replaced: a stale facet from a run with more
	// facets goes, a user's file stays.
	out := filepath.Join(root, "out")
	cfg := smallConfig(t, Clean(), []string{in}, out)
	cfg.Iterations = 2
	if _, err := Generate(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(out, "facet_09")
	os.Mkdir(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "iteration_0000.png"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(out, "mine.txt"), []byte("x"), 0o644)
	if _, err := Generate(context.Background(), cfg, nil); err != nil {
		t.Fatalf("second run into a previous output: %v", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale facet folder still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "mine.txt")); err != nil {
		t.Errorf("user file removed: %v", err)
	}
	for _, f := range images {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("input %s changed: %v", f, err)
		}
	}
}

// TestSmallSets checks the adaptation to sets smaller than the method
// needs: K and M lowered with warnings, and too few images refused.
func TestSmallSets(t *testing.T) {
	in := t.TempDir()
	images := writeSyntheticImages(t, in, 4)
	cfg := smallConfig(t, Clean(), images, filepath.Join(t.TempDir(), "out"))
	cfg.Clusters, cfg.Exemplars, cfg.Iterations = 10, 10, 1
	var warnings []string
	rep, err := Generate(context.Background(), cfg, func(ev Event) {
		if ev.Warning {
			warnings = append(warnings, ev.Message)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clusters != 3 || rep.Exemplars != 4 || len(rep.Facets) != 3 {
		t.Errorf("K = %d, M = %d, %d facets; want K = 3 (N−1), M = 4 (N)", rep.Clusters, rep.Exemplars, len(rep.Facets))
	}
	if len(warnings) != 2 {
		t.Errorf("warnings %q, want two (K and M)", warnings)
	}
	cfg.Images, cfg.Out = images[:2], filepath.Join(t.TempDir(), "out")
	if _, err := Generate(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "at least 3") {
		t.Errorf("two images: %v, want an error asking for at least 3", err)
	}
}

// TestJitterCanvas checks the canvas size, round(512·1.2) = 614 as
// scipy.ndimage.zoom gives it, and the offset range.
func TestJitterCanvas(t *testing.T) {
	h := &host{k: 1, size: 512, cur: make([]float32, 512*512*3)}
	if err := h.newCanvas(1.2, 0.4); err != nil {
		t.Fatal(err)
	}
	if h.cs != 614 {
		t.Errorf("canvas %d, want 614", h.cs)
	}
	h.rng = newRNG(1)
	for range 1000 {
		ox, oy := h.offsets()
		if ox < 0 || oy < 0 || ox > 102 || oy > 102 {
			t.Fatalf("offset (%d, %d) outside [0, 102]", ox, oy)
		}
	}
	none := &host{k: 1, size: 8, cur: make([]float32, 8*8*3)}
	if err := none.newCanvas(1, 0.4); err != nil || none.canvas != nil {
		t.Errorf("scale 1: canvas %v, %v; want none", none.canvas != nil, err)
	}
}

// TestContinue checks continuation (Q9): compat repeats the last iteration
// number and evaluates the schedules against the new total, as the
// reference's second generate call; clean runs them again from the start.
func TestContinue(t *testing.T) {
	in := t.TempDir()
	writeSyntheticImages(t, in, 5)
	for _, tc := range []struct {
		preset Config
		its    []int
		lr     func(i int) float64
	}{
		{Compat(), []int{4, 5, 6, 7}, func(i int) float64 { return 0.5 + (0.08-0.5)*float64(i-1)/float64(7-1) }},
		{Clean(), []int{5, 6, 7}, func(i int) float64 { return 0.5 + (0.08-0.5)*float64(i-5)/float64(3-1) }},
	} {
		t.Run(tc.preset.Preset, func(t *testing.T) {
			cfg := smallConfig(t, tc.preset, []string{in}, filepath.Join(t.TempDir(), "out"))
			cfg.Size, cfg.Iterations = 32, 4
			r := prepared(t, cfg)
			stepAll(t, r)
			ctx := context.Background()
			if err := r.Continue(3); err != nil {
				t.Fatal(err)
			}
			var its []int
			for {
				ev, err := r.Step(ctx)
				if errors.Is(err, ErrDone) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				its = append(its, ev.Iteration)
				if want := tc.lr(ev.Iteration); math.Abs(ev.Schedule.LR-want) > 1e-12 {
					t.Errorf("iteration %d: lr %v, want %v", ev.Iteration, ev.Schedule.LR, want)
				}
			}
			if !slices.Equal(its, tc.its) {
				t.Errorf("continued iterations %v, want %v", its, tc.its)
			}
			if err := r.Finish(); err != nil {
				t.Fatal(err)
			}
			if rep := r.Report(); rep.Status != StatusComplete {
				t.Errorf("status %q after the continuation", rep.Status)
			}
		})
	}
}
