// Package jpegref gives tests reference JPEG decodes by libjpeg-turbo, as
// PIL and OpenCV run it: it runs jpegref.py, beside this file, with
// Debian's python3 (see package pyref), and cjpeg (Debian package
// libjpeg-turbo-progs) to write test files.
package jpegref

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/layervis/layervis/layervis/internal/pyref"
)

// Modules are the Python modules jpegref.py needs.
var Modules = []string{"PIL", "cv2", "numpy"}

// Image is one JPEG file and its reference decodes.
type Image struct {
	Name string // file name without extension
	File string // path of the JPEG file
	Mode string // PIL's mode: L, RGB or CMYK
	W, H int
	// Raw decodes, row-major with channels interleaved: PIL's in its own
	// mode (CMYK holds ink amounts: 255 minus libjpeg's inverted values),
	// PIL's convert("RGB"), and cv2.imdecode(IMREAD_COLOR |
	// IMREAD_IGNORE_ORIENTATION) turned from BGR to RGB.
	PIL, PILRGB, CV2 []byte
}

// Generate writes the test JPEG files of jpegref.py (all of them, or those
// named) into a temporary directory and returns them with their reference
// decodes. Without cjpeg or the Python modules it skips the test, or fails
// it under CI.
func Generate(t testing.TB, names ...string) []Image {
	t.Helper()
	if _, err := exec.LookPath("cjpeg"); err != nil {
		msg := "cjpeg not found (apt-get install libjpeg-turbo-progs, or scripts/deps.sh)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; CI must run the JPEG reference tests")
		}
		t.Skip(msg)
	}
	return run(t, "gen", names)
}

// Decode returns the reference decodes of the given JPEG files.
func Decode(t testing.TB, files ...string) []Image {
	t.Helper()
	return run(t, "ref", files)
}

func run(t testing.TB, op string, args []string) []Image {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("jpegref: cannot locate jpegref.py")
	}
	dir := t.TempDir()
	pyref.RunModules(t, Modules, filepath.Join(filepath.Dir(self), "jpegref.py"), append([]string{op, dir}, args...)...)
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m []struct {
		Name, File, Mode, PIL, PILRGB, CV2 string
		W, H                               int
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("jpegref.py manifest: %v", err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out := make([]Image, len(m))
	for i, e := range m {
		out[i] = Image{Name: e.Name, File: e.File, Mode: e.Mode, W: e.W, H: e.H,
			PIL: read(e.PIL), PILRGB: read(e.PILRGB), CV2: read(e.CV2)}
		if len(out[i].PILRGB) != 3*e.W*e.H || len(out[i].CV2) != 3*e.W*e.H {
			t.Fatalf("jpegref.py: %s: raw decodes of the wrong size", e.Name)
		}
	}
	return out
}
