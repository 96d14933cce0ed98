// Package clitest holds test helpers shared by the example commands' tests.
package clitest

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// Ramps writes n small PNGs into dir (a.png, b.png, …), each a different
// colour ramp: stand-in photos.
func Ramps(t testing.TB, dir string, n int) {
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
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Report reads and decodes the report.json of the output folder dir.
func Report[R any](t testing.TB, dir string) *R {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r R
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s/report.json: %v", dir, err)
	}
	return &r
}
