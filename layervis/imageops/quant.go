package imageops

import "math"

// TruncUint8 is NumPy's astype(np.uint8) for a value in [0, 256): the value
// truncated toward zero. The Mind's Eye reference converts its blends (mask
// weights in [0,1] of values in [0,255]) and its brightened images (clipped
// to [0,255]) this way, so its values are in range. Out of range, TruncUint8
// clamps to [0,255] (NaN gives 0), where NumPy's float-to-uint8 cast is
// undefined behaviour that on x86 wraps modulo 256 (256.0 becomes 0, 300.0
// becomes 44, -1.5 becomes 255).
func TruncUint8(v float64) uint8 {
	switch {
	case !(v > 0):
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}

// RoundHalfEven is np.round for one value: v rounded to the nearest whole
// number, halves to even (0.5 → 0, 1.5 → 2, 2.5 → 2). The reference rounds
// its de-normalized images this way: RoundHalfEven(v*255) after clipping v
// to [0,1].
func RoundHalfEven(v float64) float64 {
	return math.RoundToEven(v)
}

// RoundUint8 converts v to uint8 the way SciPy's ndimage writes a uint8
// output (as the reference's ndimage.zoom of its uint8 canvas does): v+0.5
// truncated for v > 0, else 0, and at most 255 (round half up, clamped).
func RoundUint8(v float64) uint8 {
	if !(v > 0) {
		return 0
	}
	v += 0.5
	if v >= 255 {
		return 255
	}
	return uint8(v)
}

// ImgAsFloat is scikit-image's img_as_float for one uint8 value: v·(1/255)
// in float64, which differs from v/255 in the last bit for some v. Convert
// an image with it before [DenoiseTVBregman] to match scikit-image.
func ImgAsFloat(v uint8) float64 {
	return float64(v) * (1.0 / 255)
}
