package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/layervis/layervis/examples/internal/clitest"

	"github.com/layervis/layervis/layervis/mindseye"
)

func TestRun(t *testing.T) {
	in := t.TempDir()
	clitest.Ramps(t, in, 5)
	base := []string{"-model", "resnet18", "-images", in, "-size", "32", "-clusters", "2",
		"-exemplars", "2", "-channels", "4", "-iterations", "3", "-save-every", "2", "-seed", "3"}
	cases := []struct {
		name  string
		args  []string
		check func(s mindseye.Config) bool
	}{
		{"quick", nil, func(s mindseye.Config) bool {
			return s.LR == quickLR && s.Lambda == quickLambda && s.BlurSigma == quickBlurSigma &&
				s.DenoiseWeight == quickDenoiseWeight && s.MaskSigma == quickMaskSigma && s.Scale == 1
		}},
		{"flags", []string{"-lr", "0.4,0.1", "-lambda", "0", "-blur-sigma", "0.7,0.3", "-denoise-weight", "5,9",
			"-mask-sigma", "500,400", "-window-step", "2"}, func(s mindseye.Config) bool {
			return s.LR == mindseye.Range{Start: 0.4, End: 0.1} && s.Lambda == mindseye.Range{} &&
				s.BlurSigma == mindseye.Range{Start: 0.7, End: 0.3} && s.DenoiseWeight == mindseye.Range{Start: 5, End: 9} &&
				s.MaskSigma == mindseye.Range{Start: 500, End: 400} && s.Scale == mindseye.Clean().Scale && s.WindowStep == 2
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			var stderr bytes.Buffer
			o, err := parseFlags(append(append([]string{"-out", out}, base...), tc.args...), &stderr)
			if err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			if err := run(context.Background(), o, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			for _, f := range []string{"report.json", "tsne.png", "facet_01/iteration_0000.png", "facet_02/iteration_0002.png", "facet_02/iteration_0003.png"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
				if !strings.Contains(stdout.String(), filepath.Join(out, filepath.Dir(f))) {
					t.Errorf("output does not name %s:\n%s", filepath.Join(out, filepath.Dir(f)), stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), "RANDOM weights") {
				t.Errorf("no random-weights notice on stderr:\n%s", stderr.String())
			}
			data, err := os.ReadFile(filepath.Join(out, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rep mindseye.Report
			if err := json.Unmarshal(data, &rep); err != nil {
				t.Fatal(err)
			}
			if !tc.check(rep.Settings) {
				t.Errorf("report settings do not follow the flags %v: %+v", tc.args, rep.Settings)
			}
		})
	}
}

func TestRangeFlag(t *testing.T) {
	cases := []struct {
		in   string
		want mindseye.Range
		ok   bool
	}{
		{"0.5,0.08", mindseye.Range{Start: 0.5, End: 0.08}, true},
		{" 1e-4 , 5e-4 ", mindseye.Range{Start: 1e-4, End: 5e-4}, true},
		{"3", mindseye.Range{Start: 3, End: 3}, true},
		{"", mindseye.Range{}, false},
		{"1,", mindseye.Range{}, false},
		{"a,2", mindseye.Range{}, false},
		{"1,2,3", mindseye.Range{}, false},
	}
	for _, tc := range cases {
		var r mindseye.Range
		err := rangeFlag{&r}.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && r != tc.want) {
			t.Errorf("Set(%q) = %+v, %v; want %+v, ok %v", tc.in, r, err, tc.want, tc.ok)
		}
		if tc.ok {
			var back mindseye.Range
			if err := (rangeFlag{&back}).Set(rangeFlag{&r}.String()); err != nil || back != r {
				t.Errorf("String of %+v does not parse back: %v, %+v", r, err, back)
			}
		}
	}
}

// TestReference checks that -reference takes every quick setting not given
// from mindseye.Clean() and leaves the given ones.
func TestReference(t *testing.T) {
	ref := mindseye.Clean()
	cases := []struct {
		args []string
		want options
	}{
		{nil, options{size: quickSize, clusters: quickClusters, exemplars: quickExemplars, channels: ref.TopChannels,
			iterations: quickIterations, save: quickSaveEvery, window: quickWindowStep,
			lr: quickLR, lambda: quickLambda, blur: quickBlurSigma, denoise: quickDenoiseWeight, mask: quickMaskSigma}},
		{[]string{"-reference"}, options{size: ref.Size, clusters: ref.Clusters, exemplars: ref.Exemplars, channels: ref.TopChannels,
			iterations: ref.Iterations, save: ref.SaveEvery, window: ref.WindowStep,
			lr: ref.LR, lambda: ref.Lambda, blur: ref.BlurSigma, denoise: ref.DenoiseWeight, mask: ref.MaskSigma}},
		{[]string{"-reference", "-size", "64", "-lr", "0.1,0.01"}, options{size: 64, clusters: ref.Clusters, exemplars: ref.Exemplars,
			channels: ref.TopChannels, iterations: ref.Iterations, save: ref.SaveEvery, window: ref.WindowStep,
			lr: mindseye.Range{Start: 0.1, End: 0.01}, lambda: ref.Lambda, blur: ref.BlurSigma, denoise: ref.DenoiseWeight, mask: ref.MaskSigma}},
	}
	for _, tc := range cases {
		o, err := parseFlags(tc.args, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		got := options{size: o.size, clusters: o.clusters, exemplars: o.exemplars, channels: o.channels,
			iterations: o.iterations, save: o.save, window: o.window,
			lr: o.lr, lambda: o.lambda, blur: o.blur, denoise: o.denoise, mask: o.mask}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v:\n got %+v\nwant %+v", tc.args, got, tc.want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	in := t.TempDir()
	clitest.Ramps(t, in, 3)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-model", "resnet18", "-images", in, "-preset", "fast"}, "unknown preset"},
		{[]string{"-model", "resnet19", "-images", in}, "unknown model"},
		{[]string{"-model", "resnet18", "-images", in, "-out", in}, "is an input folder"},
		{[]string{"-model", "resnet18", "-images", in, "-layer", "layer5"}, "closest"},
		{[]string{"-model", "resnet18", "-images", in, "-size", "0"}, "Size"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		o, err := parseFlags(tc.args, &stderr)
		if err != nil {
			t.Fatal(err)
		}
		err = run(context.Background(), o, &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-help"}, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "reference") {
		t.Errorf("-help: %v\n%s", err, stderr.String())
	}
}
