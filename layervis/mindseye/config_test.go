package mindseye

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/zoo"
)

// TestSizeRule checks that one rule covers every invalid size: 7, 8 and 33
// for a model taking multiples of 32 get the same rule, with the nearest
// valid size above as the example.
func TestSizeRule(t *testing.T) {
	cases := []struct {
		in             cnn.Input
		size           int
		lo, step, next int
	}{
		{zoo.DemoInput, 7, 32, 32, 32},
		{zoo.DemoInput, 8, 32, 32, 32},
		{zoo.DemoInput, 33, 32, 32, 64},
		{zoo.DemoInput, 128, 32, 32, 128},
		{cnn.Input{MinSize: 32, Multiple: 1}, 7, 32, 1, 32},
		{cnn.Input{MinSize: 32, Multiple: 1}, 33, 32, 1, 33},
		{cnn.Input{MinSize: 1}, 3, minSize, 1, minSize},
		{cnn.Input{MinSize: 20, Multiple: 8}, 21, 24, 8, 24},
	}
	for _, tc := range cases {
		lo, step, next := sizeRule(tc.in, tc.size)
		if lo != tc.lo || step != tc.step || next != tc.next {
			t.Errorf("sizeRule(min %d, multiple %d, size %d) = %d, %d, %d; want %d, %d, %d",
				tc.in.MinSize, tc.in.Multiple, tc.size, lo, step, next, tc.lo, tc.step, tc.next)
		}
	}
}

// TestSettingErrors checks that invalid settings give a SettingError naming
// the field, the value and what a valid value is, with one "mindseye:"
// prefix and no Go API advice in what a command shows (Field, Want).
func TestSettingErrors(t *testing.T) {
	dir := t.TempDir()
	images := writeSyntheticImages(t, dir, 3)
	cases := []struct {
		set   func(c *Config)
		field string
		value any
		want  string
	}{
		{func(c *Config) { c.Size = 7 }, "Size", 7, "at least 32 for model resnet18 (e.g. 32; the reference uses 512)"},
		{func(c *Config) { c.Size = 0 }, "Size", 0, "at least 32 for model resnet18"},
		{func(c *Config) { c.Clusters = 0 }, "Clusters", 0, "positive (the reference uses 10)"},
		{func(c *Config) { c.SaveEvery = -1 }, "SaveEvery", -1, "positive (the reference uses 200)"},
		{func(c *Config) { c.LR.End = -0.1 }, "LR.End", -0.1, "a finite number of at least 0"},
		{func(c *Config) { c.MaskSigma.Start = 0 }, "MaskSigma.Start", 0.0, "a finite positive number"},
		{func(c *Config) { c.TSNEIterations = 100 }, "TSNEIterations", 100, "at least 250"},
	}
	for _, tc := range cases {
		cfg := smallConfig(t, Clean(), images, dir+"/out")
		tc.set(&cfg)
		_, err := New(cfg)
		var se *SettingError
		if !errors.As(err, &se) {
			t.Errorf("%s: error %v is not a *SettingError", tc.field, err)
			continue
		}
		if se.Field != tc.field || se.Value != tc.value || !strings.HasPrefix(se.Want, tc.want) {
			t.Errorf("%s: got %+v; want field %s, value %v, rule %q", tc.field, *se, tc.field, tc.value, tc.want)
		}
		if msg := err.Error(); strings.Count(msg, "mindseye:") != 1 || strings.Contains(se.Want, "Config") || strings.Contains(se.Want, "mindseye.") {
			t.Errorf("%s: message %q: want one prefix and no Go API in the rule", tc.field, msg)
		}
	}
}

// TestNoBackend checks that a Config without a backend is refused, saying
// how to get one.
func TestNoBackend(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig(t, Clean(), writeSyntheticImages(t, dir, 3), filepath.Join(dir, "out"))
	cfg.Backend = nil
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "Config.Backend is nil") || !strings.Contains(err.Error(), "backend.Get()") {
		t.Errorf("New without a backend: %v; want an error saying to pass backend.Get()", err)
	}
}

// TestSIMDRecorded checks that the report records the build's SIMD state
// and that a pure-Go run built without it is warned about.
func TestSIMDRecorded(t *testing.T) {
	dir := t.TempDir()
	r, err := New(smallConfig(t, Clean(), writeSyntheticImages(t, dir, 3), filepath.Join(dir, "out")))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(r.Report())
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"simd":%v`, backend.SIMD); !strings.Contains(string(data), want) {
		t.Errorf("report.json lacks %s", want)
	}
	b, err := backend.Get()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		simd bool
		b    compute.Backend
		warn bool
	}{{true, b, false}, {false, b, backend.IsGo(b)}, {false, nil, false}}
	for _, tc := range cases {
		w := simdWarning(tc.simd, tc.b)
		if (w != "") != tc.warn || (tc.warn && !strings.Contains(w, "export GOEXPERIMENT=simd")) {
			t.Errorf("simdWarning(%v, %s) = %q, want a warning: %v", tc.simd, backend.Describe(tc.b), w, tc.warn)
		}
	}
	if hasWarn := slices.ContainsFunc(r.Report().Warnings, func(s string) bool { return strings.Contains(s, "GOEXPERIMENT") }); hasWarn != (simdWarning(backend.SIMD, b) != "") {
		t.Errorf("report warnings %q do not match this build (SIMD %v)", r.Report().Warnings, backend.SIMD)
	}
}
