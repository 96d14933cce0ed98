package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tiny* fixtures were written once by `python3 testdata/make_cases.py
// tiny --out testdata` (torch 1.13) and are committed, so these tests need no
// PyTorch.
func TestFixtures(t *testing.T) {
	for _, c := range []string{"tiny", "tiny_legacy", "tiny_wrapped", "tiny_st"} {
		t.Run(c, func(t *testing.T) { checkCase(t, "testdata", c) })
	}
}

func TestFixtureDetails(t *testing.T) {
	ck, err := Load("testdata/tiny.pth")
	if err != nil {
		t.Fatal(err)
	}
	// Spot checks that do not depend on the reference files.
	for name, want := range map[string][]float32{
		"int64":        {0, -1, float32(int64(1)<<40 + 1), -(1 << 35)},
		"int16":        {-32768, 5, 32767},
		"int8":         {-128, 0, 127},
		"uint8":        {0, 7, 255},
		"bool":         {1, 0, 1},
		"scalar":       {3.5},
		"int32":        {-3, 0, -2, 1, -1, 2}, // arange(-3,3).reshape(2,3).t()
		"empty":        {},
		"half_special": {0, float32(math.Copysign(0, -1)), 5.9604645e-08, 1.001358e-05, 65504, float32(math.Inf(1)), float32(math.Inf(-1)), 0.33325195},
	} {
		tn, ok := ck.Get(name)
		if !ok {
			t.Fatalf("missing %q", name)
		}
		if len(tn.Data) != len(want) {
			t.Fatalf("%s: %v, want %v", name, tn.Data, want)
		}
		for i := range want {
			if math.Float32bits(tn.Data[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s[%d] = %v, want %v", name, i, tn.Data[i], want[i])
			}
		}
	}
	if tn, _ := ck.Get("scalar"); len(tn.Shape) != 0 {
		t.Errorf("scalar shape %v, want []", tn.Shape)
	}
	if tn, _ := ck.Get("num_batches_tracked"); tn.DType != "int64" || tn.Data[0] != 7 {
		t.Errorf("num_batches_tracked: %+v", tn)
	}
	if _, ok := ck.Get("nope"); ok {
		t.Error("Get of a missing name succeeded")
	}
	var nilCk *Checkpoint
	if _, ok := nilCk.Get("x"); ok {
		t.Error("Get on nil checkpoint succeeded")
	}
}

func TestFloat16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got := float16to32(uint16(h))
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		e, m := (h>>10)&0x1f, h&0x3ff
		var want float64
		switch {
		case e == 0x1f && m == 0:
			want = math.Inf(int(sign))
		case e == 0x1f:
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: %v, want NaN", h, got)
			}
			continue
		case e == 0:
			want = sign * math.Ldexp(float64(m), -24)
		default:
			want = sign * math.Ldexp(float64(m|0x400), e-25)
		}
		if float64(got) != want || math.Signbit(float64(got)) != (sign < 0) {
			t.Fatalf("%#04x: %v, want %v", h, got, want)
		}
	}
}

func TestGatherStrided(t *testing.T) {
	// A 2x3 view with strides (1, 2) at offset 1 of 0..9: elements 1,3,5 / 2,4,6.
	dst := make([]float32, 6)
	gatherStrided(dst, []int{2, 3}, []int{1, 2}, 1, func(i int) float32 { return float32(i) })
	want := []float32{1, 3, 5, 2, 4, 6}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("got %v, want %v", dst, want)
		}
	}
	if !isContiguous([]int{2, 1, 3}, []int{3, 99, 1}) || isContiguous([]int{2, 3}, []int{1, 2}) {
		t.Error("isContiguous wrong")
	}
}

