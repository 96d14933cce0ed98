package photo

import (
	"fmt"
	"math"
)

// dblEpsilon is C's DBL_EPSILON.
const dblEpsilon = 2.220446049250313e-16

// ResizeArea returns m resized to w×h the way OpenCV's
// cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) resizes a float32
// image (OpenCV 4.x, modules/imgproc/src/resize.cpp), computing in float32
// as OpenCV does. With scale_x = m.W/w and scale_y = m.H/h:
//
//   - Same size: a copy.
//   - Shrinking on both axes (scale_x ≥ 1 and scale_y ≥ 1), both scales
//     integers: each output pixel is the mean of its scale_x×scale_y block.
//   - Shrinking on both axes otherwise: true area averaging; each output
//     pixel is the mean of the source pixels under it, weighted by their
//     overlap (OpenCV's computeResizeAreaTab).
//   - Enlarging on either axis (scale_x < 1 or scale_y < 1): OpenCV's
//     INTER_AREA bilinear fallback on BOTH axes. For output column dx,
//     sx = floor(dx·scale_x), fx = (dx+1) − (sx+1)/scale_x, fx = 0 if
//     fx ≤ 0 else fx − floor(fx); the output mixes source columns sx and
//     sx+1 with weights 1−fx and fx, clamped at the right edge. Rows alike.
//     When enlarging by an integer factor every fx is 0: pixels are simply
//     replicated, unlike plain bilinear.
//
// It panics if w or h is not positive or m is empty.
func (m *RGB) ResizeArea(w, h int) *RGB {
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("photo: ResizeArea(%d, %d): size must be positive", w, h))
	}
	if m.W <= 0 || m.H <= 0 || len(m.Pix) < 3*m.W*m.H {
		panic(fmt.Sprintf("photo: ResizeArea of an empty or malformed %dx%d image with %d values", m.W, m.H, len(m.Pix)))
	}
	out := &RGB{W: w, H: h, Pix: make([]float32, 3*w*h)}
	if w == m.W && h == m.H {
		copy(out.Pix, m.Pix)
		return out
	}
	invX, invY := float64(w)/float64(m.W), float64(h)/float64(m.H)
	scaleX, scaleY := 1/invX, 1/invY
	if scaleX >= 1 && scaleY >= 1 {
		ix, iy := math.RoundToEven(scaleX), math.RoundToEven(scaleY)
		if math.Abs(scaleX-ix) < dblEpsilon && math.Abs(scaleY-iy) < dblEpsilon {
			m.resizeAreaFast(out, int(ix), int(iy))
		} else {
			m.resizeAreaGeneric(out, scaleX, scaleY)
		}
		return out
	}
	m.resizeAreaLinear(out, scaleX, scaleY, invX, invY)
	return out
}

// resizeAreaFast is OpenCV's resizeAreaFast_ for an exact integer factor:
// block means, summed in float32 and multiplied by 1/area.
func (m *RGB) resizeAreaFast(out *RGB, sx, sy int) {
	scale := 1 / float32(sx*sy)
	sw := 3 * m.W
	for dy := 0; dy < out.H; dy++ {
		base := dy * sy * sw
		o := out.Pix[3*out.W*dy : 3*out.W*(dy+1)]
		for dx := 0; dx < out.W; dx++ {
			for c := 0; c < 3; c++ {
				var sum float32
				x0 := base + 3*dx*sx + c
				for ky := 0; ky < sy; ky++ {
					row := x0 + ky*sw
					for kx := 0; kx < sx; kx++ {
						sum += m.Pix[row+3*kx]
					}
				}
				o[3*dx+c] = sum * scale
			}
		}
	}
}

// decimateAlpha is one entry of OpenCV's area table: source index si
// contributes with weight alpha to destination index di.
type decimateAlpha struct {
	si, di int
	alpha  float32
}

