// Package photo loads user images safely and turns them into float32 RGB
// arrays for CNN input, with OpenCV-compatible resizing.
//
// # Formats
//
// [Load], [LoadLimit], [Decode] and [DecodeLimit] read PNG, JPEG, GIF, BMP,
// TIFF and WebP. Importing this package registers the decoders of the
// formats other than JPEG with the standard image package; JPEG is read by
// package [github.com/layervis/layervis/layervis/photo/jpeg] (see below),
// whatever JPEG decoder is registered. Of an animated GIF only the first frame is read,
// at the frame's own bounds: a first frame smaller than the GIF's logical
// screen is returned without the background around it.
//
// # Safety
//
// The image header is read first with image.DecodeConfig, and an image whose
// width×height is over the pixel limit ([MaxPixels] unless LoadLimit or
// DecodeLimit give another) is refused before any pixel is decoded, so a small
// file claiming a huge size (a decompression bomb) costs almost nothing.
// Inputs over [MaxFileSize] bytes, images with a zero width or height, and
// anything that is not an image are refused too. Every problem comes back as
// an error that starts with `photo "NAME":` and says what is wrong; a panic in
// a decoder is recovered and returned as an error.
//
// # Conversion to RGB
//
// [FromImage] turns any image.Image into an [RGB] of float32 values in [0,1]:
//
//   - 8-bit channels are divided by 255, 16-bit channels by 65535. 16-bit
//     images (16-bit PNG and TIFF) keep their full 16-bit precision; they are
//     not truncated to 8 bits first.
//   - Grayscale (8- or 16-bit) is replicated into R=G=B.
//   - Images with transparency (RGBA, NRGBA, 16-bit variants, WebP with
//     alpha, paletted images with transparent palette entries) are
//     composited over a WHITE background: out = colour·alpha + (1−alpha).
//     A fully transparent pixel becomes white (1,1,1) whatever its colour.
//   - Paletted images (GIF, 8-bit-and-less PNG, BMP) use their palette
//     colours, composited over white likewise. An index past the end of the
//     palette reads as opaque black, as libpng does.
//   - JPEG files are decoded by [github.com/layervis/layervis/layervis/photo/jpeg]
//     to the same 8-bit RGB as libjpeg-turbo with its default settings,
//     which is what PIL's Image.open(...).convert("RGB") and cv2.imread
//     produce (so a PyTorch pipeline's input), then divided by 255. Go's
//     image/jpeg differs from them on a quarter of the values of the demo
//     photos, by up to 36 levels.
//   - CMYK (JPEG, TIFF) is converted to 8-bit RGB as PIL's convert("RGB")
//     does: R = (255−K) − round((255−K)·C/255), and so on. OpenCV uses
//     another formula, 1 level away on many values.
//   - Other YCbCr images (*image.YCbCr from Go's image/jpeg passed to
//     [FromImage]) are converted with the standard library's
//     color.YCbCrToRGB.
//   - Lossy WebP, whose YUV is limited-range BT.601 rather than JPEG's full
//     range, is converted with libwebp's formula, so that black and white
//     stay 0 and 1. Its chroma is upsampled by pixel replication, where
//     libwebp interpolates ("fancy upsampling"): at sharp colour edges values
//     can differ from libwebp's by a few levels.
//   - Any other image type is read through its color.Color values.
//
// EXIF orientation tags are ignored, as PIL's Image.open does (cv2.imread
// applies them unless given cv2.IMREAD_IGNORE_ORIENTATION): a JPEG from a
// phone camera that relies on its orientation tag comes out as stored,
// possibly rotated.
//
// # Resizing
//
// [RGB.ResizeArea] reproduces OpenCV's cv2.resize(img, (w, h),
// interpolation=cv2.INTER_AREA) on float32 data, including OpenCV's
// bilinear fallback when enlarging. [RGB.ResizeArea8] reproduces the same
// call on the image's 8-bit values (a uint8 image, as cv2.imread returns
// it), whose integer and fixed-point arithmetic rounds differently. See
// their documentation.
package photo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // register GIF
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"

	_ "golang.org/x/image/bmp"  // register BMP
	_ "golang.org/x/image/tiff" // register TIFF
	_ "golang.org/x/image/webp" // register WebP

	"github.com/layervis/layervis/layervis/internal/atomicfile"
	"github.com/layervis/layervis/layervis/photo/jpeg"
)

