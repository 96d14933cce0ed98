package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/mindseye"
	"github.com/layervis/layervis/layervis/optvis"
	"github.com/layervis/layervis/layervis/photo"
)

// BenchmarkToolboxVsClean is the measurement of issue 12 §2, not a timing:
// on the demo model and photos (skipped without them) it runs the Mind's
// Eye with the quick settings (make demo: preset clean) and the toolbox
// variant (mindseye.Run.ToolboxRender: the same facets, each image
// optimized from its exemplar blend in optvis's decorrelated Fourier
// parameterization with small transforms and the dual objective, for as
// many steps; also with the spectrum decay 1.5 of Horama), and logs per facet the activation on its channels (initial
// blend, clean, toolbox) and the share of spectral power above
// half-Nyquist of each final image next to the photos' mean (a washed-out
// image has less, noise more). BENCH_OUT=DIR also writes a PNG per facet:
// blend, clean, toolbox, toolbox with decay 1.5.
//
//	go test ./examples/mindseye -run '^$' -bench ToolboxVsClean -benchtime 1x -v
func BenchmarkToolboxVsClean(b *testing.B) {
	if _, err := assets.DemoModel(); err != nil {
		b.Skip("no demo model: ", err)
	}
	photos, err := assets.DemoPhotos()
	if err != nil {
		b.Skip("no demo photos: ", err)
	}
	for range b.N {
		ctx := context.Background()
		dir := b.TempDir()
		// Clean, as make demo runs it.
		cleanOut := filepath.Join(dir, "clean")
		o, err := parseFlags([]string{"-out", cleanOut, "-quiet"}, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if err := run(ctx, o, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
		var rep mindseye.Report
		data, err := os.ReadFile(filepath.Join(cleanOut, "report.json"))
		if err == nil {
			err = json.Unmarshal(data, &rep)
		}
		if err != nil {
			b.Fatal(err)
		}
		// The toolbox variant, on the same facets (same settings and seed).
		cfg := rep.Settings
		cfg.Model, cfg.Images, cfg.Out = mustOpen(b), photos, filepath.Join(dir, "toolbox")
		cfg.Backend = backend.MustGet()
		r, err := mindseye.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Prepare(ctx, nil); err != nil {
			b.Fatal(err)
		}
		blends := r.Images()
		res, err := r.ToolboxRender(ctx, optvis.FourierParam(), cfg.Iterations, 0.05, nil)
		if err != nil {
			b.Fatal(err)
		}
		// Horama's steeper spectrum decay, 1.5: less high-frequency detail.
		steep := optvis.FourierParam()
		steep.Decay = 1.5
		res15, err := r.ToolboxRender(ctx, steep, cfg.Iterations, 0.05, nil)
		if err != nil {
			b.Fatal(err)
		}
		bk := backend.MustGet()
		var photoHF float64
		for _, p := range photos {
			img, err := photo.Load(p)
			if err != nil {
				b.Fatal(err)
			}
			f := cnn.Fit(img, cfg.Size)
			photoHF += imageops.HighFrequencyShare(f.Pix, f.W, f.H, 3, 0.25) / float64(len(photos))
		}
		b.Logf("photos: high-frequency share %.4f (mean of %d)", photoHF, len(photos))
		var gainClean, gainToolbox, gainSteep float64
		for k, f := range r.Facets() {
			last := rep.Facets[k].Snapshots[len(rep.Facets[k].Snapshots)-1]
			clean, err := photo.Load(filepath.Join(cleanOut, last.File))
			if err != nil {
				b.Fatal(err)
			}
			imgs := []*photo.RGB{photo.FromImage(blends[k]), clean, photo.FromImage(res.Final().Images[k]), photo.FromImage(res15.Final().Images[k])}
			w := make([]float32, len(f.Target))
			for _, c := range f.Channels {
				w[c] = 1 / float32(len(f.Channels))
			}
			var act, hf [4]float64
			for i, img := range imgs {
				if act[i], _, err = optvis.Evaluate(bk, r.Config().Model, optvis.ChannelSet(cfg.Target, w), img); err != nil {
					b.Fatal(err)
				}
				hf[i] = imageops.HighFrequencyShare(img.Pix, img.W, img.H, 3, 0.25)
			}
			gainClean += act[1] / act[0] / float64(len(r.Facets()))
			gainToolbox += act[2] / act[0] / float64(len(r.Facets()))
			gainSteep += act[3] / act[0] / float64(len(r.Facets()))
			b.Logf("facet %d: activation blend %.3g, clean %.3g (%.2f×), toolbox %.3g (%.2f×), decay 1.5 %.3g (%.2f×); high-frequency share blend %.4f, clean %.4f, toolbox %.4f, decay 1.5 %.4f",
				k+1, act[0], act[1], act[1]/act[0], act[2], act[2]/act[0], act[3], act[3]/act[0], hf[0], hf[1], hf[2], hf[3])
			if d := os.Getenv("BENCH_OUT"); d != "" {
				if err := photo.SavePNG(filepath.Join(d, fmt.Sprintf("facet_%02d.png", k+1)), strip(imgs)); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(gainClean, "clean-gain")
		b.ReportMetric(gainToolbox, "toolbox-gain")
		b.ReportMetric(gainSteep, "toolbox-decay1.5-gain")
	}
}

// mustOpen opens the demo model.
func mustOpen(b *testing.B) cnn.Model {
	m, _, err := openModel(&options{model: "demo"}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// strip puts images side by side.
func strip(imgs []*photo.RGB) image.Image {
	w, h := imgs[0].W, imgs[0].H
	out := image.NewNRGBA(image.Rect(0, 0, w*len(imgs), h))
	for i, img := range imgs {
		draw.Draw(out, image.Rect(i*w, 0, (i+1)*w, h), img.ToImage(), image.Point{}, draw.Src)
	}
	return out
}
