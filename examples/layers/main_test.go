package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

func capture(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	ferr := f()
	os.Stdout = old
	w.Close()
	out, _ := io.ReadAll(r)
	return string(out), ferr
}

func TestCatalogue(t *testing.T) {
	out, err := capture(t, func() error { return run("resnet50", "", 224) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"random weights", "backend:", "layer4.2.conv3 ", "Conv2d", "2048 7 7", "fc "} {
		if !strings.Contains(out, want) {
			t.Errorf("catalogue lacks %q", want)
		}
	}
	if err := run("resnet50", "", 8); err == nil {
		t.Error("no error for a too-small input")
	}
}