// MaxPixels is the default limit on width×height accepted by [Load] and
// [Decode] (64 megapixels, which needs 768 MiB as an [RGB]). It is checked
// with image.DecodeConfig before decoding, so a decompression bomb is refused
// cheaply. Use [LoadLimit] or [DecodeLimit] to accept larger images.
const MaxPixels = 64 << 20

// MaxFileSize is the largest input, in bytes, that Load and Decode read
// (512 MiB). Larger files are refused.
const MaxFileSize = 512 << 20

// RGB is an image as float32 RGB values, nominally in [0,1], row-major HWC:
// the value of channel c (0 red, 1 green, 2 blue) of the pixel at column x,
// row y is Pix[(y*W+x)*3+c]. len(Pix) is W*H*3.
type RGB struct {
	W, H int
	Pix  []float32
}

// Load reads the image file at path and converts it to RGB, refusing images
// of more than [MaxPixels] pixels. It is LoadLimit(path, MaxPixels).
func Load(path string) (*RGB, error) {
	return LoadLimit(path, MaxPixels)
}

// LoadLimit reads the image file at path and converts it to RGB (see the
// package documentation for the formats and conversion rules). It refuses,
// with an error naming the file, a file over [MaxFileSize] bytes, an image
// whose width×height is over maxPixels (checked from the header, before
// decoding), a zero-size image and anything that is not a supported image.
// maxPixels must be positive.
func LoadLimit(path string, maxPixels int) (*RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("photo %q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("photo %q: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("photo %q: is a directory, not an image file", path)
	}
	if fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("photo %q: file is %d bytes, over the limit of %d bytes (%d MiB)", path, fi.Size(), MaxFileSize, MaxFileSize>>20)
	}
	return decode(f, path, maxPixels)
}

// Decode reads an image from r and converts it to RGB, like [Load] does for
// a file, refusing images of more than [MaxPixels] pixels. name is used only
// in error messages. r is read to the end of the image, at most
// [MaxFileSize] bytes.
func Decode(r io.Reader, name string) (*RGB, error) {
	return decode(r, name, MaxPixels)
}

// DecodeLimit is [Decode] with maxPixels in place of [MaxPixels] as the
// limit on width×height. maxPixels must be positive.
func DecodeLimit(r io.Reader, name string, maxPixels int) (*RGB, error) {
	return decode(r, name, maxPixels)
}

// errTooBig is returned by sizeGuard once more than MaxFileSize bytes are read.
var errTooBig = fmt.Errorf("input is over the limit of %d bytes (%d MiB)", MaxFileSize, MaxFileSize>>20)

// sizeGuard is a reader that fails once more than n bytes have been read.
type sizeGuard struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (g *sizeGuard) Read(p []byte) (int, error) {
	if g.exceeded {
		return 0, errTooBig
	}
	if int64(len(p)) > g.n+1 {
		p = p[:g.n+1]
	}
	k, err := g.r.Read(p)
	g.n -= int64(k)
	if g.n < 0 {
		g.exceeded = true
		return 0, errTooBig
	}
	return k, err
}

// recognised lists the supported formats for error messages.
const recognised = "PNG, JPEG, GIF, BMP, TIFF, WebP"