// writeTemp writes data to a temporary file called name and returns its path.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustRead reads a fixture.
func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rezip rewrites a zip archive, passing each record's content through edit
// (records keep their names and are stored uncompressed, with valid CRCs).
func rezip(t testing.TB, archive []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if data = edit(f.Name, data); data == nil {
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLoadErrors(t *testing.T) {
	pth := mustRead(t, "testdata/tiny.pth")
	legacy := mustRead(t, "testdata/tiny_legacy.pth")
	st := mustRead(t, "testdata/tiny_st.safetensors")
	flipped := append([]byte{}, pth...)
	flipped[len(flipped)/3] ^= 0xff // inside a stored record: CRC mismatch

	editPkl := func(f func([]byte) []byte) []byte {
		return rezip(t, pth, func(name string, d []byte) []byte {
			if strings.HasSuffix(name, "data.pkl") {
				return f(append([]byte{}, d...))
			}
			return d
		})
	}
	dropRecord := func(suffix string) []byte {
		return rezip(t, pth, func(name string, d []byte) []byte {
			if strings.HasSuffix(name, suffix) {
				return nil
			}
			return d
		})
	}
	resize := rezip(t, pth, func(name string, d []byte) []byte {
		if strings.HasSuffix(name, "/data/0") {
			return d[:len(d)-4]
		}
		return d
	})
	torchScript := rezip(t, pth, func(name string, d []byte) []byte { return d })
	{
		zr, _ := zip.NewReader(bytes.NewReader(torchScript), int64(len(torchScript)))
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, f := range zr.File {
			zw.Copy(f)
		}
		w, _ := zw.Create("tiny/constants.pkl")
		w.Write([]byte("\x80\x02).")) // empty tuple
		zw.Close()
		torchScript = buf.Bytes()
	}
	plainPickle := []byte("\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.")
	// A zip whose data.pkl is a list, not a dict.
	listPkl := editPkl(func([]byte) []byte { return []byte("\x80\x02]q\x00.") })
	noTensors := editPkl(func([]byte) []byte {
		return []byte("\x80\x02}q\x00(X\x05\x00\x00\x00epochq\x01K\x03X\x05\x00\x00\x00modelq\x02NU\x01xK\x01u.")
	})
	hugeBytes := editPkl(func([]byte) []byte { return []byte("\x80\x02B\xff\xff\xff\x7f.") })
	hugeBytes8 := editPkl(func([]byte) []byte { return []byte("\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.") })
	hugeFrame := editPkl(func([]byte) []byte { return []byte("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x10\x00N.") })
	hugeLong := editPkl(func([]byte) []byte {
		return append([]byte("\x80\x02\x8b\x00\x00\x10\x00"), make([]byte, 1<<20)...)
	})
	badOpcode := editPkl(func([]byte) []byte { return []byte("\x80\x02\xff.") })
	// Storage numel claims 2^40 floats: must be rejected before allocating.
	bigStorage := editPkl(func(d []byte) []byte {
		i := bytes.Index(d, []byte("cpuq"))
		if i < 0 {
			t.Fatal("no cpu location in data.pkl")
		}
		j := bytes.IndexByte(d[i:], 'K') + i // BININT1 numel after the location
		out := append([]byte{}, d[:j]...)
		out = append(out, 'J', 0, 0, 0, 0x7f) // BININT 2^31-ish ... still fits int
		out = append(out, d[j+2:]...)
		return out
	})
	truncatedPkl := editPkl(func(d []byte) []byte { return d[:len(d)/2] })
	cases := []struct {
		name, file string
		data       []byte
		want       []string
	}{
		{"empty", "e.pth", nil, []string{"empty file", "accepted formats"}},
		{"text", "x.pth", []byte("hello world, not a checkpoint"), []string{"unrecognized file format", "accepted formats"}},
		{"plain pickle", "p.pkl", plainPickle, []string{"without torch's magic number", "accepted formats"}},
		{"zip cut in half", "half.pth", pth[:len(pth)/2], []string{"truncated or corrupt zip archive"}},
		{"zip cut at end", "cut.pth", pth[:len(pth)-10], []string{"zip"}},
		{"zip flipped byte", "flip.pth", flipped, []string{"checksum"}},
		{"legacy cut in half", "lh.pth", legacy[:len(legacy)/2], []string{"legacy checkpoint", "truncated"}},
		{"legacy cut near end", "le.pth", legacy[:len(legacy)-3], []string{"legacy checkpoint", "truncated storage"}},
		{"legacy cut in magic", "lm.pth", legacy[:8], []string{"magic number"}},
		{"safetensors cut", "s.safetensors", st[:len(st)-5], []string{"outside data area"}},
		{"missing storage record", "m.pth", dropRecord("/data/0"), []string{`record tiny/data/0 missing`}},
		{"missing data.pkl", "d.pth", dropRecord("data.pkl"), []string{"without data.pkl"}},
		{"storage record wrong size", "r.pth", resize, []string{`storage "0"`, "holds 428 bytes"}},
		{"torchscript", "ts.pt", torchScript, []string{"TorchScript"}},
		{"list pickle", "l.pth", listPkl, []string{"a list, not a state dict"}},
		{"no tensors", "n.pth", noTensors, []string{"no tensors found", "epoch"}},
		{"huge BINBYTES", "hb.pth", hugeBytes, []string{"runs past the end"}},
		{"huge BINBYTES8", "hb8.pth", hugeBytes8, []string{"runs past the end"}},
		{"huge FRAME", "hf.pth", hugeFrame, []string{"frame"}},
		{"huge LONG4", "hl.pth", hugeLong, []string{"LONG4"}},
		{"bad opcode", "bo.pth", badOpcode, []string{"invalid pickle opcode 0xff"}},
		{"storage size bogus", "bs.pth", bigStorage, []string{"zip record holds"}},
		{"pickle truncated", "pt.pth", truncatedPkl, []string{"data.pkl", "pickle"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, c.file, c.data)
			ck, err := Load(p)
			if err == nil {
				t.Fatalf("Load succeeded with %d tensors", len(ck.Names))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `checkpoint "`+p+`": `) {
				t.Errorf("error does not name the file: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.pth"))
		if err == nil || !os.IsNotExist(unwrapAll(err)) || !strings.Contains(err.Error(), "nope.pth") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory") {
			t.Errorf("got %v", err)
		}
	})
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestCorruptPickle flips each byte of tiny.pth's data.pkl in turn (keeping
// the zip valid) and bytes of the legacy file, and cuts it at many lengths:
// decoding must never panic. (In memory, for speed; TestLoadErrors checks
// that Load's errors name the file.)
func TestCorruptPickle(t *testing.T) {
	pth := mustRead(t, "testdata/tiny.pth")
	var pkl []byte
	rezip(t, pth, func(name string, d []byte) []byte {
		if strings.HasSuffix(name, "data.pkl") {
			pkl = d
		}
		return d
	})
	fails := 0
	for i := range pkl {
		data := rezip(t, pth, func(name string, d []byte) []byte {
			if strings.HasSuffix(name, "data.pkl") {
				d = append([]byte{}, d...)
				d[i] ^= 0xff
			}
			return d
		})
		if _, err := loadTorchZip(bytes.NewReader(data), int64(len(data))); err != nil {
			fails++
		}
	}
	if fails < len(pkl)/2 {
		t.Errorf("only %d of %d corruptions detected", fails, len(pkl))
	}
	legacy := mustRead(t, "testdata/tiny_legacy.pth")
	for i := 0; i < len(legacy); i += 2 {
		d := append([]byte{}, legacy...)
		d[i] ^= 0xff
		loadTorchLegacy(bytes.NewReader(d), int64(len(d)))
		if _, err := loadTorchLegacy(bytes.NewReader(legacy[:i]), int64(i)); err == nil {
			t.Fatalf("legacy file cut at %d bytes loaded", i)
		}
	}
}

func TestDetectByContent(t *testing.T) {
	// Extensions are ignored: a safetensors file named .pth and a zip
	// checkpoint named .safetensors both load.
	for _, c := range []struct{ fixture, name, format string }{
		{"testdata/tiny_st.safetensors", "weights.pth", FormatSafetensors},
		{"testdata/tiny.pth", "weights.safetensors", FormatPyTorchZip},
		{"testdata/tiny_legacy.pth", "weights.bin", FormatPyTorchLegacy},
	} {
		ck, err := Load(writeTemp(t, c.name, mustRead(t, c.fixture)))
		if err != nil {
			t.Fatal(err)
		}
		if ck.Format != c.format {
			t.Errorf("%s as %s: format %s, want %s", c.fixture, c.name, ck.Format, c.format)
		}
	}
}

func TestByteOrderRecord(t *testing.T) {
	pth := mustRead(t, "testdata/tiny.pth")
	// Add a "byteorder" record as torch >= 2.1 writes; "big" makes Load swap.
	add := func(order string) []byte {
		zr, _ := zip.NewReader(bytes.NewReader(pth), int64(len(pth)))
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, f := range zr.File {
			zw.Copy(f)
		}
		w, _ := zw.Create("tiny/byteorder")
		w.Write([]byte(order))
		zw.Close()
		return buf.Bytes()
	}
	little, err := Load(writeTemp(t, "l.pth", add("little")))
	if err != nil {
		t.Fatal(err)
	}
	big, err := Load(writeTemp(t, "b.pth", add("big")))
	if err != nil {
		t.Fatal(err)
	}
	w := little.Tensors["0.weight"].Data[0]
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], math.Float32bits(w))
	if got := big.Tensors["0.weight"].Data[0]; math.Float32bits(got) != binary.BigEndian.Uint32(b[:]) {
		t.Errorf("big-endian read %v, want byte-swapped %v", got, w)
	}
	if _, err := Load(writeTemp(t, "x.pth", add("middle"))); err == nil || !strings.Contains(err.Error(), "byteorder") {
		t.Errorf("unknown byteorder: %v", err)
	}
}
