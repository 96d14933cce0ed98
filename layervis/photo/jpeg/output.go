package jpeg

import "image"

// output upsamples the decoded planes and converts them to the output
// image the way libjpeg-turbo's decompressor does with its default settings
// (do_fancy_upsampling on, no scaling): *image.Gray for one component,
// *image.RGBA for YCbCr and RGB, *image.CMYK for CMYK and YCCK.
func (d *decoder) output() image.Image {
	w, h := d.width, d.height
	r := image.Rect(0, 0, w, h)
	var src [maxComponents][]byte
	var stride [maxComponents]int
	for i := 0; i < d.nComp; i++ {
		src[i], stride[i] = d.upsample(i)
	}
	// row returns row y of component i.
	row := func(i, y int) []byte { return src[i][y*stride[i] : y*stride[i]+w] }
	cs := d.colorSpace()
	switch cs {
	case gray:
		img := image.NewGray(r)
		for y := 0; y < h; y++ {
			copy(img.Pix[y*img.Stride:], row(0, y))
		}
		return img
	case yCbCr, rgb:
		img := image.NewRGBA(r)
		for y := 0; y < h; y++ {
			out := img.Pix[y*img.Stride : y*img.Stride+4*w]
			c0, c1, c2 := row(0, y), row(1, y), row(2, y)
			for x := range c0 {
				p := out[4*x : 4*x+4 : 4*x+4]
				if cs == rgb {
					p[0], p[1], p[2] = c0[x], c1[x], c2[x]
				} else {
					p[0], p[1], p[2] = yccToRGB(c0[x], c1[x], c2[x])
				}
				p[3] = 0xff
			}
		}
		return img
	}
	// libjpeg hands CMYK and YCCK files out as CMYK, in the inverted
	// convention of Adobe's files (0 is full ink); image.CMYK's 0 is no ink.
	img := image.NewCMYK(r)
	for y := 0; y < h; y++ {
		out := img.Pix[y*img.Stride : y*img.Stride+4*w]
		c0, c1, c2, c3 := row(0, y), row(1, y), row(2, y), row(3, y)
		for x := range c0 {
			p := out[4*x : 4*x+4 : 4*x+4]
			if cs == yCCK {
				// jdcolor.c's ycck_cmyk_convert: C, M, Y = 255 − R, G, B.
				r, g, b := yccToRGB(c0[x], c1[x], c2[x])
				p[0], p[1], p[2] = r, g, b
			} else {
				p[0], p[1], p[2] = 255-c0[x], 255-c1[x], 255-c2[x]
			}
			p[3] = 255 - c3[x]
		}
	}
	return img
}

// upsample returns component i at full size (at least width×height
// samples) and its stride, upsampled as libjpeg-turbo's jdsample.c does with
// fancy upsampling: a triangle filter for 2:1 horizontal (h2v1), 2:1
// vertical (h1v2) and 2:1 both ways (h2v2), and replication for other whole
// ratios and for components at most 2 samples wide. The edges replicate the
// component's last real sample row and column.
func (d *decoder) upsample(i int) ([]byte, int) {
	c := &d.comp[i]
	in, s := d.plane[i], d.stride[i]
	hr, vr := d.hmax/c.h, d.vmax/c.v
	if hr == 1 && vr == 1 {
		return in, s
	}
	// Output rows are 2·c.w wide for the 2:1 filters, which can be one
	// sample more than the image.
	ow := max(d.width, 2*c.w)
	out := make([]byte, ow*d.height)
	// row returns input row r, with rows above and below the component
	// replaced by its first and last rows, as jdmainct.c arranges.
	row := func(r int) []byte {
		r = min(max(r, 0), c.hgt-1)
		return in[r*s : r*s+c.w]
	}
	switch {
	case hr == 2 && vr == 1 && c.w > 2:
		for y := 0; y < d.height; y++ {
			h2v1Fancy(out[y*ow:], row(y))
		}
	case hr == 1 && vr == 2:
		for y := 0; y < d.height; y++ {
			near, far, bias := row(y/2), row(y/2-1), int32(1)
			if y%2 == 1 {
				far, bias = row(y/2+1), 2
			}
			o := out[y*ow : y*ow+c.w]
			for x := range o {
				o[x] = uint8((3*int32(near[x]) + int32(far[x]) + bias) >> 2)
			}
		}
	case hr == 2 && vr == 2 && c.w > 2:
		for y := 0; y < d.height; y++ {
			near, far := row(y/2), row(y/2-1)
			if y%2 == 1 {
				far = row(y/2 + 1)
			}
			h2v2Fancy(out[y*ow:], near, far)
		}
	default:
		for y := 0; y < d.height; y++ {
			r := in[(y/vr)*s:]
			o := out[y*ow : y*ow+d.width]
			for x := range o {
				o[x] = r[x/hr]
			}
		}
	}
	return out, ow
}

// h2v1Fancy doubles the row in (len(in) > 2) into out: each output sample
// is ¾ of the nearer input sample plus ¼ of the further one, rounded up and
// down alternately (jdsample.c h2v1_fancy_upsample).
func h2v1Fancy(out, in []byte) {
	n := len(in)
	out = out[:2*n]
	out[0] = in[0]
	out[1] = uint8((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
	for x := 1; x < n-1; x++ {
		v := 3 * int32(in[x])
		out[2*x] = uint8((v + int32(in[x-1]) + 1) >> 2)
		out[2*x+1] = uint8((v + int32(in[x+1]) + 2) >> 2)
	}
	out[2*n-2] = uint8((3*int32(in[n-1]) + int32(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// h2v2Fancy makes one output row of 2:1 by 2:1 upsampling from the nearer
// input row and the further one (above or below), each input column first
// combined as 3·near + far, then the columns as in h2v1Fancy
// (jdsample.c h2v2_fancy_upsample). len(near) > 2.
func h2v2Fancy(out, near, far []byte) {
	n := len(near)
	out = out[:2*n]
	sum := func(x int) int32 { return 3*int32(near[x]) + int32(far[x]) }
	this, next := sum(0), sum(1)
	out[0] = uint8((4*this + 8) >> 4)
	out[1] = uint8((3*this + next + 7) >> 4)
	last := this
	this = next
	for x := 1; x < n-1; x++ {
		next = sum(x + 1)
		out[2*x] = uint8((3*this + last + 8) >> 4)
		out[2*x+1] = uint8((3*this + next + 7) >> 4)
		last, this = this, next
	}
	out[2*n-2] = uint8((3*this + last + 8) >> 4)
	out[2*n-1] = uint8((4*this + 7) >> 4)
}

// Tables of libjpeg's YCbCr to RGB conversion (jdcolor.c,
// build_ycc_rgb_table), in 16-bit fixed point, indexed by Cb or Cr:
//
//	R = Y + crR[Cr]
//	G = Y + (cbG[Cb] + crG[Cr]) >> 16
//	B = Y + cbB[Cb]
//
// each clamped to [0, 255].
var crR, cbB, crG, cbG = func() (crR, cbB, crG, cbG [256]int32) {
	const (
		scaleBits = 16
		half      = 1 << (scaleBits - 1)
	)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + half) >> scaleBits
		cbB[i] = (fix(1.77200)*x + half) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
	return
}()

// yccToRGB converts one JFIF YCbCr sample to RGB as libjpeg does.
func yccToRGB(y, cb, cr uint8) (r, g, b uint8) {
	yy := int32(y)
	return clamp(yy + crR[cr]), clamp(yy + (cbG[cb]+crG[cr])>>16), clamp(yy + cbB[cb])
}
