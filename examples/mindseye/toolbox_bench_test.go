package main

import (
	"context"
	"fmt"
	"image"
	"image/draw"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/layervis/layervis/examples/internal/clitest"
	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/imageops"
	"github.com/layervis/layervis/layervis/mindseye"
	"github.com/layervis/layervis/layervis/photo"
)

// BenchmarkToolboxVsClean is the measurement of issue 12 §2 and §4, not a
// timing: on the demo model and photos (skipped without them) it runs the
// command with its quick settings as both variants, the loop (preset
// clean) and the toolbox (the default), for each seed of BENCH_SEEDS
// (default 0,1,2), and logs per facet the activation on its channels
// (initial blend, and its gain to the final image of each variant, as
// report.json measures them) and the share of spectral power above
// half-Nyquist of each final image next to the photos' mean (a washed-out
// image has less, noise more). BENCH_OUT=DIR also writes a PNG per seed and
// facet: blend, loop, toolbox. The metrics are the means over every facet.
//
//	go test ./examples/mindseye -run '^$' -bench ToolboxVsClean -benchtime 1x -v -timeout 60m
func BenchmarkToolboxVsClean(b *testing.B) {
	if _, err := assets.DemoModel(); err != nil {
		b.Skip("no demo model: ", err)
	}
	photos, err := assets.DemoPhotos()
	if err != nil {
		b.Skip("no demo photos: ", err)
	}
	seeds := []uint64{0, 1, 2}
	if s := os.Getenv("BENCH_SEEDS"); s != "" {
		seeds = nil
		for f := range strings.SplitSeq(s, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				b.Fatalf("BENCH_SEEDS=%q: %v", s, err)
			}
			seeds = append(seeds, v)
		}
	}
	var photoHF float64
	size := quick.Size
	for _, p := range photos {
		img, err := photo.Load(p)
		if err != nil {
			b.Fatal(err)
		}
		f := cnn.Fit(img, size)
		photoHF += imageops.HighFrequencyShare(f.Pix, f.W, f.H, 3, 0.25) / float64(len(photos))
	}
	b.Logf("photos: high-frequency share %.3f (mean of %d at %d², centre-cropped)", photoHF, len(photos), size)
	variants := []string{mindseye.VariantLoop, mindseye.VariantToolbox}
	for range b.N {
		var gain, hf [2][]float64
		var secs [2]float64
		for _, seed := range seeds {
			dir := b.TempDir()
			var reps [2]*mindseye.Report
			for v, variant := range variants {
				out := filepath.Join(dir, variant)
				o, err := parseFlags([]string{"-out", out, "-quiet", "-variant", variant, "-seed", strconv.FormatUint(seed, 10)}, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				if err := run(context.Background(), o, io.Discard, io.Discard); err != nil {
					b.Fatal(err)
				}
				reps[v] = clitest.Report[mindseye.Report](b, out)
				secs[v] += reps[v].Timings.Optimize / float64(len(seeds))
			}
			for k := range reps[0].Facets {
				fl, ft := reps[0].Facets[k], reps[1].Facets[k]
				if !slices.Equal(fl.Channels, ft.Channels) || fl.Exemplars[0] != ft.Exemplars[0] {
					b.Fatalf("seed %d, facet %d: the variants found different facets", seed, k+1)
				}
				imgs := []*photo.RGB{load(b, dir, variants[0], fl.Snapshots[0].File)}
				var h [3]float64
				h[0] = imageops.HighFrequencyShare(imgs[0].Pix, size, size, 3, 0.25)
				for v, f := range []mindseye.FacetReport{fl, ft} {
					img := load(b, dir, variants[v], f.Snapshots[len(f.Snapshots)-1].File)
					imgs = append(imgs, img)
					h[v+1] = imageops.HighFrequencyShare(img.Pix, size, size, 3, 0.25)
					gain[v] = append(gain[v], f.ActivationGainRatio)
					hf[v] = append(hf[v], h[v+1])
				}
				b.Logf("seed %d facet %d: activation blend %.3g, gain loop %.1f×, toolbox %.1f×; high-frequency share blend %.3f, loop %.3f, toolbox %.3f",
					seed, k+1, fl.Snapshots[0].Activation, fl.ActivationGainRatio, ft.ActivationGainRatio, h[0], h[1], h[2])
				if d := os.Getenv("BENCH_OUT"); d != "" {
					if err := photo.SavePNG(filepath.Join(d, fmt.Sprintf("seed%d_facet_%02d.png", seed, k+1)), strip(imgs)); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		for v, variant := range variants {
			b.Logf("%s: gain %.1f–%.1f× (median %.1f×), high-frequency share %.3f–%.3f (median %.3f; photos %.3f), optimization %.0fs per run",
				variant, slices.Min(gain[v]), slices.Max(gain[v]), median(gain[v]), slices.Min(hf[v]), slices.Max(hf[v]), median(hf[v]), photoHF, secs[v])
			b.ReportMetric(mean(gain[v]), variant+"-gain")
			b.ReportMetric(mean(hf[v]), variant+"-hf")
		}
		b.ReportMetric(photoHF, "photos-hf")
	}
}

// load loads a snapshot of the variant's output folder under dir.
func load(b *testing.B, dir, variant, file string) *photo.RGB {
	img, err := photo.Load(filepath.Join(dir, variant, file))
	if err != nil {
		b.Fatal(err)
	}
	return img
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	return (s[(n-1)/2] + s[n/2]) / 2
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