func decode(r io.Reader, name string, maxPixels int) (*RGB, error) {
	if maxPixels <= 0 {
		return nil, fmt.Errorf("photo %q: pixel limit %d must be positive", name, maxPixels)
	}
	guard := &sizeGuard{r: r, n: MaxFileSize}
	// Keep every byte DecodeConfig reads so that Decode can start again from
	// the beginning without the reader having to seek.
	var head bytes.Buffer
	cfg, format, err := safeDecodeConfig(bufio.NewReader(io.TeeReader(guard, &head)))
	if err != nil {
		switch {
		case guard.exceeded:
			return nil, fmt.Errorf("photo %q: %w", name, errTooBig)
		case errors.Is(err, image.ErrFormat):
			return nil, fmt.Errorf("photo %q: not a recognised image (%s): %w", name, recognised, err)
		}
		if format == "" {
			format = "image"
		}
		return nil, fmt.Errorf("photo %q: reading the %s header: %w", name, format, truncated(err))
	}
	if err := checkSize(cfg.Width, cfg.Height, maxPixels); err != nil {
		return nil, fmt.Errorf("photo %q: %s %w", name, format, err)
	}
	img, err := safeDecode(io.MultiReader(&head, guard), format)
	if err != nil {
		if guard.exceeded {
			return nil, fmt.Errorf("photo %q: %w", name, errTooBig)
		}
		return nil, fmt.Errorf("photo %q: decoding %s: %w", name, format, truncated(err))
	}
	b := img.Bounds()
	if err := checkSize(b.Dx(), b.Dy(), maxPixels); err != nil {
		return nil, fmt.Errorf("photo %q: decoded %s %w", name, format, err)
	}
	if format == "webp" {
		return fromImage(img, webpYUVToRGB), nil
	}
	return FromImage(img), nil
}

// webpYUVToRGB converts limited-range BT.601 YUV as stored by lossy WebP
// (VP8) to 8-bit RGB with libwebp's fixed-point formula (src/dsp/yuv.h:
// VP8YUVToR, VP8YUVToG, VP8YUVToB).
func webpYUVToRGB(y, u, v uint8) (r, g, b uint8) {
	multHi := func(v, coeff int) int { return (v * coeff) >> 8 }
	clip8 := func(v int) uint8 {
		const fix2 = 6
		const mask2 = (256 << fix2) - 1
		switch {
		case v&^mask2 == 0:
			return uint8(v >> fix2)
		case v < 0:
			return 0
		}
		return 255
	}
	yy := multHi(int(y), 19077)
	r = clip8(yy + multHi(int(v), 26149) - 14234)
	g = clip8(yy - multHi(int(u), 6419) - multHi(int(v), 13320) + 8708)
	b = clip8(yy + multHi(int(u), 33050) - 17685)
	return r, g, b
}

// checkSize refuses zero-size images and images over maxPixels pixels.
func checkSize(w, h, maxPixels int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("image has zero size (%dx%d)", w, h)
	}
	if int64(w)*int64(h) > int64(maxPixels) || int64(w)*int64(h) > math.MaxInt/3 {
		return fmt.Errorf("image is %dx%d = %d pixels, over the limit of %d pixels; use LoadLimit or DecodeLimit with a larger limit to accept it",
			w, h, int64(w)*int64(h), maxPixels)
	}
	return nil
}

// truncated makes an unexpected end of input read as a truncated file.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("the file is truncated: %w", err)
	}
	// The JPEG decoder reports running out of entropy-coded data this way.
	var fe jpeg.FormatError
	if errors.As(err, &fe) && fe == "short Huffman data" {
		return fmt.Errorf("the file is truncated or corrupt: %w", err)
	}
	return err
}

// jpegMagic starts every JPEG file (the SOI marker).
const jpegMagic = "\xff\xd8"

// safeDecodeConfig is image.DecodeConfig, with JPEG read by package jpeg
// rather than by whichever decoder registered the format.
func safeDecodeConfig(r *bufio.Reader) (cfg image.Config, format string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panicked: %v", p)
		}
	}()
	if magic, _ := r.Peek(len(jpegMagic)); string(magic) == jpegMagic {
		cfg, err = jpeg.DecodeConfig(r)
		return cfg, "jpeg", err
	}
	return image.DecodeConfig(r)
}

