package checkpoint

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fuzz seeds: the committed fixtures (written by testdata/make_cases.py) and
// a few hand-made files.
var fuzzFixtures = []string{
	"testdata/tiny.pth", "testdata/tiny_legacy.pth", "testdata/tiny_wrapped.pth", "testdata/tiny_st.safetensors",
}

func FuzzReadSafetensors(f *testing.F) {
	f.Add(mustRead(f, "testdata/tiny_st.safetensors"))
	f.Add(stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32bytes(1, 2)))
	f.Add(stFile(`{"__metadata__":{"a":"b"},"x":{"dtype":"BF16","shape":[1,1],"data_offsets":[0,2]}}`, []byte{1, 2}))
	f.Add(stFile(`{}`, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := ReadSafetensors(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "checkpoint: ") {
				t.Fatalf("unprefixed error %v", err)
			}
			return
		}
		checkConsistent(t, ck)
	})
}

// FuzzLoadPyTorch writes the fuzz input to a file and loads it: any bytes
// must give a checkpoint or an error naming the file, never a panic.
func FuzzLoadPyTorch(f *testing.F) {
	for _, p := range fuzzFixtures {
		b := mustRead(f, p)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.pth")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := Load(p)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `checkpoint "`+p+`": `) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkConsistent(t, ck)
	})
}

// FuzzTorchPickle fuzzes the pickle inside a valid zip checkpoint (which
// FuzzLoadPyTorch rarely reaches past the zip CRC checks): the input
// replaces data.pkl of tiny.pth, whose storage records stay.
func FuzzTorchPickle(f *testing.F) {
	pth := mustRead(f, "testdata/tiny.pth")
	zr, err := zip.NewReader(bytes.NewReader(pth), int64(len(pth)))
	if err != nil {
		f.Fatal(err)
	}
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "data.pkl") {
			rc, _ := zf.Open()
			var buf bytes.Buffer
			buf.ReadFrom(rc)
			rc.Close()
			f.Add(buf.Bytes())
		}
	}
	f.Add([]byte("\x80\x02}q\x00."))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, pkl []byte) {
		data := rezip(t, pth, func(name string, d []byte) []byte {
			if strings.HasSuffix(name, "data.pkl") {
				return pkl
			}
			return d
		})
		p := filepath.Join(dir, "fuzz.pth")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := Load(p)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `checkpoint "`+p+`": `) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkConsistent(t, ck)
	})
}

// checkConsistent fails t unless every named tensor of ck exists and holds
// as many values as its shape says.
func checkConsistent(t *testing.T, ck *Checkpoint) {
	t.Helper()
	for _, n := range ck.Names {
		tn := ck.Tensors[n]
		if tn == nil || len(tn.Data) != tn.NumElements() {
			t.Fatalf("tensor %q inconsistent", n)
		}
	}
}
