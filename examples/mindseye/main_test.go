package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/layervis/layervis/examples/internal/clitest"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/mindseye"
)

func TestRun(t *testing.T) {
	in := t.TempDir()
	clitest.Ramps(t, in, 5)
	base := []string{"-model", "resnet18", "-images", in, "-size", "32", "-clusters", "2",
		"-exemplars", "2", "-channels", "4", "-iterations", "3", "-save-every", "2", "-seed", "3"}
	isQuick := func(s mindseye.Config) bool {
		return s.LR == quick.LR && s.Lambda == quick.Lambda && s.BlurSigma == quick.BlurSigma &&
			s.DenoiseWeight == quick.DenoiseWeight && s.MaskSigma == quick.MaskSigma && s.Scale == 1
	}
	cases := []struct {
		name    string
		args    []string
		variant string
		check   func(s mindseye.Config) bool
	}{
		{"quick", nil, mindseye.VariantToolbox, isQuick},
		{"loop", []string{"-variant", "loop"}, mindseye.VariantLoop, isQuick},
		{"preset", []string{"-preset", "clean"}, mindseye.VariantLoop, isQuick},
		{"flags", []string{"-variant", "loop", "-lr", "0.4,0.1", "-lambda", "0", "-blur-sigma", "0.7,0.3", "-denoise-weight", "5,9",
			"-mask-sigma", "500,400", "-window-step", "2"}, mindseye.VariantLoop, func(s mindseye.Config) bool {
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
			if !strings.Contains(stdout.String(), "5 images → up to 2 facets") {
				t.Errorf("the header does not count the 5 images of the folder:\n%s", stdout.String())
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
			rep := clitest.Report[mindseye.Report](t, out)
			if !tc.check(rep.Settings) {
				t.Errorf("report settings do not follow the flags %v: %+v", tc.args, rep.Settings)
			}
			if rep.Variant != tc.variant || rep.Status != mindseye.StatusComplete || (rep.Toolbox != nil) != (tc.variant == mindseye.VariantToolbox) {
				t.Errorf("report: variant %q (toolbox settings %+v), status %q; want variant %q, complete", rep.Variant, rep.Toolbox, rep.Status, tc.variant)
			}
			if !strings.Contains(stdout.String(), "variant "+tc.variant) {
				t.Errorf("the header does not name the variant %s:\n%s", tc.variant, stdout.String())
			}
			// Every facet: a snapshot per period and at the end, each file
			// there, and the activation gain the report's numbers give.
			for _, f := range rep.Facets {
				var its []int
				for _, s := range f.Snapshots {
					its = append(its, s.Iteration)
					if _, err := os.Stat(filepath.Join(out, s.File)); err != nil {
						t.Error(err)
					}
				}
				if !reflect.DeepEqual(its, []int{0, 2, 3}) {
					t.Errorf("facet %d: snapshots at %v, want [0 2 3]", f.Index, its)
				}
				first, last := f.Snapshots[0].Activation, f.Snapshots[2].Activation
				if f.ActivationGain != last-first || (first > 0 && f.ActivationGainRatio != last/first) {
					t.Errorf("facet %d: gain %v (ratio %v) for activation %v → %v", f.Index, f.ActivationGain, f.ActivationGainRatio, first, last)
				}
			}
			if rep.Iterations != 3 || rep.Timings.Optimize <= 0 || rep.Timings.StepMean <= 0 {
				t.Errorf("report: %d iterations, timings %+v", rep.Iterations, rep.Timings)
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
		{nil, options{size: quick.Size, clusters: quick.Clusters, exemplars: quick.Exemplars, channels: ref.TopChannels,
			iterations: quick.Iterations, save: quick.SaveEvery, window: 0,
			lr: quick.LR, lambda: quick.Lambda, blur: quick.BlurSigma, denoise: quick.DenoiseWeight, mask: quick.MaskSigma}},
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

// TestRunErrors checks the errors a user sees: one "mindseye:" prefix, a
// setting named by its flag with its valid values, no Go API.
func TestRunErrors(t *testing.T) {
	in := t.TempDir()
	clitest.Ramps(t, in, 3)
	r18 := []string{"-model", "resnet18", "-images", in}
	cases := []struct {
		args []string
		want string
	}{
		{append(r18, "-preset", "fast"), "mindseye: unknown preset"},
		{[]string{"-model", "resnet19", "-images", in}, "mindseye: unknown model"},
		{append(r18, "-out", in), "is an input folder"},
		{append(r18, "-layer", "layer5"), "closest"},
		{append(r18, "-size", "0"), "mindseye: -size 0: it must be at least 32 for model resnet18 (e.g. 32;"},
		{append(r18, "-size", "8"), "mindseye: -size 8: it must be at least 32 for model resnet18 (e.g. 32;"},
		{append(r18, "-clusters", "0"), "mindseye: -clusters 0: it must be positive (the reference uses 10)"},
		{append(r18, "-save-every", "-2"), "mindseye: -save-every -2: it must be positive"},
		{append(r18, "-variant", "loop", "-window-step", "-1"), "mindseye: -window-step -1: it must be positive"},
		{append(r18, "-variant", "loop", "-lr", "-1,0.1"), "mindseye: -lr START,END: start -1; it must be a finite number of at least 0"},
		{append(r18, "-variant", "loop", "-mask-sigma", "400,0"), "mindseye: -mask-sigma START,END: end 0; it must be a finite positive number"},
		{[]string{"-images", in, "-weights", "r50.pth"}, "mindseye: -weights r50.pth needs -model"},
		{[]string{"-model", "demo", "-images", in, "-weights", "r50.pth"}, "carries its own weights"},
	}
	if _, err := assets.DemoModel(); err == nil {
		// One rule for every invalid size of a model taking multiples of 32.
		for _, size := range []string{"7", "8", "33"} {
			next := map[string]string{"7": "32", "8": "32", "33": "64"}[size]
			cases = append(cases, struct {
				args []string
				want string
			}{[]string{"-model", "demo", "-images", in, "-size", size},
				"mindseye: -size " + size + ": it must be a multiple of 32, at least 32, for model demo (e.g. " + next + "; the reference uses 512)"})
		}
	} else {
		t.Logf("no demo model (%v): the demo's size rule is not checked", err)
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		o, err := parseFlags(tc.args, &stderr)
		if err != nil {
			t.Fatal(err)
		}
		err = run(context.Background(), o, &bytes.Buffer{}, &stderr)
		if err == nil {
			t.Errorf("%v: no error, want %q", tc.args, tc.want)
			continue
		}
		msg := message(err)
		if !strings.Contains(msg, tc.want) || strings.Count(msg, "mindseye:") != 1 || strings.Contains(msg, "Config") {
			t.Errorf("%v:\n got %s\nwant %q, with one prefix and no Go API", tc.args, msg, tc.want)
		}
	}
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"-help"}, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "reference") {
		t.Errorf("-help: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Why toolbox is the default") {
		t.Errorf("-help does not say why the toolbox variant is the default:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "ONNX .onnx file") {
		t.Errorf("-help does not say -model takes .onnx files:\n%s", stderr.String())
	}
}

// TestVariant checks how -variant, -preset, -reference and the loop's
// settings pick the variant, and the errors for combinations that make no
// sense.
func TestVariant(t *testing.T) {
	cases := []struct {
		args []string
		want string // the variant, or the error
	}{
		{nil, "toolbox"},
		{[]string{"-variant", "toolbox"}, "toolbox"},
		{[]string{"-variant", "loop"}, "loop"},
		{[]string{"-preset", "compat"}, "loop"},
		{[]string{"-preset", "clean"}, "loop"},
		{[]string{"-reference"}, "loop"},
		{[]string{"-variant", "loop", "-reference", "-preset", "compat"}, "loop"},
		{[]string{"-variant", "loop", "-lr", "0.1,0.01", "-window-step", "3"}, "loop"},
		{[]string{"-preset", "clean", "-blur-sigma", "0.3"}, "loop"},
		{[]string{"-lambda", "1e-4", "-iterations", "9"}, "toolbox"},
		{[]string{"-variant", "toolbox", "-preset", "clean"}, "-variant toolbox takes no -preset or -reference"},
		{[]string{"-variant", "toolbox", "-reference"}, "-variant toolbox takes no -preset or -reference"},
		{[]string{"-lr", "0.1,0.01"}, "-lr is a setting of the loop variant"},
		{[]string{"-variant", "toolbox", "-window-step", "0"}, "-window-step is a setting of the loop variant"},
		{[]string{"-micro-batch", "2"}, "add -variant loop"},
		{[]string{"-variant", "fast"}, `-variant "fast": use "toolbox" (the default) or "loop"`},
	}
	for _, tc := range cases {
		o, err := parseFlags(tc.args, io.Discard)
		switch {
		case err != nil:
			if msg := message(err); !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "mindseye: -") {
				t.Errorf("%v: error %q, want %q", tc.args, msg, tc.want)
			}
		case o.variant != tc.want:
			t.Errorf("%v: variant %q, want %q", tc.args, o.variant, tc.want)
		}
	}
}

// TestMain runs the command itself when MINDSEYE_MAIN is set, so that a
// test can run it as a process and interrupt it.
func TestMain(m *testing.M) {
	if os.Getenv("MINDSEYE_MAIN") == "1" {
		os.Args = append([]string{"mindseye"}, strings.Fields(os.Getenv("MINDSEYE_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestInterrupt interrupts a run of each variant (SIGINT, as Ctrl-C) during
// the optimization and checks that it exits with status 130 and keeps the
// outputs so far.
func TestInterrupt(t *testing.T) {
	for _, variant := range []string{mindseye.VariantToolbox, mindseye.VariantLoop} {
		t.Run(variant, func(t *testing.T) { testInterrupt(t, variant) })
	}
}

func testInterrupt(t *testing.T, variant string) {
	in := t.TempDir()
	clitest.Ramps(t, in, 4)
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MINDSEYE_MAIN=1", "MINDSEYE_ARGS=-model resnet18 -images "+in+" -out "+out+
		" -size 32 -clusters 2 -exemplars 2 -channels 4 -iterations 100000 -save-every 2 -seed 1 -variant "+variant)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "iteration 4/") { // two snapshots saved
			cmd.Process.Signal(os.Interrupt)
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), strings.Join(lines, "\n"))
	}
	if !strings.Contains(stdout.String(), "4 images → up to 2 facets") || !strings.Contains(stdout.String(), "interrupted after") {
		t.Errorf("stdout lacks the image count or the interruption:\n%s", stdout.String())
	}
	if rep := clitest.Report[mindseye.Report](t, out); rep.Status != mindseye.StatusInterrupted || rep.Iterations < 4 || rep.Variant != variant {
		t.Errorf("report: status %q after %d iterations of variant %q, want interrupted after at least 4 of %q", rep.Status, rep.Iterations, rep.Variant, variant)
	}
	if _, err := os.Stat(filepath.Join(out, "facet_01", "iteration_0004.png")); err != nil {
		t.Errorf("snapshot before the interruption not kept: %v", err)
	}
}
