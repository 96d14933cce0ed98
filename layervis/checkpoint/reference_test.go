package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// reference is the CASE.json written by testdata/make_cases.py.
type reference struct {
	File   string            `json:"file"`
	Bin    string            `json:"bin"`
	Format string            `json:"format"`
	Names  []string          `json:"names"`
	Shapes map[string][]int  `json:"shapes"`
	DTypes map[string]string `json:"dtypes"`
	Offset map[string]int    `json:"offset"`
}

// checkCase loads dir/CASE's checkpoint and compares it with the reference
// names, shapes, dtypes and values (bit for bit) that PyTorch wrote.
func checkCase(t *testing.T, dir, name string) *Checkpoint {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if ref.Bin == "" {
		ref.Bin = name + ".bin"
	}
	bin, err := os.ReadFile(filepath.Join(dir, ref.Bin))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ref.File)
	ck, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", ref.File, err)
	}
	if ck.Format != ref.Format {
		t.Errorf("%s: format %q, want %q", ref.File, ck.Format, ref.Format)
	}
	if ck.Path != path {
		t.Errorf("%s: Path %q, want %q", ref.File, ck.Path, path)
	}
	if !reflect.DeepEqual(ck.Names, ref.Names) {
		t.Fatalf("%s: names\n got %q\nwant %q", ref.File, ck.Names, ref.Names)
	}
	if len(ck.Tensors) != len(ref.Names) {
		t.Errorf("%s: %d tensors in map, want %d", ref.File, len(ck.Tensors), len(ref.Names))
	}
	for _, n := range ref.Names {
		tn, ok := ck.Get(n)
		if !ok {
			t.Fatalf("%s: Get(%q) missing", ref.File, n)
		}
		wantShape := ref.Shapes[n]
		if wantShape == nil {
			wantShape = []int{}
		}
		if tn.Name != n || !reflect.DeepEqual(tn.Shape, wantShape) || tn.DType != ref.DTypes[n] {
			t.Errorf("%s: tensor %q: name %q shape %v dtype %s, want shape %v dtype %s",
				ref.File, n, tn.Name, tn.Shape, tn.DType, wantShape, ref.DTypes[n])
			continue
		}
		if len(tn.Data) != tn.NumElements() {
			t.Errorf("%s: tensor %q: %d values for shape %v", ref.File, n, len(tn.Data), tn.Shape)
			continue
		}
		off := ref.Offset[n]
		bad := 0
		for i, v := range tn.Data {
			want := binary.LittleEndian.Uint32(bin[4*(off+i):])
			if math.Float32bits(v) != want {
				if bad < 3 {
					t.Errorf("%s: tensor %q[%d] = %v, want %v", ref.File, n, i, v, math.Float32frombits(want))
				}
				bad++
			}
		}
		if bad > 3 {
			t.Errorf("%s: tensor %q: %d values differ", ref.File, n, bad)
		}
	}
	return ck
}
