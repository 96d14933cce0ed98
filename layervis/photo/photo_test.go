package photo

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/layervis/layervis/layervis/photo/internal/jpegref"
)

// Tiny WebP files made with Pillow 9.4 (libwebp):
// lossless 2x2 RGBA: (255,0,0,255) (0,255,0,255) / (0,0,255,128) (10,20,30,0).
const webpLosslessAlpha = "UklGRjQAAABXRUJQVlA4TCcAAAAvAUAAEB8gEEjaH3oNAUGR/6PNv4Cg6LrlAuZGg4K0DVjU3Yj+xwMA"

// lossy 3x2, every pixel (200,100,50); libwebp decodes it as (201,100,50).
const webpLossy = "UklGRj4AAABXRUJQVlA4IDIAAADQAQCdASoDAAIAAMASJaACdLoB+AADsAD+2ib/7vN+09e09f1M//jKnyA/4yp/xcwAAA=="

// lossy 4x2 with alpha, every pixel (30,160,220,128); libwebp decodes it as
// (29,160,221,128).
const webpLossyAlpha = "UklGRl4AAABXRUJQVlA4WAoAAAAQAAAAAwAAAQAAQUxQSAUAAAABKGBEBABWUDggMgAAADACAJ0BKgQAAgAAwBIloAJ0ugH4AfoABOgAAP4TH/xID6sdf/Cmv/rJ9nyJl/1goAAA"

// lossy 4x2 at quality 100, white 2x2 block on the left, black on the right;
// libwebp decodes it exactly.
const webpLossyBW = "UklGRi4AAABXRUJQVlA4ICIAAACQAQCdASoEAAIAAAAAJaQAAudZtgAA/op//2d43/6Q4AAA"