// computeResizeAreaTab is OpenCV's function of the same name (with cn = 1).
func computeResizeAreaTab(ssize, dsize int, scale float64) []decimateAlpha {
	tab := make([]decimateAlpha, 0, 2*ssize)
	for dx := 0; dx < dsize; dx++ {
		fsx1 := float64(dx) * scale
		fsx2 := fsx1 + scale
		cellWidth := math.Min(scale, float64(ssize)-fsx1)
		sx1, sx2 := int(math.Ceil(fsx1)), int(math.Floor(fsx2))
		sx2 = min(sx2, ssize-1)
		sx1 = min(sx1, sx2)
		if float64(sx1)-fsx1 > 1e-3 {
			tab = append(tab, decimateAlpha{sx1 - 1, dx, float32((float64(sx1) - fsx1) / cellWidth)})
		}
		for sx := sx1; sx < sx2; sx++ {
			tab = append(tab, decimateAlpha{sx, dx, float32(1.0 / cellWidth)})
		}
		if fsx2-float64(sx2) > 1e-3 {
			tab = append(tab, decimateAlpha{sx2, dx, float32(math.Min(math.Min(fsx2-float64(sx2), 1), cellWidth) / cellWidth)})
		}
	}
	return tab
}

// resizeAreaGeneric is OpenCV's ResizeArea_Invoker for float: each source
// row is decimated horizontally into buf, and rows are accumulated into sum
// with their vertical weights, all in float32.
func (m *RGB) resizeAreaGeneric(out *RGB, scaleX, scaleY float64) {
	xtab := computeResizeAreaTab(m.W, out.W, scaleX)
	ytab := computeResizeAreaTab(m.H, out.H, scaleY)
	dw := 3 * out.W
	buf := make([]float32, dw)
	sum := make([]float32, dw)
	prevDy := ytab[0].di
	for _, yt := range ytab {
		beta, dy := yt.alpha, yt.di
		s := m.Pix[3*m.W*yt.si : 3*m.W*(yt.si+1)]
		clear(buf)
		for _, xt := range xtab {
			sxn, dxn, a := 3*xt.si, 3*xt.di, xt.alpha
			// Explicit conversions: OpenCV rounds each product (no FMA).
			t0 := buf[dxn] + float32(s[sxn]*a)
			t1 := buf[dxn+1] + float32(s[sxn+1]*a)
			t2 := buf[dxn+2] + float32(s[sxn+2]*a)
			buf[dxn], buf[dxn+1], buf[dxn+2] = t0, t1, t2
		}
		if dy != prevDy {
			copy(out.Pix[dw*prevDy:dw*(prevDy+1)], sum)
			for i := range sum {
				sum[i] = beta * buf[i]
			}
			prevDy = dy
		} else {
			for i := range sum {
				sum[i] += float32(beta * buf[i])
			}
		}
	}
	copy(out.Pix[dw*prevDy:dw*(prevDy+1)], sum)
}

// areaLinearCoeffs computes OpenCV's INTER_AREA bilinear-fallback source
// index and weight for each of n destination positions.
func areaLinearCoeffs(n int, scale, inv float64) (ofs []int, fs []float32) {
	ofs, fs = make([]int, n), make([]float32, n)
	for d := 0; d < n; d++ {
		s := int(math.Floor(float64(d) * scale))
		f := float32(float64(d+1) - float64(s+1)*inv)
		if f <= 0 {
			f = 0
		} else {
			f -= float32(math.Floor(float64(f)))
		}
		ofs[d], fs[d] = s, f
	}
	return ofs, fs
}

// areaLinearColumns is areaLinearCoeffs for the n output columns of a
// source sw wide, with xmax, the first column whose right neighbour sx+1 is
// outside the source: from there on OpenCV copies source column
// min(sx, sw−1) unweighted.
func areaLinearColumns(n, sw int, scale, inv float64) (xofs []int, fx []float32, xmax int) {
	xofs, fx = areaLinearCoeffs(n, scale, inv)
	xmax = n
	for dx := 0; dx < n; dx++ {
		if xofs[dx]+1 >= sw {
			xmax = dx
			break
		}
	}
	for dx := xmax; dx < n; dx++ {
		xofs[dx] = min(xofs[dx], sw-1)
	}
	return xofs, fx, xmax
}

