package jpeg

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/assets"
	"github.com/layervis/layervis/layervis/photo/internal/jpegref"
)

// diff counts the values of a and b that differ and their largest
// difference.
type diff struct {
	n, total, max int
}

func (d *diff) add(a, b []byte) {
	for i := range a {
		if a[i] != b[i] {
			d.n++
			d.max = max(d.max, int(a[i])-int(b[i]), int(b[i])-int(a[i]))
		}
	}
	d.total += len(a)
}

func (d diff) String() string {
	return fmt.Sprintf("max %d, %d of %d values differ (%.2f%%)", d.max, d.n, d.total, 100*float64(d.n)/float64(max(d.total, 1)))
}

// pixels returns img's samples as PIL lays out its mode: L (gray), RGB or
// CMYK, and PIL's mode name.
func pixels(img image.Image) (mode string, pix []byte) {
	b := img.Bounds()
	rows := func(p []byte, stride, bpp, keep int) []byte {
		out := make([]byte, 0, keep*b.Dx()*b.Dy())
		for y := 0; y < b.Dy(); y++ {
			row := p[y*stride : y*stride+bpp*b.Dx()]
			for x := 0; x < len(row); x += bpp {
				out = append(out, row[x:x+keep]...)
			}
		}
		return out
	}
	switch m := img.(type) {
	case *image.Gray:
		return "L", rows(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 1, 1)
	case *image.CMYK:
		return "CMYK", rows(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 4, 4)
	case *image.RGBA:
		return "RGB", rows(m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, 4, 3)
	}
	// Go's image/jpeg's YCbCr, converted as photo.FromImage did with it.
	m := img.(*image.YCbCr)
	pix = make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl := color.YCbCrToRGB(m.Y[m.YOffset(x, y)], m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)])
			pix = append(pix, r, g, bl)
		}
	}
	return "RGB", pix
}

// toRGB replicates gray samples to RGB; other modes are returned as they are.
func toRGB(mode string, pix []byte) []byte {
	if mode != "L" {
		return pix
	}
	out := make([]byte, 0, 3*len(pix))
	for _, v := range pix {
		out = append(out, v, v, v)
	}
	return out
}

// check decodes each reference file with Decode and with image/jpeg, fails
// the test where Decode is not bit-exact with PIL (and with OpenCV, except
// for CMYK, which OpenCV converts to RGB with its own formula), and logs the
// differences.
func check(t *testing.T, refs []jpegref.Image) (before, after diff) {
	for _, r := range refs {
		data, err := os.ReadFile(r.File)
		if err != nil {
			t.Fatal(err)
		}
		img, err := Decode(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != r.W || b.Dy() != r.H {
			t.Errorf("%s: %dx%d, want %dx%d", r.Name, b.Dx(), b.Dy(), r.W, r.H)
			continue
		}
		mode, pix := pixels(img)
		if mode != r.Mode {
			t.Errorf("%s: mode %s, PIL's is %s", r.Name, mode, r.Mode)
			continue
		}
		var pil, cv diff
		pil.add(pix, r.PIL)
		if pil.n != 0 {
			t.Errorf("%s (%s, %dx%d): differs from PIL: %v", r.Name, mode, r.W, r.H, pil)
		}
		if mode != "CMYK" {
			cv.add(toRGB(mode, pix), r.CV2)
			if cv.n != 0 {
				t.Errorf("%s (%s): differs from cv2.imdecode: %v", r.Name, mode, cv)
			}
			after.add(toRGB(mode, pix), r.PILRGB)
		}
		if std, err := stdjpeg.Decode(bytes.NewReader(data)); err == nil && mode != "CMYK" {
			spix := toRGB(pixels(std))
			var d diff
			d.add(spix, r.PILRGB)
			before.add(spix, r.PILRGB)
			t.Logf("%-24s %-4s %4dx%-4d image/jpeg vs PIL: %v", r.Name, mode, r.W, r.H, d)
		} else if err != nil {
			t.Logf("%-24s %-4s %4dx%-4d image/jpeg: %v", r.Name, mode, r.W, r.H, err)
		}
	}
	return before, after
}

func TestGenerated(t *testing.T) {
	refs := jpegref.Generate(t)
	if len(refs) < 30 {
		t.Fatalf("jpegref.py made %d files", len(refs))
	}
	before, after := check(t, refs)
	t.Logf("all generated files, RGB: image/jpeg vs PIL %v; Decode vs PIL %v", before, after)
}

func TestDemoPhotos(t *testing.T) {
	photos, err := assets.DemoPhotos()
	if err != nil {
		t.Skip(err)
	}
	var jpegs []string
	for _, p := range photos {
		if ext := strings.ToLower(filepath.Ext(p)); ext == ".jpg" || ext == ".jpeg" {
			jpegs = append(jpegs, p)
		}
	}
	before, after := check(t, jpegref.Decode(t, jpegs...))
	t.Logf("%d demo photos: image/jpeg vs PIL %v; Decode vs PIL %v", len(jpegs), before, after)
}

// BenchmarkDecode decodes a demo photo with Decode and with image/jpeg.
func BenchmarkDecode(b *testing.B) {
	var files []string
	for _, name := range []string{"dog.jpg", "cat.jpg"} { // 4:4:0 baseline, 4:4:4 progressive
		p, err := assets.DemoPhoto(name)
		if err != nil {
			b.Skip(err)
		}
		files = append(files, p)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		for _, dec := range []struct {
			name string
			fn   func(io.Reader) (image.Image, error)
		}{{"layervis", Decode}, {"image-jpeg", stdjpeg.Decode}} {
			b.Run(filepath.Base(p)+"/"+dec.name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := dec.fn(bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestGoTestdata checks the JPEG files of Go's image/testdata: 4:1:0 to
// 4:4:4, progressive, restart markers, CMYK, a progressive file missing its
// last scans (block smoothing) and more.
func TestGoTestdata(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "image", "testdata", "*.jpeg"))
	if len(files) == 0 {
		t.Skipf("no JPEG files in %s", filepath.Join(runtime.GOROOT(), "src", "image", "testdata"))
	}
	before, after := check(t, jpegref.Decode(t, files...))
	t.Logf("%d files: image/jpeg vs PIL %v; Decode vs PIL %v", len(files), before, after)
}
