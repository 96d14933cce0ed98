package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/layervis/layervis/layervis/internal/pyref"
)

// sameFloats reports whether a and b are bit-for-bit equal (NaN == NaN).
func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func seq(n int) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(i)*0.25 - 3
	}
	return d
}

func TestRoundTrip(t *testing.T) {
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), math.MaxFloat32, math.SmallestNonzeroFloat32}
	tests := []struct {
		name  string
		shape []int
		data  []float32
	}{
		{"scalar", []int{}, []float32{42.5}},
		{"empty1d", []int{0}, []float32{}},
		{"vector", []int{5}, seq(5)},
		{"matrix", []int{2, 3}, seq(6)},
		{"zero dim inside", []int{2, 0, 4}, []float32{}},
		{"4d", []int{1, 2, 3, 4}, seq(24)},
		{"special values", []int{len(special)}, special},
		{"larger than one chunk", []int{3, 10000}, seq(30000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Encode(&buf, tc.shape, tc.data); err != nil {
				t.Fatal(err)
			}
			shape, data, err := Decode(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shape, tc.shape) {
				t.Errorf("shape = %#v, want %#v", shape, tc.shape)
			}
			if !sameFloats(data, tc.data) {
				t.Errorf("data differs")
			}
			// Through a file too.
			path := filepath.Join(t.TempDir(), "a.npy")
			if err := Write(path, tc.shape, tc.data); err != nil {
				t.Fatal(err)
			}
			shape, data, err = Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shape, tc.shape) || !sameFloats(data, tc.data) {
				t.Errorf("file round trip: shape %v", shape)
			}
		})
	}
}

