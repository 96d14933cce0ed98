package mindseye

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/internal/pyref"
	"github.com/layervis/layervis/layervis/npy"
)

// TestLoadPixelsMatchesOpenCV checks Stage A's image loading in Compat
// (QuantizeInputs) against what the reference does with the same files:
// cv2.imread (BGR, reversed here to RGB) and cv2.resize(img, (size, size),
// interpolation=cv2.INTER_AREA) on the uint8 image, bit for bit, for
// halving, integer and non-integer shrinks, enlargements and mixed cases.
// PNG files keep decoding out of the comparison.
func TestLoadPixelsMatchesOpenCV(t *testing.T) {
	pyref.RequireModules(t, "numpy", "cv2")
	dir := t.TempDir()
	files := writeSyntheticImages(t, dir, 2) // 80×96
	noise := image.NewNRGBA(image.Rect(0, 0, 96, 96))
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			noise.Pix[i] = 255
		}
	}
	noise.SetNRGBA(0, 0, color.NRGBA{255, 0, 7, 255})
	p := filepath.Join(dir, "noise.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, noise); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	files = append(files, p)
	type loadCase struct {
		File string `json:"file"`
		Size int    `json:"size"`
		Out  string `json:"out"`
	}
	var cases []loadCase
	for i, f := range files {
		for _, size := range []int{32, 40, 48, 88, 128} {
			cases = append(cases, loadCase{f, size, filepath.Join(dir, fmt.Sprintf("ref%d_%d.npy", i, size))})
		}
	}
	spec, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "load.py")
	if err := os.WriteFile(script, []byte(`import json, sys, numpy as np, cv2
for c in json.loads(sys.argv[1]):
    img = cv2.imread(c["file"])
    img = cv2.resize(img, (c["size"], c["size"]), interpolation=cv2.INTER_AREA)
    np.save(c["out"], np.ascontiguousarray(img[:, :, ::-1]))
`), 0o644); err != nil {
		t.Fatal(err)
	}
	pyref.RunModules(t, []string{"numpy", "cv2"}, script, string(spec))
	for _, c := range cases {
		_, want, err := npy.Read(c.Out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := loadPixels(c.File, c.Size, true)
		if err != nil {
			t.Fatal(err)
		}
		n, first := 0, -1
		for i, v := range want {
			if got[i] != v {
				if n++; first < 0 {
					first = i
				}
			}
		}
		if n > 0 {
			t.Errorf("%s at %d²: %d of %d values differ from cv2.imread + cv2.resize; value %d is %v, OpenCV %v",
				filepath.Base(c.File), c.Size, n, len(want), first, got[first], want[first])
		}
	}
}
