package imageops

import (
	"math"
	"testing"
)

// TestQuantNumPy compares TruncUint8 and RoundHalfEven with NumPy's
// astype(np.uint8) and np.round on in-range values, halves included.
func TestQuantNumPy(t *testing.T) {
	var vals []float64
	for i := 0; i <= 255*4; i++ {
		vals = append(vals, float64(i)/4) // whole numbers, quarters, halves
	}
	vals = append(vals, 0.49999999999999994, 254.99999999999997, 255.99999999999997, 1e-300, -0.5, -0.99, 127.5000001)
	var ref struct {
		Trunc []int
		Round []float64
	}
	reference(t, "quant", map[string]any{"v": vals}, &ref)
	for i, v := range vals {
		if got := TruncUint8(v); int(got) != ref.Trunc[i] {
			t.Errorf("TruncUint8(%v) = %d, NumPy %d", v, got, ref.Trunc[i])
		}
		if got := RoundHalfEven(v); got != ref.Round[i] {
			t.Errorf("RoundHalfEven(%v) = %v, NumPy %v", v, got, ref.Round[i])
		}
	}
}

func TestQuantClamp(t *testing.T) {
	for _, tc := range []struct {
		v           float64
		trunc, rnd8 uint8
	}{
		{-3, 0, 0}, {math.NaN(), 0, 0}, {0, 0, 0}, {0.49, 0, 0}, {0.5, 0, 1}, {254.5, 254, 255},
		{255, 255, 255}, {255.9, 255, 255}, {256, 255, 255}, {300, 255, 255}, {math.Inf(1), 255, 255},
	} {
		if got := TruncUint8(tc.v); got != tc.trunc {
			t.Errorf("TruncUint8(%v) = %d, want %d", tc.v, got, tc.trunc)
		}
		if got := RoundUint8(tc.v); got != tc.rnd8 {
			t.Errorf("RoundUint8(%v) = %d, want %d", tc.v, got, tc.rnd8)
		}
	}
}

// TestImgAsFloatSkimage checks ImgAsFloat against skimage.img_as_float bit
// for bit.
func TestImgAsFloatSkimage(t *testing.T) {
	var ref struct{ F []float64 }
	reference(t, "img_as_float", map[string]any{}, &ref, "skimage")
	if len(ref.F) != 256 {
		t.Fatalf("%d values", len(ref.F))
	}
	for v := range 256 {
		if got := ImgAsFloat(uint8(v)); got != ref.F[v] {
			t.Errorf("ImgAsFloat(%d) = %v, skimage %v", v, got, ref.F[v])
		}
	}
}
