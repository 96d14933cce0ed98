package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gradients writes n small PNGs, each a different colour ramp.
func gradients(t *testing.T, dir string, n int) {
	t.Helper()
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 48, 40))
		for y := range 40 {
			for x := range 48 {
				img.SetNRGBA(x, y, color.NRGBA{uint8(x * 5 * (i%3 + 1)), uint8(y * 6 * (i%2 + 1)), uint8(40 * i), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, string(rune('a'+i))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

func TestRun(t *testing.T) {
	in := t.TempDir()
	gradients(t, in, 5)
	out := filepath.Join(t.TempDir(), "out")
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"-model", "resnet18", "-images", in, "-out", out, "-size", "32", "-clusters", "2",
		"-exemplars", "2", "-channels", "4", "-iterations", "3", "-save-every", "2", "-seed", "3"}, &stderr)
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
}

func TestRunErrors(t *testing.T) {
	in := t.TempDir()
	gradients(t, in, 3)
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