// safeDecode decodes an image whose format safeDecodeConfig found.
func safeDecode(r io.Reader, format string) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("decoder panicked: %v", p)
		}
	}()
	if format == "jpeg" {
		return jpeg.Decode(r)
	}
	img, _, err = image.Decode(r)
	return img, err
}

// lut8[v] is v/255 as a float32.
var lut8 = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// over8 composites 8-bit non-premultiplied colour c with alpha a over white:
// (c·a + 255·(255−a)) / 255², computed exactly then rounded once.
func over8(c, a uint8) float32 {
	switch a {
	case 0xff:
		return lut8[c]
	case 0:
		return 1
	}
	return float32(int(c)*int(a)+255*(255-int(a))) / (255 * 255)
}

// over16 composites 16-bit non-premultiplied colour c with alpha a over white.
func over16(c, a uint32) float32 {
	switch a {
	case 0xffff:
		return float32(c) / 0xffff
	case 0:
		return 1
	}
	return float32(float64(uint64(c)*uint64(a)+0xffff*uint64(0xffff-a)) / (0xffff * 0xffff))
}

// premul16 composites 16-bit premultiplied colour c with alpha a over white:
// c + (1−a), clamped to 1 for invalid colours with c > a.
func premul16(c, a uint32) float32 {
	v := c + 0xffff - a
	if v > 0xffff {
		v = 0xffff
	}
	return float32(v) / 0xffff
}

// premul8 is premul16 for 8-bit values.
func premul8(c, a uint8) float32 {
	v := int(c) + 255 - int(a)
	if v > 255 {
		v = 255
	}
	return lut8[v]
}

// cmykToRGB converts CMYK to RGB as PIL's Image.convert("RGB") does
// (Pillow's Convert.c, cmyk2rgb): each channel is (255−K) − (255−K)·ink/255,
// the product rounded as Pillow's MULDIV255 does.
func cmykToRGB(c, m, y, k uint8) (r, g, b uint8) {
	nk := 255 - int(k)
	ch := func(v uint8) uint8 {
		t := int(v)*nk + 128
		return uint8(nk - ((t>>8)+t)>>8)
	}
	return ch(c), ch(m), ch(y)
}

// colorRGB converts one colour following the package's conversion rules.
func colorRGB(c color.Color) (r, g, b float32) {
	switch c := c.(type) {
	case nil:
		return 0, 0, 0
	case color.Gray:
		v := lut8[c.Y]
		return v, v, v
	case color.Gray16:
		v := float32(c.Y) / 0xffff
		return v, v, v
	case color.RGBA:
		return premul8(c.R, c.A), premul8(c.G, c.A), premul8(c.B, c.A)
	case color.NRGBA:
		return over8(c.R, c.A), over8(c.G, c.A), over8(c.B, c.A)
	case color.NRGBA64:
		a := uint32(c.A)
		return over16(uint32(c.R), a), over16(uint32(c.G), a), over16(uint32(c.B), a)
	case color.YCbCr:
		r8, g8, b8 := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
		return lut8[r8], lut8[g8], lut8[b8]
	case color.NYCbCrA:
		r8, g8, b8 := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
		return over8(r8, c.A), over8(g8, c.A), over8(b8, c.A)
	case color.CMYK:
		r8, g8, b8 := cmykToRGB(c.C, c.M, c.Y, c.K)
		return lut8[r8], lut8[g8], lut8[b8]
	}
	r16, g16, b16, a16 := c.RGBA()
	return premul16(r16, a16), premul16(g16, a16), premul16(b16, a16)
}

