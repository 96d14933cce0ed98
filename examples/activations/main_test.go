package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/npy"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out, grad := filepath.Join(dir, "act.npy"), filepath.Join(dir, "grad.npy")
	if err := run("resnet18", "", "../testdata/pattern.png", "layer2.0.conv1:in", out, grad, 64); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		shape []int
	}{{out, []int{1, 64, 16, 16}}, {grad, []int{1, 3, 64, 64}}} {
		shape, data, err := npy.Read(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(shape, tc.shape) {
			t.Errorf("%s: shape %v, want %v", tc.path, shape, tc.shape)
		}
		nonzero := slices.ContainsFunc(data, func(v float32) bool { return v != 0 })
		if !nonzero {
			t.Errorf("%s: all zeros", tc.path)
		}
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.npy")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	notImage := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notImage, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npy")
	cases := []struct {
		name string
		err  func() error
		want string
	}{
		{"unknown layer", func() error { return run("resnet18", "", "../testdata/pattern.png", "layer5", out, "", 64) }, "closest"},
		{"unknown model", func() error { return run("resnet19", "", "../testdata/pattern.png", "layer1", out, "", 64) }, "resnet18"},
		{"not an image", func() error { return run("resnet18", "", notImage, "layer1", out, "", 64) }, "notes.txt"},
		{"missing weights", func() error {
			return run("resnet18", filepath.Join(dir, "none.pth"), "../testdata/pattern.png", "layer1", out, "", 64)
		}, "none.pth"},
		{"existing output", func() error { return checkOutputs("../testdata/pattern.png", false, existing) }, "-force"},
		{"output is the input", func() error { return checkOutputs("../testdata/pattern.png", true, "../testdata/pattern.png") }, "is the input"},
		{"too small", func() error { return run("resnet18", "", "../testdata/pattern.png", "layer1", out, "", 16) }, "minimum"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Error("an existing file was overwritten")
	}
}