func mustB64(t testing.TB, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encPNG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encJPEG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encGIF(t testing.TB, img *image.Paletted) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeader returns a PNG signature and a valid IHDR chunk for a w×h 8-bit
// RGB image, with no image data: enough for image.DecodeConfig.
func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := []byte("IHDR")
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 2, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

type px struct {
	x, y    int
	r, g, b float32
}

func TestConversion(t *testing.T) {
	const tol = 1e-7
	// 8-bit gray.
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix = []uint8{0, 200}
	// 16-bit gray: 0x1234 must keep its low byte.
	gray16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	gray16.SetGray16(0, 0, color.Gray16{0x1234})
	gray16.SetGray16(1, 0, color.Gray16{0xffff})
	// Non-premultiplied RGBA with alpha: red at alpha 128, anything at alpha 0.
	nrgba := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	nrgba.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 128})
	nrgba.SetNRGBA(1, 0, color.NRGBA{10, 20, 30, 0})
	nrgba.SetNRGBA(2, 0, color.NRGBA{10, 20, 30, 255})
	// Premultiplied RGBA: the same red at alpha 128 is {128,0,0,128}.
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgba.SetRGBA(0, 0, color.RGBA{128, 0, 0, 128})
	rgba.SetRGBA(1, 0, color.RGBA{51, 102, 153, 255})
	// 16-bit colour, opaque (PNG writes it as 16-bit RGB).
	rgb16 := image.NewRGBA64(image.Rect(0, 0, 1, 1))
	rgb16.SetRGBA64(0, 0, color.RGBA64{0x1234, 0xfedc, 0x0001, 0xffff})
	nrgb16 := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	nrgb16.SetNRGBA64(0, 0, color.NRGBA64{0xffff, 0, 0x8000, 0x8000})
	// Paletted with a transparent and a semi-transparent entry.
	pal := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{
		color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 0, 0}, color.NRGBA{0, 0, 255, 51}})
	pal.Pix = []uint8{0, 1, 2}
	// GIF with a transparent index.
	gifPal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 0, 0}})
	gifPal.Pix = []uint8{0, 1}
	// CMYK.
	cmyk := image.NewCMYK(image.Rect(0, 0, 2, 1))
	cmyk.SetCMYK(0, 0, color.CMYK{0, 255, 255, 0})
	cmyk.SetCMYK(1, 0, color.CMYK{10, 20, 30, 40})
	r1, g1, b1 := color.CMYKToRGB(10, 20, 30, 40)
	// YCbCr.
	ycc := image.NewYCbCr(image.Rect(0, 0, 2, 2), image.YCbCrSubsampleRatio420)
	ycc.Y = []uint8{10, 200, 90, 255}
	ycc.Cb[0], ycc.Cr[0] = 100, 180
	yr, yg, yb := color.YCbCrToRGB(200, 100, 180)
	// Alpha-only image: white whatever the alpha.
	alpha := image.NewAlpha(image.Rect(0, 0, 1, 1))
	alpha.SetAlpha(0, 0, color.Alpha{77})

	s := func(v uint8) float32 { return float32(v) / 255 }
	tests := []struct {
		name   string
		img    image.Image
		viaPNG bool
		want   []px
	}{
		{"gray", gray, true, []px{{0, 0, 0, 0, 0}, {1, 0, s(200), s(200), s(200)}}},
		{"gray16 full precision", gray16, true, []px{{0, 0, 0x1234 / 65535., 0x1234 / 65535., 0x1234 / 65535.}, {1, 0, 1, 1, 1}}},
		{"nrgba over white", nrgba, true, []px{
			{0, 0, 1, 127. / 255, 127. / 255},
			{1, 0, 1, 1, 1},
			{2, 0, s(10), s(20), s(30)}}},
		{"rgba premultiplied over white", rgba, false, []px{{0, 0, 1, 127. / 255, 127. / 255}, {1, 0, 0.2, 0.4, 0.6}}},
		{"rgb 16-bit precision", rgb16, true, []px{{0, 0, 0x1234 / 65535., 0xfedc / 65535., 1 / 65535.}}},
		{"nrgba 16-bit over white", nrgb16, true, []px{{0, 0, 1, 0x7fff / 65535., (0x8000*0x8000/65535. + 0x7fff) / 65535.}}},
		{"paletted with transparency", pal, true, []px{{0, 0, 1, 0, 0}, {1, 0, 1, 1, 1}, {2, 0, 204. / 255, 204. / 255, 1}}},
		{"cmyk", cmyk, false, []px{{0, 0, 1, 0, 0}, {1, 0, s(r1), s(g1), s(b1)}}},
		{"ycbcr", ycc, false, []px{{1, 0, s(yr), s(yg), s(yb)}}},
		{"alpha only", alpha, false, []px{{0, 0, 1, 1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(m *RGB) {
				t.Helper()
				b := tc.img.Bounds()
				if m.W != b.Dx() || m.H != b.Dy() || len(m.Pix) != 3*m.W*m.H {
					t.Fatalf("got %dx%d with %d values, want %dx%d", m.W, m.H, len(m.Pix), b.Dx(), b.Dy())
				}
				for _, p := range tc.want {
					i := 3 * (p.y*m.W + p.x)
					got := m.Pix[i : i+3]
					for c, w := range []float32{p.r, p.g, p.b} {
						if math.Abs(float64(got[c]-w)) > tol {
							t.Errorf("pixel (%d,%d) = %v, want (%v, %v, %v)", p.x, p.y, got, p.r, p.g, p.b)
							break
						}
					}
				}
			}
			check(FromImage(tc.img))
			if tc.viaPNG {
				m, err := Decode(bytes.NewReader(encPNG(t, tc.img)), tc.name+".png")
				if err != nil {
					t.Fatal(err)
				}
				check(m)
			}
		})
	}
	t.Run("gif transparent index", func(t *testing.T) {
		m, err := Decode(bytes.NewReader(encGIF(t, gifPal)), "t.gif")
		if err != nil {
			t.Fatal(err)
		}
		want := []float32{0, 1, 0, 1, 1, 1}
		for i := range want {
			if m.Pix[i] != want[i] {
				t.Fatalf("got %v, want %v", m.Pix, want)
			}
		}
	})
	t.Run("gray16 is not truncated to 8 bits", func(t *testing.T) {
		m := FromImage(gray16)
		if m.Pix[0] == float32(0x12)/255 {
			t.Error("16-bit value was truncated to 8 bits")
		}
	})
}