// eachRowPair calls blend(dy, r0, r1) for each of the outH output rows,
// with r0 and r1 the horizontally resized source rows yofs[dy] and
// yofs[dy]+1 (clamped to the srcH rows), each computed once by hpass and
// dropped once no later output row needs it.
func eachRowPair[T any](outH, srcH int, yofs []int, hpass func(sy int) []T, blend func(dy int, r0, r1 []T)) {
	rows := make(map[int][]T)
	row := func(sy int) []T {
		sy = max(0, min(sy, srcH-1))
		r, ok := rows[sy]
		if !ok {
			r = hpass(sy)
			rows[sy] = r
		}
		return r
	}
	for dy := range outH {
		blend(dy, row(yofs[dy]), row(yofs[dy]+1))
		for k := range rows {
			if k < yofs[dy] {
				delete(rows, k)
			}
		}
	}
}

// resizeAreaLinear is OpenCV's resizeGeneric_ with linear kernels and the
// INTER_AREA coefficients: a horizontal pass per source row, then a vertical
// blend of two horizontally resized rows, in float32.
func (m *RGB) resizeAreaLinear(out *RGB, scaleX, scaleY, invX, invY float64) {
	xofs, fx, xmax := areaLinearColumns(out.W, m.W, scaleX, invX)
	yofs, fy := areaLinearCoeffs(out.H, scaleY, invY)
	dw := 3 * out.W
	eachRowPair(out.H, m.H, yofs, func(sy int) []float32 {
		s := m.Pix[3*m.W*sy : 3*m.W*(sy+1)]
		r := make([]float32, dw)
		for dx := 0; dx < xmax; dx++ {
			sx := 3 * xofs[dx]
			a1 := fx[dx]
			a0 := 1 - a1
			for c := 0; c < 3; c++ {
				r[3*dx+c] = float32(s[sx+c]*a0) + float32(s[sx+3+c]*a1)
			}
		}
		for dx := xmax; dx < out.W; dx++ {
			sx := 3 * xofs[dx]
			r[3*dx], r[3*dx+1], r[3*dx+2] = s[sx], s[sx+1], s[sx+2]
		}
		return r
	}, func(dy int, s0, s1 []float32) {
		b1 := fy[dy]
		b0 := 1 - b1
		o := out.Pix[dw*dy : dw*(dy+1)]
		for i := range o {
			o[i] = float32(s0[i]*b0) + float32(s1[i]*b1)
		}
	})
}

// ResizeArea8 is [RGB.ResizeArea] for 8-bit images: m's values are
// quantized to 8 bits (round(v·255), clamped to 0..255), resized to w×h
// the way cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) resizes a
// uint8 image (OpenCV 4.x, modules/imgproc/src/resize.cpp), bit for bit,
// and returned as k/255. OpenCV's uint8 arithmetic differs from its float
// one in each case:
//
//   - Halving both sides: each output is (a+b+c+d+2)>>2, its 2×2 block's
//     mean rounded half up.
//   - Other integer shrinks: the block's integer sum times the float32
//     1/area, rounded half to even.
//   - Other shrinks: the float32 area averaging of ResizeArea on the 8-bit
//     values, rounded half to even.
//   - Enlarging on either axis: the bilinear fallback of ResizeArea with
//     11-bit fixed-point weights (round(w·2048)): a horizontal pass in
//     integers, then OpenCV's uint8 vertical pass, which drops the low 4
//     bits of each row and the low 16 bits of each weighted term before
//     rounding: ((b0·(r0>>4))>>16 + (b1·(r1>>4))>>16 + 2)>>2.
//
// It panics if w or h is not positive or m is empty.
func (m *RGB) ResizeArea8(w, h int) *RGB {
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("photo: ResizeArea8(%d, %d): size must be positive", w, h))
	}
	if m.W <= 0 || m.H <= 0 || len(m.Pix) < 3*m.W*m.H {
		panic(fmt.Sprintf("photo: ResizeArea8 of an empty or malformed %dx%d image with %d values", m.W, m.H, len(m.Pix)))
	}
	// The 8-bit values, as float32 for the float paths.
	src := &RGB{W: m.W, H: m.H, Pix: make([]float32, 3*m.W*m.H)}
	for i := range src.Pix {
		src.Pix[i] = float32(math.RoundToEven(min(max(float64(m.Pix[i])*255, 0), 255)))
	}
	out := &RGB{W: w, H: h, Pix: make([]float32, 3*w*h)}
	invX, invY := float64(w)/float64(m.W), float64(h)/float64(m.H)
	scaleX, scaleY := 1/invX, 1/invY
	switch {
	case w == m.W && h == m.H:
		copy(out.Pix, src.Pix)
	case scaleX >= 1 && scaleY >= 1:
		ix, iy := math.RoundToEven(scaleX), math.RoundToEven(scaleY)
		switch {
		case ix == 2 && iy == 2 && math.Abs(scaleX-2) < dblEpsilon && math.Abs(scaleY-2) < dblEpsilon:
			src.halve(out)
		case math.Abs(scaleX-ix) < dblEpsilon && math.Abs(scaleY-iy) < dblEpsilon:
			src.resizeAreaFast(out, int(ix), int(iy))
		default:
			src.resizeAreaGeneric(out, scaleX, scaleY)
		}
		for i, v := range out.Pix {
			out.Pix[i] = float32(math.RoundToEven(min(max(float64(v), 0), 255)))
		}
	default:
		src.resizeAreaLinear8(out, scaleX, scaleY, invX, invY)
	}
	for i, v := range out.Pix {
		out.Pix[i] = v / 255
	}
	return out
}