// FromImage converts img to RGB following the rules in the package
// documentation: values in [0,1], grayscale replicated to R=G=B, transparency
// composited over white, 16-bit precision kept. The result's (0,0) is
// img.Bounds().Min. An image with an empty bounds gives an RGB with W=H=0.
//
// FromImage reads *image.YCbCr and *image.NYCbCrA as full-range JPEG (JFIF)
// YCbCr. Lossy WebP stores limited-range BT.601 YUV in those same types
// (golang.org/x/image/webp does not convert it; see
// https://github.com/golang/go/issues/40173), so [Load] and [Decode] convert
// WebP images with libwebp's own formula instead; call them rather than
// FromImage on the result of webp.Decode.
func FromImage(img image.Image) *RGB {
	return fromImage(img, color.YCbCrToRGB)
}

// fromImage is FromImage with ycc as the conversion for YCbCr pixels.
func fromImage(img image.Image, ycc func(y, cb, cr uint8) (r, g, b uint8)) *RGB {
	bd := img.Bounds()
	w, h := bd.Dx(), bd.Dy()
	if w <= 0 || h <= 0 {
		return &RGB{}
	}
	m := &RGB{W: w, H: h, Pix: make([]float32, 3*w*h)}
	var pal *[256][3]float32
	if p, ok := img.(*image.Paletted); ok {
		pal = paletteTable(p.Palette)
	}
	for y := 0; y < h; y++ {
		out := m.Pix[3*w*y : 3*w*(y+1)]
		sy := bd.Min.Y + y
		switch src := img.(type) {
		case *image.Gray:
			row := src.Pix[src.PixOffset(bd.Min.X, sy):][:w]
			for x, v := range row {
				f := lut8[v]
				out[3*x], out[3*x+1], out[3*x+2] = f, f, f
			}
		case *image.Gray16:
			row := src.Pix[src.PixOffset(bd.Min.X, sy):][:2*w]
			for x := 0; x < w; x++ {
				f := float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) / 0xffff
				out[3*x], out[3*x+1], out[3*x+2] = f, f, f
			}
		case *image.RGBA:
			row := src.Pix[src.PixOffset(bd.Min.X, sy):][:4*w]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				if p[3] == 0xff {
					out[3*x], out[3*x+1], out[3*x+2] = lut8[p[0]], lut8[p[1]], lut8[p[2]]
				} else {
					out[3*x], out[3*x+1], out[3*x+2] = premul8(p[0], p[3]), premul8(p[1], p[3]), premul8(p[2], p[3])
				}
			}
		case *image.NRGBA:
			row := src.Pix[src.PixOffset(bd.Min.X, sy):][:4*w]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				out[3*x], out[3*x+1], out[3*x+2] = over8(p[0], p[3]), over8(p[1], p[3]), over8(p[2], p[3])
			}
		case *image.RGBA64:
			row := src.Pix[src.PixOffset(bd.Min.X, sy):][:8*w]
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8]
				a := be16(p[6:])
				out[3*x], out[3*x+1], out[3*x+2] = premul16(be16(p), a), premul16(be16(p[2:]), a), premul16(be16(p[4:]), a)
			}
		case *image.NRGBA64:
			row := src.Pix[src.PixOffset(bd.Min.X, sy):][:8*w]
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8]
				a := be16(p[6:])
				out[3*x], out[3*x+1], out[3*x+2] = over16(be16(p), a), over16(be16(p[2:]), a), over16(be16(p[4:]), a)
			}
		case *image.CMYK:
			row := src.Pix[src.PixOffset(bd.Min.X, sy):][:4*w]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				r, g, b := cmykToRGB(p[0], p[1], p[2], p[3])
				out[3*x], out[3*x+1], out[3*x+2] = lut8[r], lut8[g], lut8[b]
			}
		case *image.YCbCr:
			for x := 0; x < w; x++ {
				yi, ci := src.YOffset(bd.Min.X+x, sy), src.COffset(bd.Min.X+x, sy)
				r, g, b := ycc(src.Y[yi], src.Cb[ci], src.Cr[ci])
				out[3*x], out[3*x+1], out[3*x+2] = lut8[r], lut8[g], lut8[b]
			}
		case *image.NYCbCrA:
			for x := 0; x < w; x++ {
				yi, ci, ai := src.YOffset(bd.Min.X+x, sy), src.COffset(bd.Min.X+x, sy), src.AOffset(bd.Min.X+x, sy)
				r, g, b := ycc(src.Y[yi], src.Cb[ci], src.Cr[ci])
				a := src.A[ai]
				out[3*x], out[3*x+1], out[3*x+2] = over8(r, a), over8(g, a), over8(b, a)
			}
		case *image.Paletted:
			row := src.Pix[src.PixOffset(bd.Min.X, sy):][:w]
			for x, i := range row {
				c := pal[i]
				out[3*x], out[3*x+1], out[3*x+2] = c[0], c[1], c[2]
			}
		default:
			for x := 0; x < w; x++ {
				out[3*x], out[3*x+1], out[3*x+2] = colorRGB(img.At(bd.Min.X+x, sy))
			}
		}
	}
	return m
}