func TestFormats(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 20)
	}
	for i := 3; i < len(src.Pix); i += 4 {
		src.Pix[i] = 255
	}
	var bmpBuf, tiffBuf bytes.Buffer
	if err := bmp.Encode(&bmpBuf, src); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiffBuf, src, nil); err != nil {
		t.Fatal(err)
	}
	pal := image.NewPaletted(src.Bounds(), color.Palette{color.Black, color.White})
	exact := FromImage(src)
	tests := []struct {
		name  string
		data  []byte
		w, h  int
		exact bool    // equal to FromImage(src)
		tol   float32 // else every value within tol of want
		want  []float32
	}{
		{"png", encPNG(t, src), 4, 3, true, 0, nil},
		{"bmp", bmpBuf.Bytes(), 4, 3, true, 0, nil},
		{"tiff", tiffBuf.Bytes(), 4, 3, true, 0, nil},
		{"gif", encGIF(t, pal), 4, 3, false, 0, make([]float32, 36)},
		{"jpeg", nil, 0, 0, false, 0, nil}, // filled in below
		// Lossy WebP must match libwebp (limited-range YUV), not JFIF.
		{"webp lossy", mustB64(t, webpLossy), 3, 2, false, 1e-7, []float32{201. / 255, 100. / 255, 50. / 255}},
		{"webp lossy black and white", mustB64(t, webpLossyBW), 4, 2, false, 1e-7, []float32{1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}},
		{"webp lossy alpha", mustB64(t, webpLossyAlpha), 4, 2, false, 1e-7,
			[]float32{(29*128 + 255*127) / 65025., (160*128 + 255*127) / 65025., (221*128 + 255*127) / 65025.}},
		{"webp lossless alpha", mustB64(t, webpLosslessAlpha), 2, 2, false, 1e-7,
			[]float32{1, 0, 0, 0, 1, 0, 127. / 255, 127. / 255, 1, 1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "jpeg" {
				img := image.NewRGBA(image.Rect(0, 0, 16, 8))
				for i := 0; i < len(img.Pix); i += 4 {
					copy(img.Pix[i:], []uint8{200, 100, 50, 255})
				}
				tc.data, tc.w, tc.h, tc.tol = encJPEG(t, img), 16, 8, 0.03
				tc.want = []float32{200. / 255, 100. / 255, 50. / 255}
			}
			m, err := Decode(bytes.NewReader(tc.data), "x."+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if m.W != tc.w || m.H != tc.h || len(m.Pix) != 3*tc.w*tc.h {
				t.Fatalf("got %dx%d (%d values), want %dx%d", m.W, m.H, len(m.Pix), tc.w, tc.h)
			}
			switch {
			case tc.exact:
				for i := range m.Pix {
					if m.Pix[i] != exact.Pix[i] {
						t.Fatalf("value %d = %v, want %v", i, m.Pix[i], exact.Pix[i])
					}
				}
			default:
				for i := range m.Pix {
					w := tc.want[i%len(tc.want)]
					if d := m.Pix[i] - w; d > tc.tol || d < -tc.tol {
						t.Fatalf("value %d = %v, want %v ± %v", i, m.Pix[i], w, tc.tol)
					}
				}
			}
		})
	}
}

// panicFormat is registered as an image format whose decoder panics, to
// check that Decode recovers.
func init() {
	image.RegisterFormat("panicky", "PANIC!", func(io.Reader) (image.Image, error) { panic("boom") },
		func(r io.Reader) (image.Config, error) {
			var b [7]byte
			io.ReadFull(r, b[:])
			if b[6] == 'C' {
				panic("config boom")
			}
			return image.Config{Width: 1, Height: 1, ColorModel: color.RGBAModel}, nil
		})
}

