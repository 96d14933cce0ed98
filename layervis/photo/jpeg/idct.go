package jpeg

// block is one 8x8 block of DCT coefficients, in natural order.
type block [blockSize]int32

const blockSize = 8 * 8

// Fixed-point constants of libjpeg's islow IDCT (jidctint.c): CONST_BITS = 13
// bits of fraction, and PASS1_BITS = 2 bits of extra precision carried
// between the column and the row pass.
const (
	constBits = 13
	pass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

// idctIslow dequantizes the coefficients b (natural order) with the
// quantization table q (zig-zag order), computes the inverse DCT the way
// libjpeg-turbo's jpeg_idct_islow does (the default "accurate integer" IDCT:
// Loeffler–Ligtenberg–Moschytz with 12 multiplies in 13-bit fixed point),
// and writes the 8x8 level-shifted samples to dst with the given stride.
//
// Coefficients are first truncated to 16 bits, as libjpeg stores them.
// Outputs beyond [0, 255] are clamped, as libjpeg-turbo's x86 SIMD code
// (what PIL and OpenCV run on x86-64) does; its C code instead wraps values
// more than 384 out of range, which valid JPEG data never produces.
func idctIslow(b *block, q *block, dst []byte, stride int) {
	var ws [blockSize]int32
	var in [blockSize]int32
	for zig := 0; zig < blockSize; zig++ {
		u := unzig[zig]
		in[u] = int32(int16(b[u])) * q[zig]
	}

	// Pass 1: columns, from in to ws; results scaled up by 2^pass1Bits.
	for c := 0; c < 8; c++ {
		if in[8+c] == 0 && in[16+c] == 0 && in[24+c] == 0 && in[32+c] == 0 &&
			in[40+c] == 0 && in[48+c] == 0 && in[56+c] == 0 {
			dc := in[c] << pass1Bits
			for r := 0; r < 8; r++ {
				ws[8*r+c] = dc
			}
			continue
		}
		// Even part.
		z2, z3 := in[16+c], in[48+c]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 - z3*fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		z2, z3 = in[c], in[32+c]
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		// Odd part.
		tmp0, tmp1, tmp2, tmp3 = in[56+c], in[40+c], in[24+c], in[8+c]
		tmp0, tmp1, tmp2, tmp3 = odd(tmp0, tmp1, tmp2, tmp3)
		const sh = constBits - pass1Bits
		const half = 1 << (sh - 1)
		ws[0+c] = (tmp10 + tmp3 + half) >> sh
		ws[56+c] = (tmp10 - tmp3 + half) >> sh
		ws[8+c] = (tmp11 + tmp2 + half) >> sh
		ws[48+c] = (tmp11 - tmp2 + half) >> sh
		ws[16+c] = (tmp12 + tmp1 + half) >> sh
		ws[40+c] = (tmp12 - tmp1 + half) >> sh
		ws[24+c] = (tmp13 + tmp0 + half) >> sh
		ws[32+c] = (tmp13 - tmp0 + half) >> sh
	}

	// Pass 2: rows, from ws to dst, descaled by 2^(constBits+pass1Bits+3),
	// level-shifted by 128 and clamped.
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8 : 8*r+8]
		out := dst[r*stride : r*stride+8 : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := clamp((w[0]+(1<<(pass1Bits+2)))>>(pass1Bits+3) + 128)
			for i := range out {
				out[i] = v
			}
			continue
		}
		z2, z3 := w[2], w[6]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 - z3*fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		tmp0 := (w[0] + w[4]) << constBits
		tmp1 := (w[0] - w[4]) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		tmp0, tmp1, tmp2, tmp3 = odd(w[7], w[5], w[3], w[1])
		const sh = constBits + pass1Bits + 3
		const half = 1 << (sh - 1)
		out[0] = clamp((tmp10+tmp3+half)>>sh + 128)
		out[7] = clamp((tmp10-tmp3+half)>>sh + 128)
		out[1] = clamp((tmp11+tmp2+half)>>sh + 128)
		out[6] = clamp((tmp11-tmp2+half)>>sh + 128)
		out[2] = clamp((tmp12+tmp1+half)>>sh + 128)
		out[5] = clamp((tmp12-tmp1+half)>>sh + 128)
		out[3] = clamp((tmp13+tmp0+half)>>sh + 128)
		out[4] = clamp((tmp13-tmp0+half)>>sh + 128)
	}
}

// odd is the odd part of the 1-D IDCT: from the inputs at positions 7, 5,
// 3 and 1 it returns the terms tmp0..tmp3 of jidctint.c.
func odd(tmp0, tmp1, tmp2, tmp3 int32) (int32, int32, int32, int32) {
	z1 := tmp0 + tmp3
	z2 := tmp1 + tmp2
	z3 := tmp0 + tmp2
	z4 := tmp1 + tmp3
	z5 := (z3 + z4) * fix1_175875602 // sqrt(2) * c3
	tmp0 *= fix0_298631336           // sqrt(2) * (-c1+c3+c5-c7)
	tmp1 *= fix2_053119869           // sqrt(2) * ( c1+c3-c5+c7)
	tmp2 *= fix3_072711026           // sqrt(2) * ( c1+c3+c5-c7)
	tmp3 *= fix1_501321110           // sqrt(2) * ( c1+c3-c5-c7)
	z1 *= -fix0_899976223            // sqrt(2) * ( c7-c3)
	z2 *= -fix2_562915447            // sqrt(2) * (-c1-c3)
	z3 = z3*-fix1_961570560 + z5     // sqrt(2) * (-c3-c5)
	z4 = z4*-fix0_390180644 + z5     // sqrt(2) * ( c5-c3)
	return tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4
}

// clamp limits v to [0, 255].
func clamp(v int32) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}
