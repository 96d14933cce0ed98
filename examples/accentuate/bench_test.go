package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/assets"
)

// BenchmarkAccentuate is the quality check of the feature accentuation
// issue, not a timing: on the demo detector and photos (skipped without
// them), with the command's defaults (128², 64 steps, keep the layer
// halfway down, alpha 0.3), it accentuates several channels on several
// photos and reports the smallest activation gain over the photo (target
// ≥ 2; over the cases where the photo's activation is positive) and the smallest grey-level correlation with the photo (target ≥
// 0.5). Every case is logged; run with
//
//	go test ./examples/accentuate -run '^$' -bench Accentuate -benchtime 1x -v
func BenchmarkAccentuate(b *testing.B) {
	if _, err := assets.DemoModel(); err != nil {
		b.Skip("no demo model: ", err)
	}
	photos := []string{"cat.jpg", "giraffe.jpg", "plane.jpg"}
	channels := []struct {
		layer string
		c     int
	}{
		{"tower_0/MobilenetV3/expanded_conv_6/expand/hard_swish/mul_1", 7},
		{"tower_0/MobilenetV3/expanded_conv_10/expand/hard_swish/mul_1", 50},
		{"tower_0/extern1/hard_swish/mul_1", 42},
	}
	for range b.N {
		minGain, minCorr := math.Inf(1), math.Inf(1)
		for _, ph := range photos {
			for _, ch := range channels {
				path, err := assets.DemoPhoto(ph)
				if err != nil {
					b.Skip("no demo photos: ", err)
				}
				out := filepath.Join(b.TempDir(), "out")
				o, err := parseFlags([]string{"-model", "demo", "-image", path,
					"-layer", ch.layer, "-channel", fmt.Sprint(ch.c), "-quiet", "-snapshot-every", "0", "-out", out}, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				if err := run(context.Background(), o, io.Discard, io.Discard); err != nil {
					b.Fatalf("%s %s:%d: %v", ph, ch.layer, ch.c, err)
				}
				var rep Report
				data, err := os.ReadFile(filepath.Join(out, "report.json"))
				if err == nil {
					err = json.Unmarshal(data, &rep)
				}
				if err != nil {
					b.Fatal(err)
				}
				fmt.Fprintf(os.Stderr, "%-12s %s:%d: %.2f×, correlation %.3f\n", ph, ch.layer, ch.c, rep.Gain, rep.Correlation)
				b.Logf("%-12s %s:%d keep %s: activation %.3g → %.3g (%.2f×), grey correlation %.3f, %.0fs",
					ph, ch.layer, ch.c, rep.Keep, rep.ActivationPhoto, rep.ActivationFinal, rep.Gain, rep.Correlation, rep.Seconds)
				if rep.ActivationPhoto > 0 { // a ratio means nothing otherwise
					minGain = min(minGain, rep.Gain)
				}
				minCorr = min(minCorr, rep.Correlation)
			}
		}
		b.ReportMetric(minGain, "min-gain")
		b.ReportMetric(minCorr, "min-correlation")
	}
}
