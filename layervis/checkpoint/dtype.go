package checkpoint

import (
	"encoding/binary"
	"math"
)

// dtype describes how one element is stored.
type dtype struct {
	name string // as in Tensor.DType
	size int    // bytes per element
}

var (
	dtFloat32  = &dtype{"float32", 4}
	dtFloat16  = &dtype{"float16", 2}
	dtBFloat16 = &dtype{"bfloat16", 2}
	dtFloat64  = &dtype{"float64", 8}
	dtInt64    = &dtype{"int64", 8}
	dtInt32    = &dtype{"int32", 4}
	dtInt16    = &dtype{"int16", 2}
	dtInt8     = &dtype{"int8", 1}
	dtUint8    = &dtype{"uint8", 1}
	dtBool     = &dtype{"bool", 1}
)

// torchStorageDTypes maps torch's storage class names to dtypes.
var torchStorageDTypes = map[string]*dtype{
	"FloatStorage":    dtFloat32,
	"HalfStorage":     dtFloat16,
	"BFloat16Storage": dtBFloat16,
	"DoubleStorage":   dtFloat64,
	"LongStorage":     dtInt64,
	"IntStorage":      dtInt32,
	"ShortStorage":    dtInt16,
	"CharStorage":     dtInt8,
	"ByteStorage":     dtUint8,
	"BoolStorage":     dtBool,
}

// safetensorsDTypes maps safetensors dtype names to dtypes.
var safetensorsDTypes = map[string]*dtype{
	"F32":  dtFloat32,
	"F16":  dtFloat16,
	"BF16": dtBFloat16,
	"F64":  dtFloat64,
	"I64":  dtInt64,
	"I32":  dtInt32,
	"I16":  dtInt16,
	"I8":   dtInt8,
	"U8":   dtUint8,
	"BOOL": dtBool,
}

// float16to32 converts IEEE 754 half-precision bits to a float32, exactly
// (subnormals, infinities and NaNs included).
func float16to32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	default: // subnormal: normalize
		e := uint32(113)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	}
}

// elementReader returns a function that decodes element i of src (a buffer
// of elements of type dt in byte order bo) as float32.
func elementReader(dt *dtype, bo binary.ByteOrder) func(src []byte, i int) float32 {
	switch dt {
	case dtFloat32:
		return func(src []byte, i int) float32 { return math.Float32frombits(bo.Uint32(src[4*i:])) }
	case dtFloat16:
		return func(src []byte, i int) float32 { return float16to32(bo.Uint16(src[2*i:])) }
	case dtBFloat16:
		return func(src []byte, i int) float32 { return math.Float32frombits(uint32(bo.Uint16(src[2*i:])) << 16) }
	case dtFloat64:
		return func(src []byte, i int) float32 { return float32(math.Float64frombits(bo.Uint64(src[8*i:]))) }
	case dtInt64:
		return func(src []byte, i int) float32 { return float32(int64(bo.Uint64(src[8*i:]))) }
	case dtInt32:
		return func(src []byte, i int) float32 { return float32(int32(bo.Uint32(src[4*i:]))) }
	case dtInt16:
		return func(src []byte, i int) float32 { return float32(int16(bo.Uint16(src[2*i:]))) }
	case dtInt8:
		return func(src []byte, i int) float32 { return float32(int8(src[i])) }
	case dtUint8:
		return func(src []byte, i int) float32 { return float32(src[i]) }
	case dtBool:
		return func(src []byte, i int) float32 {
			if src[i] != 0 {
				return 1
			}
			return 0
		}
	}
	panic("checkpoint: unknown dtype " + dt.name) // unreachable: dtypes come from the tables above
}

// decodeContiguous converts len(dst) consecutive elements of src to float32.
func decodeContiguous(dst []float32, src []byte, dt *dtype, bo binary.ByteOrder) {
	if dt == dtFloat32 && bo == binary.LittleEndian {
		src = src[:4*len(dst)]
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return
	}
	get := elementReader(dt, bo)
	for i := range dst {
		dst[i] = get(src, i)
	}
}