func TestDecodeErrors(t *testing.T) {
	noise := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(i * i * 7919 >> 3)
	}
	good := encJPEG(t, noise) // mostly entropy-coded data, so half is past the header
	zeroGIF := []byte("GIF89a\x00\x00\x00\x00\x00\x00\x00;")
	tests := []struct {
		name  string
		data  []byte
		limit int
		want  []string
	}{
		{"not an image", []byte("hello, world"), MaxPixels,
			[]string{`photo "x": not a recognised image (PNG, JPEG, GIF, BMP, TIFF, WebP): image: unknown format`}},
		{"empty", nil, MaxPixels, []string{"not a recognised image"}},
		{"too large", pngHeader(100000, 100000), MaxPixels,
			[]string{`photo "x": png image is 100000x100000 = 10000000000 pixels, over the limit of 67108864 pixels; use LoadLimit or DecodeLimit with a larger limit`}},
		{"over a custom limit", encPNG(t, image.NewGray(image.Rect(0, 0, 10, 10))), 99,
			[]string{"10x10 = 100 pixels, over the limit of 99 pixels"}},
		{"bad limit", encPNG(t, image.NewGray(image.Rect(0, 0, 1, 1))), 0, []string{"pixel limit 0 must be positive"}},
		{"zero size", zeroGIF, MaxPixels, []string{`photo "x": gif image has zero size (0x0)`}},
		{"zero width png", pngHeader(0, 5), MaxPixels, []string{`photo "x"`, "png"}},
		{"truncated jpeg", good[:len(good)/2], MaxPixels, []string{`photo "x": decoding jpeg: the file is truncated`}},
		{"truncated png header", pngHeader(10, 10)[:20], MaxPixels, []string{`photo "x": reading the png header: the file is truncated`}},
		{"png header only", pngHeader(10, 10), MaxPixels, []string{`photo "x": decoding png: the file is truncated`}},
		{"decoder panic", []byte("PANIC!x"), MaxPixels, []string{`photo "x": decoding panicky: decoder panicked: boom`}},
		{"config panic", []byte("PANIC!C"), MaxPixels, []string{`photo "x": reading the image header: decoder panicked: config boom`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeLimit(bytes.NewReader(tc.data), "x", tc.limit)
			if err == nil {
				t.Fatalf("no error; got a %dx%d image", m.W, m.H)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
	t.Run("not an image wraps image.ErrFormat", func(t *testing.T) {
		_, err := Decode(strings.NewReader("hello"), "x.txt")
		if !errors.Is(err, image.ErrFormat) {
			t.Errorf("error %v does not wrap image.ErrFormat", err)
		}
	})
}

func TestSizeGuard(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		limit  int64
		wantOK bool
	}{
		{"under", 10, 11, true},
		{"at", 10, 10, true},
		{"over", 11, 10, false},
		{"far over", 100000, 10, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &sizeGuard{r: bytes.NewReader(make([]byte, tc.size)), n: tc.limit}
			b, err := io.ReadAll(g)
			if tc.wantOK && (err != nil || len(b) != tc.size) {
				t.Errorf("read %d bytes, err %v", len(b), err)
			}
			if !tc.wantOK && (!errors.Is(err, errTooBig) || !g.exceeded) {
				t.Errorf("err = %v, exceeded = %v", err, g.exceeded)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	img := image.NewNRGBA(image.Rect(0, 0, 5, 4))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	good := filepath.Join(dir, "good.png")
	if err := SavePNG(good, img); err != nil {
		t.Fatal(err)
	}
	txt := filepath.Join(dir, "x.txt")
	if err := os.WriteFile(txt, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	bomb := filepath.Join(dir, "bomb.png")
	if err := os.WriteFile(bomb, pngHeader(100000, 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		limit int
		want  []string // empty: success
	}{
		{"good", good, MaxPixels, nil},
		{"good at its exact size", good, 20, nil},
		{"over limit", good, 19, []string{good, "5x4 = 20 pixels, over the limit of 19 pixels"}},
		{"not an image", txt, MaxPixels, []string{`photo "` + txt + `": not a recognised image (PNG, JPEG, GIF, BMP, TIFF, WebP): image: unknown format`}},
		{"bomb", bomb, MaxPixels, []string{bomb, "100000x100000", "67108864"}},
		{"missing", filepath.Join(dir, "nope.png"), MaxPixels, []string{"nope.png", "no such file"}},
		{"directory", dir, MaxPixels, []string{dir, "is a directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadLimit(tc.path, tc.limit)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				want := FromImage(img)
				if m.W != 5 || m.H != 4 || len(m.Pix) != len(want.Pix) {
					t.Fatalf("got %dx%d", m.W, m.H)
				}
				for i := range m.Pix {
					if m.Pix[i] != want.Pix[i] {
						t.Fatalf("value %d = %v, want %v", i, m.Pix[i], want.Pix[i])
					}
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "nope.png")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestFromImageSubImage(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	sub := img.SubImage(image.Rect(1, 2, 3, 4)) // values 9,10 / 13,14
	m := FromImage(sub)
	want := []uint8{9, 10, 13, 14}
	if m.W != 2 || m.H != 2 {
		t.Fatalf("got %dx%d", m.W, m.H)
	}
	for i, v := range want {
		if m.Pix[3*i] != float32(v)/255 || m.Pix[3*i+2] != float32(v)/255 {
			t.Errorf("pixel %d = %v, want %v", i, m.Pix[3*i:3*i+3], float32(v)/255)
		}
	}
	if e := FromImage(image.NewGray(image.Rect(0, 0, 0, 3))); e.W != 0 || e.H != 0 || len(e.Pix) != 0 {
		t.Errorf("empty image: %+v", e)
	}
}

func TestToImage(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint8
	}{
		{"zero", 0, 0},
		{"one", 1, 255},
		{"below", -0.5, 0},
		{"above", 7, 255},
		{"NaN", float32(math.NaN()), 0},
		{"+Inf", float32(math.Inf(1)), 255},
		{"half", 0.5, 128}, // 127.5 rounds to even 128
		{"exact level", 51. / 255, 51},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &RGB{W: 1, H: 1, Pix: []float32{tc.in, tc.in, tc.in}}
			img := m.ToImage()
			if got := img.Pix[:4]; got[0] != tc.want || got[1] != tc.want || got[2] != tc.want || got[3] != 255 {
				t.Errorf("ToImage(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	t.Run("halves round to even", func(t *testing.T) {
		n := 0
		for k := 0; k < 255; k++ {
			v := float32((float64(k) + 0.5) / 255)
			if v*255 != float32(k)+0.5 {
				continue // not an exact half in float32
			}
			n++
			want := uint8(k)
			if k%2 == 1 {
				want = uint8(k + 1)
			}
			m := &RGB{W: 1, H: 1, Pix: []float32{v, v, v}}
			if got := m.ToImage().Pix[0]; got != want {
				t.Errorf("%v*255 = %v.5 → %d, want %d", v, k, got, want)
			}
		}
		if n < 100 {
			t.Errorf("only %d exact halves tested", n)
		}
	})
	t.Run("8-bit round trip", func(t *testing.T) {
		g := image.NewGray(image.Rect(0, 0, 256, 1))
		for i := range g.Pix {
			g.Pix[i] = uint8(i)
		}
		out := FromImage(g).ToImage()
		for i := 0; i < 256; i++ {
			if out.Pix[4*i] != uint8(i) {
				t.Fatalf("level %d came back as %d", i, out.Pix[4*i])
			}
		}
	})
}

func TestCenterCrop(t *testing.T) {
	mk := func(w, h int) *RGB {
		m := &RGB{W: w, H: h, Pix: make([]float32, 3*w*h)}
		for i := range m.Pix {
			m.Pix[i] = float32(i)
		}
		return m
	}
	tests := []struct {
		name         string
		sw, sh, w, h int
		left, top    int
	}{
		{"even margins", 6, 4, 2, 2, 2, 1},
		{"odd margins round down", 5, 4, 2, 1, 1, 1},
		{"whole image", 3, 3, 3, 3, 0, 0},
		{"one pixel", 4, 3, 1, 1, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := mk(tc.sw, tc.sh)
			c := src.CenterCrop(tc.w, tc.h)
			if c.W != tc.w || c.H != tc.h || len(c.Pix) != 3*tc.w*tc.h {
				t.Fatalf("got %dx%d", c.W, c.H)
			}
			for y := 0; y < tc.h; y++ {
				for x := 0; x < tc.w; x++ {
					for ch := 0; ch < 3; ch++ {
						want := src.Pix[3*((y+tc.top)*tc.sw+x+tc.left)+ch]
						if got := c.Pix[3*(y*tc.w+x)+ch]; got != want {
							t.Fatalf("(%d,%d,%d) = %v, want %v", x, y, ch, got, want)
						}
					}
				}
			}
		})
	}
	for _, bad := range [][2]int{{0, 1}, {1, 0}, {5, 1}, {1, 5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("CenterCrop(%d, %d) of 4x4 did not panic", bad[0], bad[1])
				}
			}()
			mk(4, 4).CenterCrop(bad[0], bad[1])
		}()
	}
}

func TestSavePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.png")
	m := &RGB{W: 2, H: 1, Pix: []float32{0, 0.5, 1, 0.2, 0.4, 0.6}}
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SavePNG(path, m.ToImage()); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 128. / 255, 1, 51. / 255, 102. / 255, 153. / 255}
	for i := range want {
		if back.Pix[i] != want[i] {
			t.Fatalf("reloaded %v, want %v", back.Pix, want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1 (temporary file left?)", len(ents))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, err %v", fi.Mode(), err)
	}
	// A failing encode leaves the old file and no temporary file.
	if err := SavePNG(path, image.NewGray(image.Rect(0, 0, 0, 0))); err == nil || !strings.Contains(err.Error(), "out.png") {
		t.Errorf("SavePNG of an empty image: %v", err)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("old file damaged: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries after a failed save", len(ents))
	}
	if err := SavePNG(filepath.Join(dir, "no", "such.png"), m.ToImage()); err == nil || !strings.Contains(err.Error(), "such.png") {
		t.Errorf("SavePNG into a missing directory: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	g.Pix = []uint8{0, 50, 100, 150, 200, 250}
	n := image.NewNRGBA64(image.Rect(0, 0, 2, 2))
	for i := range n.Pix {
		n.Pix[i] = uint8(i * 13)
	}
	p := image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black, color.Transparent, color.White})
	p.Pix = []uint8{0, 1, 2, 1}
	f.Add(encPNG(f, g))
	f.Add(encPNG(f, n))
	f.Add(encPNG(f, p))
	f.Add(encJPEG(f, g))
	f.Add(encGIF(f, p))
	f.Add(mustB64(f, webpLossy))
	f.Add(mustB64(f, webpLosslessAlpha))
	f.Add(mustB64(f, webpLossyAlpha))
	// JPEG files of every colour space and unusual layouts (see
	// jpeg/decode_test.go).
	jpegs, err := filepath.Glob(filepath.Join("jpeg", "testdata", "*.jpg"))
	if err != nil || len(jpegs) == 0 {
		f.Fatalf("no jpeg/testdata/*.jpg: %v", err)
	}
	for _, p := range jpegs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(pngHeader(100000, 100000))
	f.Add([]byte("GIF89a\x00\x00\x00\x00\x00\x00\x00;"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A small pixel limit keeps mutated headers from allocating
		// hundreds of megabytes; the code path is Decode's.
		m, err := DecodeLimit(bytes.NewReader(data), "fuzz", 1<<16)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `photo "fuzz": `) {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if m.W <= 0 || m.H <= 0 || m.W*m.H > 1<<16 || len(m.Pix) != 3*m.W*m.H {
			t.Fatalf("bad result %dx%d with %d values", m.W, m.H, len(m.Pix))
		}
		for i, v := range m.Pix {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %d = %v, outside [0,1]", i, v)
			}
		}
	})
}

// TestJPEGLikePIL checks that Load gives PIL's Image.open(f).convert("RGB")
// exactly (and cv2.imread's, except for CMYK, which OpenCV converts with
// another formula) on JPEG files of each colour space.
func TestJPEGLikePIL(t *testing.T) {
	for _, r := range jpegref.Generate(t, "420", "gray", "rgb", "cmyk", "ycck") {
		m, err := Load(r.File)
		if err != nil {
			t.Fatal(err)
		}
		got := m.ToImage()
		var pil, cv, cvPIL, cvMax int
		for i := 0; i < r.W*r.H; i++ {
			for c := 0; c < 3; c++ {
				v := got.Pix[4*i+c]
				if v != r.PILRGB[3*i+c] {
					pil++
				}
				if v != r.CV2[3*i+c] {
					cv++
				}
				if d := int(r.PILRGB[3*i+c]) - int(r.CV2[3*i+c]); d != 0 {
					cvPIL++
					cvMax = max(cvMax, d, -d)
				}
			}
		}
		if pil != 0 {
			t.Errorf("%s: %d of %d values differ from PIL's", r.Name, pil, 3*r.W*r.H)
		}
		if r.Mode == "CMYK" {
			t.Logf("%s: cv2.imdecode (OpenCV's CMYK formula) differs from PIL on %d of %d values, by at most %d", r.Name, cvPIL, 3*r.W*r.H, cvMax)
		} else if cv != 0 {
			t.Errorf("%s: %d of %d values differ from cv2.imdecode's", r.Name, cv, 3*r.W*r.H)
		}
	}
}

func TestCMYKToRGB(t *testing.T) {
	// PIL: Image.new("CMYK", (1, 1), c).convert("RGB").getpixel((0, 0)).
	tests := []struct{ c, m, y, k, r, g, b uint8 }{
		{0, 0, 0, 0, 255, 255, 255},
		{255, 255, 255, 0, 0, 0, 0},
		{0, 0, 0, 255, 0, 0, 0},
		{100, 50, 200, 30, 137, 181, 49},
		{1, 128, 254, 128, 127, 63, 0},
	}
	for _, tc := range tests {
		r, g, b := cmykToRGB(tc.c, tc.m, tc.y, tc.k)
		if r != tc.r || g != tc.g || b != tc.b {
			t.Errorf("cmykToRGB(%d, %d, %d, %d) = %d, %d, %d; want %d, %d, %d", tc.c, tc.m, tc.y, tc.k, r, g, b, tc.r, tc.g, tc.b)
		}
	}
}
