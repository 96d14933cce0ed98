package checkpoint

import (
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
)

// stFile builds a safetensors file from a header and a data area.
func stFile(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func f32bytes(vs ...float32) []byte {
	var out []byte
	for _, v := range vs {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out
}

func TestReadSafetensors(t *testing.T) {
	data := f32bytes(1, 2, 3, 4, 5, 6)
	data = append(data, 0x00, 0x3c, 0x80, 0x3f) // F16 1.0, BF16 1.0
	data = binary.LittleEndian.AppendUint64(data, uint64(math.Float64bits(-2.5)))
	data = binary.LittleEndian.AppendUint64(data, uint64(1<<63)) // I64 min
	data = append(data, 0xff, 2)                                 // I8 -1, BOOL 2 -> 1
	header := `{"__metadata__":{"format":"pt"},` +
		`"b":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},` +
		`"a.h":{"dtype":"F16","shape":[1],"data_offsets":[24,26]},` +
		`"a.bf":{"dtype":"BF16","shape":[],"data_offsets":[26,28]},` +
		`"d":{"dtype":"F64","shape":[1],"data_offsets":[28,36]},` +
		`"i":{"dtype":"I64","shape":[1,1],"data_offsets":[36,44]},` +
		`"j":{"dtype":"I8","shape":[1],"data_offsets":[44,45]},` +
		`"k":{"dtype":"BOOL","shape":[1],"data_offsets":[45,46]},` +
		`"z":{"dtype":"F32","shape":[0,5],"data_offsets":[46,46]}}`
	ck, err := ReadSafetensors(stFile(header, data))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.bf", "a.h", "b", "d", "i", "j", "k", "z"}; !reflect.DeepEqual(ck.Names, want) {
		t.Fatalf("names %v, want %v", ck.Names, want)
	}
	if ck.Format != FormatSafetensors || ck.Path != "" {
		t.Errorf("format %q path %q", ck.Format, ck.Path)
	}
	for _, c := range []struct {
		name, dtype string
		shape       []int
		data        []float32
	}{
		{"b", "float32", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}},
		{"a.h", "float16", []int{1}, []float32{1}},
		{"a.bf", "bfloat16", []int{}, []float32{1}},
		{"d", "float64", []int{1}, []float32{-2.5}},
		{"i", "int64", []int{1, 1}, []float32{-9223372036854775808}},
		{"j", "int8", []int{1}, []float32{-1}},
		{"k", "bool", []int{1}, []float32{1}},
		{"z", "float32", []int{0, 5}, []float32{}},
	} {
		tn := ck.Tensors[c.name]
		if tn == nil || tn.DType != c.dtype || !reflect.DeepEqual(tn.Shape, c.shape) || !reflect.DeepEqual(tn.Data, c.data) {
			t.Errorf("%s: got %+v, want %+v", c.name, tn, c)
		}
	}
}

func TestReadSafetensorsErrors(t *testing.T) {
	ok := `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	valid := stFile(ok, f32bytes(1, 2))
	hugeLen := binary.LittleEndian.AppendUint64(nil, 1<<62)
	hugeLen = append(hugeLen, "{}"...)
	overLimit := binary.LittleEndian.AppendUint64(nil, MaxSafetensorsHeader+1)
	overLimit = append(overLimit, make([]byte, MaxSafetensorsHeader+1)...)
	overLimit[8] = '{'
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"short", []byte{1, 2, 3}, "too short"},
		{"truncated data", valid[:len(valid)-1], `tensor "w": data_offsets [0,8] outside data area of 7 bytes`},
		{"truncated header", valid[:20], "header length 54 larger than the file (20 bytes)"},
		{"header length larger than file", hugeLen, "larger than the file"},
		{"header over limit", overLimit, "exceeds"},
		{"bad json", stFile(`{"w":{"dtype":"F32",}`, nil), "not a valid JSON object"},
		{"not an object", stFile(`[1,2]`, nil), "does not start with '{'"},
		{"json array in object", stFile(`{"w":[1]}`, nil), `tensor "w": bad header entry`},
		{"trailing garbage", stFile(`{} x`, nil), "not a valid JSON object"},
		{"bad utf8", stFile("{\"\xff\":1}", nil), "UTF-8"},
		{"offsets outside", stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32bytes(1, 2)),
			`tensor "w": data_offsets [4,12] outside data area of 8 bytes`},
		{"offsets reversed", stFile(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}`, f32bytes(1, 2)), "outside data area"},
		{"offsets negative", stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[-1,7]}}`, f32bytes(1, 2)), "bad header entry"},
		{"offsets count", stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, f32bytes(1, 2)), "must be [begin, end]"},
		{"length mismatch", stFile(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32bytes(1, 2)), "span 8 bytes, but shape [3] of F32 needs 12"},
		{"unknown dtype", stFile(`{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}`, []byte{1, 2}), `tensor "w": unsupported dtype "F8_E4M3"`},
		{"missing dtype", stFile(`{"w":{"shape":[2],"data_offsets":[0,8]}}`, f32bytes(1, 2)), "missing dtype"},
		{"missing shape", stFile(`{"w":{"dtype":"F32","data_offsets":[0,8]}}`, f32bytes(1, 2)), "missing shape"},
		{"negative dim", stFile(`{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, f32bytes(1, 2)), "invalid dimension"},
		{"huge shape", stFile(`{"w":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,8]}}`, f32bytes(1, 2)), "more than"},
		{"overflowing shape", stFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}`, f32bytes(1, 2)), "more than"},
		{"dimension too large", stFile(`{"w":{"dtype":"F32","shape":[9223372036854775807],"data_offsets":[0,8]}}`, f32bytes(1, 2)), "invalid dimension"},
		{"bad metadata", stFile(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck, err := ReadSafetensors(c.data)
			if err == nil {
				t.Fatalf("succeeded: %v", ck.Names)
			}
			if !strings.HasPrefix(err.Error(), "checkpoint: safetensors: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to mention %q", err, c.want)
			}
		})
	}
	// The same problems through Load name the file.
	p := writeTemp(t, "x.safetensors", valid[:len(valid)-1])
	_, err := Load(p)
	if want := `checkpoint "` + p + `": safetensors: tensor "w": data_offsets [0,8] outside data area of 7 bytes`; err == nil || err.Error() != want {
		t.Errorf("Load error %v, want %s", err, want)
	}
}
