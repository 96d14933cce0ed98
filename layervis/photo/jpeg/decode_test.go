package jpeg

import (
	"bytes"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// seeds returns the small JPEG files in testdata, made with cjpeg and PIL:
// progressive 4:2:0 with restart markers, progressive 4:2:0 with only its
// first 2 scans (block smoothing), sampling factors 3x2/1x1/1x2, RGB 4:4:0,
// progressive grayscale, CMYK and YCCK.
func seeds(t testing.TB) map[string][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.jpg"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.jpg: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// sof returns the offset of the first SOF marker segment's length field.
func sof(t *testing.T, b []byte) int {
	for i := 2; i+1 < len(b); i++ {
		if b[i] == 0xff && (b[i+1] == 0xc0 || b[i+1] == 0xc1 || b[i+1] == 0xc2) {
			return i + 2
		}
	}
	t.Fatal("no SOF marker")
	return 0
}

func TestSeeds(t *testing.T) {
	want := map[string]color.Model{
		"cmyk.jpg": color.CMYKModel, "ycck.jpg": color.CMYKModel, "gray-progressive.jpg": color.GrayModel,
		"progressive-restart-420.jpg": color.RGBAModel, "rgb-440.jpg": color.RGBAModel, "sampling-32.jpg": color.RGBAModel,
		"progressive-2-scans-420.jpg": color.RGBAModel,
	}
	for name, b := range seeds(t) {
		cfg, err := DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		img, err := Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Width != 17 || cfg.Height != 9 || img.Bounds() != image.Rect(0, 0, 17, 9) {
			t.Errorf("%s: config %dx%d, image %v; want 17x9", name, cfg.Width, cfg.Height, img.Bounds())
		}
		if cfg.ColorModel != want[name] || img.ColorModel() != want[name] {
			t.Errorf("%s: colour model %v (config %v), want %v", name, img.ColorModel(), cfg.ColorModel, want[name])
		}
	}
}

func TestErrors(t *testing.T) {
	good := seeds(t)["progressive-restart-420.jpg"]
	patched := func(f func(b []byte, sof int)) []byte {
		b := bytes.Clone(good)
		f(b, sof(t, b))
		return b
	}
	tests := []struct {
		name string
		data []byte
		want string // one of these |-separated strings
	}{
		{"empty", nil, "unexpected EOF"},
		{"not a JPEG", []byte("GIF89a..."), "missing SOI marker"},
		{"truncated header", good[:40], "unexpected EOF"},
		{"truncated data", good[:len(good)-100], "unexpected EOF|short Huffman data"},
		{"arithmetic", patched(func(b []byte, i int) { b[i-1] = 0xc9 }), "unsupported JPEG feature: arithmetic coding"},
		{"lossless", patched(func(b []byte, i int) { b[i-1] = 0xc3 }), "unsupported JPEG feature: lossless"},
		{"12-bit", patched(func(b []byte, i int) { b[i+2] = 12 }), "unsupported JPEG feature: precision"},
		{"zero height", patched(func(b []byte, i int) { b[i+3], b[i+4] = 0, 0 }), "zero width or height"},
		// Y 2x2 and chroma 3x1: 2 is not a multiple of 3.
		{"fractional sampling", patched(func(b []byte, i int) { b[i+12] = 0x31 }), "subsampling ratio"},
		{"bad sampling", patched(func(b []byte, i int) { b[i+9] = 0x50 }), "bad sampling factors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tc.data))
			if err == nil || !slices.ContainsFunc(strings.Split(tc.want, "|"), func(w string) bool { return strings.Contains(err.Error(), w) }) {
				t.Errorf("Decode: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width*cfg.Height > 1<<16 {
			return
		}
		img, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		if img.Bounds() != image.Rect(0, 0, cfg.Width, cfg.Height) {
			t.Fatalf("image bounds %v, config %dx%d", img.Bounds(), cfg.Width, cfg.Height)
		}
		if img.ColorModel() != cfg.ColorModel {
			t.Fatalf("image colour model %v, config %v", img.ColorModel(), cfg.ColorModel)
		}
	})
}