// halve is OpenCV's uint8 2×2 area shrink (ResizeAreaFastVec with
// scale 2): each output is the sum of its 2×2 block plus 2, shifted right
// by 2. m and out hold 8-bit values.
func (m *RGB) halve(out *RGB) {
	sw := 3 * m.W
	for dy := 0; dy < out.H; dy++ {
		r0 := m.Pix[2*dy*sw:]
		r1 := m.Pix[(2*dy+1)*sw:]
		o := out.Pix[3*out.W*dy:]
		for dx := 0; dx < out.W; dx++ {
			for c := 0; c < 3; c++ {
				i := 6*dx + c
				s := int(r0[i]) + int(r0[i+3]) + int(r1[i]) + int(r1[i+3])
				o[3*dx+c] = float32((s + 2) >> 2)
			}
		}
	}
}

// resizeCoefScale is OpenCV's INTER_RESIZE_COEF_SCALE: the fixed-point
// interpolation weights are round(w·2048).
const resizeCoefScale = 2048

// fixedWeights returns OpenCV's fixed-point pair (saturate_cast<short> of
// (1−f)·2048 and f·2048, rounded half to even, 1−f in float32).
func fixedWeights(f float32) (int32, int32) {
	return int32(math.RoundToEven(float64((1 - f) * resizeCoefScale))), int32(math.RoundToEven(float64(f * resizeCoefScale)))
}

// resizeAreaLinear8 is OpenCV's resizeGeneric_ with the INTER_AREA linear
// coefficients for uint8 (HResizeLinear<uchar, int, short, 2048> and the
// uint8 VResizeLinear). m and out hold 8-bit values.
func (m *RGB) resizeAreaLinear8(out *RGB, scaleX, scaleY, invX, invY float64) {
	xofs, fx, xmax := areaLinearColumns(out.W, m.W, scaleX, invX)
	yofs, fy := areaLinearCoeffs(out.H, scaleY, invY)
	a0, a1 := make([]int32, xmax), make([]int32, xmax)
	for dx := range xmax {
		a0[dx], a1[dx] = fixedWeights(fx[dx])
	}
	dw := 3 * out.W
	eachRowPair(out.H, m.H, yofs, func(sy int) []int32 {
		s := m.Pix[3*m.W*sy : 3*m.W*(sy+1)]
		r := make([]int32, dw)
		for dx := range out.W {
			sx := 3 * xofs[dx]
			for c := 0; c < 3; c++ {
				if dx < xmax {
					r[3*dx+c] = int32(s[sx+c])*a0[dx] + int32(s[sx+3+c])*a1[dx]
				} else {
					r[3*dx+c] = int32(s[sx+c]) * resizeCoefScale
				}
			}
		}
		return r
	}, func(dy int, s0, s1 []int32) {
		b0, b1 := fixedWeights(fy[dy])
		o := out.Pix[dw*dy : dw*(dy+1)]
		for i := range o {
			v := ((b0*(s0[i]>>4))>>16 + (b1*(s1[i]>>4))>>16 + 2) >> 2
			o[i] = float32(min(max(v, 0), 255))
		}
	})
}