func TestHeaderAlignment(t *testing.T) {
	tests := []struct {
		shape []int
		dict  string
	}{
		{[]int{}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"},
		{[]int{7}, "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }"},
		{[]int{2, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
		{[]int{1, 512, 512, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 512, 512, 3), }"},
		// A header long enough to need a second 64-byte block.
		{[]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.shape), func(t *testing.T) {
			n, _ := count(tc.shape)
			var buf bytes.Buffer
			if err := Encode(&buf, tc.shape, make([]float32, n)); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			if string(b[:8]) != "\x93NUMPY\x01\x00" {
				t.Fatalf("prefix %q", b[:8])
			}
			hlen := int(binary.LittleEndian.Uint16(b[8:10]))
			if (10+hlen)%64 != 0 {
				t.Errorf("data offset %d is not a multiple of 64", 10+hlen)
			}
			if len(b) != 10+hlen+4*n {
				t.Errorf("file is %d bytes, want %d", len(b), 10+hlen+4*n)
			}
			h := string(b[10 : 10+hlen])
			if !strings.HasSuffix(h, "\n") {
				t.Errorf("header does not end in a newline: %q", h)
			}
			if tc.dict != "" && strings.TrimRight(h, " \n") != tc.dict {
				t.Errorf("header = %q, want %q", strings.TrimRight(h, " \n"), tc.dict)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		data  []float32
		want  string
	}{
		{"too few values", []int{2, 3}, seq(5), "holds 6 values but data has 5"},
		{"too many values", []int{}, seq(2), "holds 1 values but data has 2"},
		{"negative dimension", []int{2, -1}, nil, "negative dimension"},
		{"overflow", []int{math.MaxInt / 2, 4}, nil, "overflows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Encode(io.Discard, tc.shape, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Encode error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// rawNPY builds a .npy byte stream with the given version, header dict and data.
func rawNPY(major byte, dict string, data []byte) []byte {
	var b []byte
	b = append(b, magic...)
	b = append(b, major, 0)
	pre := 10
	if major > 1 {
		pre = 12
	}
	h := dict
	for (pre+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	b = append(b, h...)
	return append(b, data...)
}

func le32(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestDecodeDtypes(t *testing.T) {
	f8 := binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1))
	f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(1e300))
	i8 := binary.LittleEndian.AppendUint64(nil, uint64(1<<40))
	i8 = binary.LittleEndian.AppendUint64(i8, uint64(0xFFFFFFFFFFFFFFFF)) // -1
	i4 := binary.LittleEndian.AppendUint32(nil, uint32(0xFFFFFFFE))       // -2
	i4 = binary.LittleEndian.AppendUint32(i4, 7)
	tests := []struct {
		name  string
		in    []byte
		shape []int
		want  []float32
	}{
		{"f4 v1", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", le32(1.5, -2)), []int{2}, []float32{1.5, -2}},
		{"f4 v2", rawNPY(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", le32(1.5, -2)), []int{1, 2}, []float32{1.5, -2}},
		{"f4 v3", rawNPY(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", le32(1.5, -2)), []int{2, 1}, []float32{1.5, -2}},
		{"f8", rawNPY(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8), []int{2}, []float32{0.1, float32(math.Inf(1))}},
		{"i8", rawNPY(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8), []int{2}, []float32{1 << 40, -1}},
		{"i4", rawNPY(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", i4), []int{2}, []float32{-2, 7}},
		{"u1", rawNPY(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", []byte{0, 128, 255}), []int{3}, []float32{0, 128, 255}},
		{"keys reordered, double quotes, no trailing comma", rawNPY(1, `{"shape": (2,), "fortran_order": False, "descr": "<f4"}`, le32(1, 2)), []int{2}, []float32{1, 2}},
		{"python2 long dims", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", le32(1, 2)), []int{2}, []float32{1, 2}},
		{"scalar", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", le32(9)), []int{}, []float32{9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			shape, data, err := Decode(bytes.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shape, tc.shape) {
				t.Errorf("shape = %v, want %v", shape, tc.shape)
			}
			if !sameFloats(data, tc.want) {
				t.Errorf("data = %v, want %v", data, tc.want)
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", le32(1, 2))
	hugeV2 := append([]byte(magic+"\x02\x00"), binary.LittleEndian.AppendUint32(nil, 1<<30)...)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "not a .npy file"},
		{"short", []byte("\x93NUM"), "not a .npy file"},
		{"bad magic", append([]byte("\x93NUMPZ"), good[6:]...), "magic"},
		{"bad version", append([]byte(magic+"\x04\x00"), good[8:]...), "format version 4.0"},
		{"truncated length", []byte(magic + "\x01\x00\x05"), "truncated header"},
		{"truncated header", good[:40], "truncated header"},
		{"header length over limit", hugeV2, "over the limit"},
		{"not a dict", rawNPY(1, "descr", nil), "want '{'"},
		{"missing key", rawNPY(1, "{'descr': '<f4', 'shape': (2,), }", le32(1, 2)), `missing key "fortran_order"`},
		{"unknown key", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", le32(1, 2)), `unexpected key "x"`},
		{"duplicate key", rawNPY(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", le32(1, 2)), "duplicate key"},
		{"negative dim", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", le32(1, 2)), "non-negative integer"},
		{"bad fortran value", rawNPY(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", le32(1, 2)), "True or False"},
		{"unterminated string", rawNPY(1, "{'descr: <f4}", nil), "unterminated"},
		{"trailing text", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", le32(1, 2)), "after '}'"},
		{"dimension overflow", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", nil), "dimension"},
		{"shape overflow", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", nil), "overflows"},
		{"big-endian", rawNPY(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", le32(1, 2)), "big-endian"},
		{"unsupported dtype", rawNPY(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", []byte{0, 1}), `dtype "|b1" is not supported`},
		{"fortran order", rawNPY(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }", le32(1, 2)), "fortran_order True"},
		{"truncated data", good[:len(good)-1], "data is truncated"},
		{"huge shape, short stream", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }", le32(1, 2)), "data is truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decode(bytes.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDecodeSequential(t *testing.T) {
	var buf bytes.Buffer
	for i := 1; i <= 3; i++ {
		if err := Encode(&buf, []int{i}, seq(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		shape, data, err := Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(shape, []int{i}) || !sameFloats(data, seq(i)) {
			t.Fatalf("array %d: shape %v data %v", i, shape, data)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes left", buf.Len())
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	trailing := filepath.Join(dir, "trailing.npy")
	b := append(rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", le32(1)), 0)
	if err := os.WriteFile(trailing, b, 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.npy")
	if err := os.WriteFile(corrupt, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.npy"), []string{"nope.npy", "no such file"}},
		{"trailing bytes", trailing, []string{"trailing.npy", "unexpected bytes after the array data"}},
		{"corrupt", corrupt, []string{"corrupt.npy", "not a .npy file"}},
		{"directory", dir, []string{"not a .npy file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Read(tc.path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	if err := Write(path, []int{2}, seq(2)); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []int{3}, seq(3)); err != nil { // overwrite
		t.Fatal(err)
	}
	// A failed write leaves the old file and no temporary files.
	if err := Write(path, []int{4}, seq(3)); err == nil || !strings.Contains(err.Error(), "x.npy") {
		t.Errorf("bad write error = %v", err)
	}
	shape, data, err := Read(path)
	if err != nil || !reflect.DeepEqual(shape, []int{3}) || !sameFloats(data, seq(3)) {
		t.Errorf("after overwrite: %v %v %v", shape, data, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(ents))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v", fi.Mode(), err)
	}
	if err := Write(filepath.Join(dir, "no", "dir.npy"), []int{1}, seq(1)); err == nil || !strings.Contains(err.Error(), "dir.npy") {
		t.Errorf("write into missing dir error = %v", err)
	}
}

// TestNumPyFiles checks files written by numpy itself and checks that numpy
// reads a file written by Write.
func TestNumPyFiles(t *testing.T) {
	py := pyref.RequireModules(t, "numpy")
	dir := t.TempDir()
	gopath := filepath.Join(dir, "go.npy")
	godata := seq(24)
	godata[5] = float32(math.NaN())
	if err := Write(gopath, []int{2, 3, 4}, godata); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, numpy as np
d = sys.argv[1]
a = np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 0.5 - 3
np.save(d + '/f4.npy', a.astype('<f4'))
np.save(d + '/f8.npy', a)
np.save(d + '/i8.npy', np.arange(-12, 12, dtype='<i8').reshape(4, 6))
np.save(d + '/i4.npy', np.arange(-12, 12, dtype='<i4').reshape(4, 6))
np.save(d + '/u1.npy', np.arange(0, 240, 10, dtype=np.uint8).reshape(2, 12))
np.save(d + '/scalar.npy', np.float32(2.5))
np.save(d + '/empty.npy', np.zeros((0, 3), np.float32))
with open(d + '/v2.npy', 'wb') as f:
    np.lib.format.write_array(f, a.astype('<f4'), version=(2, 0))
with open(d + '/v3.npy', 'wb') as f:
    np.lib.format.write_array(f, a.astype('<f4'), version=(3, 0))
np.save(d + '/fortran.npy', np.asfortranarray(a.astype('<f4')))
np.save(d + '/big.npy', a.astype('>f4'))
np.save(d + '/bool.npy', np.ones(3, bool))
g = np.load(d + '/go.npy')
assert g.dtype == np.dtype('<f4'), g.dtype
assert g.shape == (2, 3, 4), g.shape
assert g.flags['C_CONTIGUOUS']
want = (np.arange(24, dtype=np.float32) * np.float32(0.25) - np.float32(3)).reshape(2, 3, 4)
want.flat[5] = np.nan
assert np.array_equal(g, want, equal_nan=True), g
print('ok')
`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python: %v\n%s", err, out)
	}
	a := make([]float32, 24)
	for i := range a {
		a[i] = float32(i)*0.5 - 3
	}
	ints := make([]float32, 24)
	for i := range ints {
		ints[i] = float32(i - 12)
	}
	u1 := make([]float32, 24)
	for i := range u1 {
		u1[i] = float32(10 * i)
	}
	ok := []struct {
		file  string
		shape []int
		data  []float32
	}{
		{"f4.npy", []int{2, 3, 4}, a},
		{"f8.npy", []int{2, 3, 4}, a},
		{"i8.npy", []int{4, 6}, ints},
		{"i4.npy", []int{4, 6}, ints},
		{"u1.npy", []int{2, 12}, u1},
		{"scalar.npy", []int{}, []float32{2.5}},
		{"empty.npy", []int{0, 3}, []float32{}},
		{"v2.npy", []int{2, 3, 4}, a},
		{"v3.npy", []int{2, 3, 4}, a},
	}
	for _, tc := range ok {
		t.Run(tc.file, func(t *testing.T) {
			shape, data, err := Read(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shape, tc.shape) || !sameFloats(data, tc.data) {
				t.Errorf("got shape %v data %v, want %v %v", shape, data, tc.shape, tc.data)
			}
		})
	}
	bad := []struct{ file, want string }{
		{"fortran.npy", "fortran_order True"},
		{"big.npy", "big-endian"},
		{"bool.npy", "not supported"},
	}
	for _, tc := range bad {
		t.Run(tc.file, func(t *testing.T) {
			_, _, err := Read(filepath.Join(dir, tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error = %v, want it to name the file and contain %q", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, shape := range [][]int{{}, {3}, {2, 2}, {0, 5}} {
		n, _ := count(shape)
		var buf bytes.Buffer
		if err := Encode(&buf, shape, seq(n)); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add(rawNPY(3, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)))
	f.Add(rawNPY(2, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", []byte{1, 2}))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		shape, data, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		n, cerr := count(shape)
		if cerr != nil || n != len(data) {
			t.Fatalf("shape %v but %d values", shape, len(data))
		}
		// Whatever decodes must re-encode and decode to the same thing.
		var buf bytes.Buffer
		if err := Encode(&buf, shape, data); err != nil {
			t.Fatal(err)
		}
		shape2, data2, err := Decode(&buf)
		if err != nil || !reflect.DeepEqual(shape, shape2) || !sameFloats(data, data2) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