// paletteTable converts a palette to a full 256-entry table; indices past
// the palette's end are opaque black.
func paletteTable(p color.Palette) *[256][3]float32 {
	var t [256][3]float32
	for i := 0; i < len(p) && i < 256; i++ {
		t[i][0], t[i][1], t[i][2] = colorRGB(p[i])
	}
	return &t
}

func be16(b []byte) uint32 { return uint32(b[0])<<8 | uint32(b[1]) }

// ToImage converts m to an 8-bit image: each value is clamped to [0,1]
// (NaN becomes 0), multiplied by 255 in float32 and rounded half to even,
// as numpy.round(numpy.clip(a, 0, 1) * 255).astype(numpy.uint8) does on a
// float32 array. Alpha is 255.
func (m *RGB) ToImage() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	for i, n := 0, m.W*m.H; i < n; i++ {
		p := img.Pix[4*i : 4*i+4]
		for c := 0; c < 3; c++ {
			v := m.Pix[3*i+c]
			switch {
			case !(v > 0): // also NaN
				v = 0
			case v > 1:
				v = 1
			}
			p[c] = uint8(math.RoundToEven(float64(v * 255)))
		}
		p[3] = 0xff
	}
	return img
}

// CenterCrop returns the w×h window at the centre of m, as a new RGB. The
// window's top-left corner is at ((m.W−w)/2, (m.H−h)/2) rounded down, as
// img[top:top+h, left:left+w] with top = (H−h)//2 in NumPy. (torchvision's
// CenterCrop uses int(round(margin/2)), one pixel further when the margin is
// 3, 7, 11, ... pixels.) It panics if w or h is not positive or is larger
// than the image.
func (m *RGB) CenterCrop(w, h int) *RGB {
	if w <= 0 || h <= 0 || w > m.W || h > m.H {
		panic(fmt.Sprintf("photo: CenterCrop(%d, %d) of a %dx%d image: size must be positive and at most the image's", w, h, m.W, m.H))
	}
	left, top := (m.W-w)/2, (m.H-h)/2
	out := &RGB{W: w, H: h, Pix: make([]float32, 3*w*h)}
	for y := 0; y < h; y++ {
		copy(out.Pix[3*w*y:3*w*(y+1)], m.Pix[3*((top+y)*m.W+left):])
	}
	return out
}

// SavePNG writes img to path as a PNG file. It writes a temporary file in
// the same directory and renames it over path when complete, so path never
// holds a partial image and a failure leaves any existing file as it was.
// An existing file at path is replaced. The new file has mode 0644.
func SavePNG(path string, img image.Image) error {
	err := atomicfile.Write(path, func(f io.Writer) error { return png.Encode(f, img) })
	if err != nil {
		return fmt.Errorf("photo: save %q: %w", path, err)
	}
	return nil
}
