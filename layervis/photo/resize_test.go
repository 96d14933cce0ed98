package photo

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/internal/pyref"
)

func TestResizeAreaHandComputed(t *testing.T) {
	// 4x2 → 2x1 is a 2x box average; 4x4 → 2x2 likewise.
	// Channel c of pixel (x,y) is 10*y + x + 100*c.
	mk := func(w, h int) *RGB {
		m := &RGB{W: w, H: h, Pix: make([]float32, 3*w*h)}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for c := 0; c < 3; c++ {
					m.Pix[3*(y*w+x)+c] = float32(10*y + x + 100*c)
				}
			}
		}
		return m
	}
	tests := []struct {
		name         string
		sw, sh, w, h int
		want         []float32 // channel 0 only; channel c adds 100*c
	}{
		// (0+1+10+11)/4 = 5.5, (2+3+12+13)/4 = 7.5
		{"4x2 to 2x1", 4, 2, 2, 1, []float32{5.5, 7.5}},
		// rows 0-1 and 2-3: 5.5, 7.5 / 25.5, 27.5
		{"4x4 to 2x2", 4, 4, 2, 2, []float32{5.5, 7.5, 25.5, 27.5}},
		// 3x1 → 1x1 (integer 3x): mean of 0,1,2 = 1
		{"3x1 to 1x1", 3, 1, 1, 1, []float32{1}},
		// 3x1 → 2x1 (1.5x, area weights): cell 0 covers x∈[0,1.5): (0 + 0.5·1)/1.5 = 1/3;
		// cell 1 covers [1.5,3): (0.5·1 + 2)/1.5 = 5/3.
		{"3x1 to 2x1", 3, 1, 2, 1, []float32{1. / 3, 5. / 3}},
		// 2x1 → 4x1 (enlarging, scale 0.5): fx = (dx+1) − (sx+1)·2 is ≤ 0 for
		// dx = 0, 1 (sx = 0), and sx = 1 is the last column for dx = 2, 3,
		// so pixels are replicated: 0, 0, 1, 1.
		{"2x1 to 4x1", 2, 1, 4, 1, []float32{0, 0, 1, 1}},
		{"identity", 3, 2, 3, 2, []float32{0, 1, 2, 10, 11, 12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mk(tc.sw, tc.sh).ResizeArea(tc.w, tc.h)
			if out.W != tc.w || out.H != tc.h || len(out.Pix) != 3*tc.w*tc.h {
				t.Fatalf("got %dx%d with %d values", out.W, out.H, len(out.Pix))
			}
			for i, w := range tc.want {
				for c := 0; c < 3; c++ {
					want := float64(w + 100*float32(c))
					if got := out.Pix[3*i+c]; math.Abs(float64(got)-want) > 1e-6*math.Max(1, want) {
						t.Errorf("pixel %d channel %d = %v, want %v", i, c, got, want)
					}
				}
			}
		})
	}
}

func TestResizeAreaUpscaleCoeffs(t *testing.T) {
	// 3 → 7: scale = 3/7, inv = 7/3. By hand:
	// dx sx fx=(dx+1)-(sx+1)·7/3   → weight of sx+1
	// 0  0  1-7/3 < 0              → 0
	// 1  0  2-7/3 < 0              → 0
	// 2  0  3-7/3 = 2/3            → 2/3
	// 3  1  4-14/3 < 0             → 0
	// 4  1  5-14/3 = 1/3           → 1/3
	// 5  2  6-7 < 0                → 0
	// 6  2  7-7 = 0                → 0
	ofs, fs := areaLinearCoeffs(7, 3./7, 7./3)
	wantOfs := []int{0, 0, 0, 1, 1, 2, 2}
	wantF := []float32{0, 0, 2. / 3, 0, 1. / 3, 0, 0}
	for i := range wantOfs {
		if ofs[i] != wantOfs[i] || math.Abs(float64(fs[i]-wantF[i])) > 1e-6 {
			t.Errorf("dx=%d: sx=%d fx=%v, want %d %v", i, ofs[i], fs[i], wantOfs[i], wantF[i])
		}
	}
}

func TestResizeAreaPanics(t *testing.T) {
	m := &RGB{W: 2, H: 2, Pix: make([]float32, 12)}
	for _, tc := range []struct {
		m    *RGB
		w, h int
	}{{m, 0, 1}, {m, 1, -1}, {&RGB{}, 1, 1}, {&RGB{W: 2, H: 2}, 1, 1}} {
		for name, f := range map[string]func(int, int) *RGB{"ResizeArea": tc.m.ResizeArea, "ResizeArea8": tc.m.ResizeArea8} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s(%d, %d) of %dx%d did not panic", name, tc.w, tc.h, tc.m.W, tc.m.H)
					}
				}()
				f(tc.w, tc.h)
			}()
		}
	}
}

func writeF32(t *testing.T, path string, v []float32) {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readF32(t *testing.T, path string) []float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// resizeCase is one cv2.resize call: the SW×SH×3 image in file In,
// resized to W×H into file Out.
type resizeCase struct {
	Name    string
	SW, SH  int
	W, H    int
	In, Out string
}

// resizeWithOpenCV runs cv2.resize(..., interpolation=cv2.INTER_AREA) with
// python py on each case's raw image of dtype ("<f4" or "u1"), writing the
// same dtype.
func resizeWithOpenCV(t *testing.T, py string, cases []resizeCase, dtype string) {
	t.Helper()
	spec, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	script := `
import sys, json, numpy as np, cv2
dt = np.dtype(sys.argv[2])
for c in json.loads(sys.argv[1]):
    a = np.fromfile(c['In'], dtype=dt).reshape(c['SH'], c['SW'], 3)
    r = cv2.resize(a, (c['W'], c['H']), interpolation=cv2.INTER_AREA)
    assert r.dtype == dt and r.shape == (c['H'], c['W'], 3), (r.dtype, r.shape)
    r.tofile(c['Out'])
`
	if out, err := exec.Command(py, "-c", script, string(spec), dtype).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
}

// TestResizeAreaMatchesOpenCV runs cv2.resize(..., INTER_AREA) on random
// float32 images and compares.
func TestResizeAreaMatchesOpenCV(t *testing.T) {
	py := pyref.RequireModules(t, "numpy", "cv2")
	cases := []resizeCase{
		{Name: "enlarge 500x375 to 512x512", SW: 500, SH: 375, W: 512, H: 512},
		{Name: "shrink non-integer 640x427 to 224x224", SW: 640, SH: 427, W: 224, H: 224},
		{Name: "shrink 7x5 to 3x2", SW: 7, SH: 5, W: 3, H: 2},
		{Name: "enlarge 3x2 to 7x5", SW: 3, SH: 2, W: 7, H: 5},
		{Name: "shrink integer 8x6 to 4x3", SW: 8, SH: 6, W: 4, H: 3},
		{Name: "shrink integer 3x 12x9 to 4x3", SW: 12, SH: 9, W: 4, H: 3},
		{Name: "shrink integer x only 8x5 to 4x2", SW: 8, SH: 5, W: 4, H: 2},
		{Name: "mixed shrink x enlarge y 640x200 to 224x224", SW: 640, SH: 200, W: 224, H: 224},
		{Name: "mixed enlarge x shrink y 200x640 to 224x224", SW: 200, SH: 640, W: 224, H: 224},
		{Name: "enlarge integer 6x4 to 12x8", SW: 6, SH: 4, W: 12, H: 8},
		{Name: "enlarge 1x1 to 3x2", SW: 1, SH: 1, W: 3, H: 2},
		{Name: "shrink to one pixel 9x7 to 1x1", SW: 9, SH: 7, W: 1, H: 1},
		{Name: "same size 5x4", SW: 5, SH: 4, W: 5, H: 4},
		{Name: "enlarge width only 5x4 to 8x4", SW: 5, SH: 4, W: 8, H: 4},
		{Name: "shrink width only 8x4 to 5x4", SW: 8, SH: 4, W: 5, H: 4},
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := make([]*RGB, len(cases))
	for i := range cases {
		c := &cases[i]
		m := &RGB{W: c.SW, H: c.SH, Pix: make([]float32, 3*c.SW*c.SH)}
		for j := range m.Pix {
			m.Pix[j] = rng.Float32()
		}
		inputs[i] = m
		c.In = filepath.Join(dir, fmt.Sprintf("in%d.f32", i))
		c.Out = filepath.Join(dir, fmt.Sprintf("out%d.f32", i))
		writeF32(t, c.In, m.Pix)
	}
	resizeWithOpenCV(t, py, cases, "<f4")
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want := readF32(t, c.Out)
			got := inputs[i].ResizeArea(c.W, c.H)
			if got.W != c.W || got.H != c.H || len(got.Pix) != len(want) {
				t.Fatalf("got %dx%d with %d values, OpenCV %d values", got.W, got.H, len(got.Pix), len(want))
			}
			maxDiff, at := 0.0, 0
			for j := range want {
				if d := math.Abs(float64(got.Pix[j] - want[j])); d > maxDiff || math.IsNaN(d) {
					maxDiff, at = d, j
				}
			}
			if maxDiff >= 1e-5 {
				p := at / 3
				t.Errorf("max |diff| = %g at pixel (%d,%d) channel %d: got %v, OpenCV %v",
					maxDiff, p%c.W, p/c.W, at%3, got.Pix[at], want[at])
			}
			t.Logf("max |diff| = %g", maxDiff)
		})
	}
}

// TestResizeArea8MatchesOpenCV runs cv2.resize(..., INTER_AREA) on uint8
// images (what the Mind's Eye reference resizes) and compares bit for bit:
// halving, other integer and non-integer shrinks, enlargements (integer and
// not) and mixed cases, at photo sizes and small ones.
func TestResizeArea8MatchesOpenCV(t *testing.T) {
	py := pyref.RequireModules(t, "numpy", "cv2")
	cases := []resizeCase{
		{Name: "halve 1024x1024 to 512x512", SW: 1024, SH: 1024, W: 512, H: 512},
		{Name: "halve odd widths 14x6 to 7x3", SW: 14, SH: 6, W: 7, H: 3},
		{Name: "shrink integer 3x 1536x1536 to 512x512", SW: 1536, SH: 1536, W: 512, H: 512},
		{Name: "shrink integer 2x3 8x9 to 4x3", SW: 8, SH: 9, W: 4, H: 3},
		{Name: "shrink integer x only 8x5 to 4x2", SW: 8, SH: 5, W: 4, H: 2},
		{Name: "shrink non-integer 800x600 to 512x512", SW: 800, SH: 600, W: 512, H: 512},
		{Name: "shrink 7x5 to 3x2", SW: 7, SH: 5, W: 3, H: 2},
		{Name: "enlarge 500x375 to 512x512", SW: 500, SH: 375, W: 512, H: 512},
		{Name: "enlarge 300x200 to 512x512", SW: 300, SH: 200, W: 512, H: 512},
		{Name: "enlarge integer 256x256 to 512x512", SW: 256, SH: 256, W: 512, H: 512},
		{Name: "enlarge integer 3x 6x4 to 18x12", SW: 6, SH: 4, W: 18, H: 12},
		{Name: "enlarge 3x2 to 7x5", SW: 3, SH: 2, W: 7, H: 5},
		{Name: "mixed 640x427 to 512x512", SW: 640, SH: 427, W: 512, H: 512},
		{Name: "mixed 427x640 to 512x512", SW: 427, SH: 640, W: 512, H: 512},
		{Name: "mixed integer 1024x256 to 512x512", SW: 1024, SH: 256, W: 512, H: 512},
		{Name: "enlarge 1x1 to 3x2", SW: 1, SH: 1, W: 3, H: 2},
		{Name: "shrink to one pixel 9x7 to 1x1", SW: 9, SH: 7, W: 1, H: 1},
		{Name: "same size 5x4", SW: 5, SH: 4, W: 5, H: 4},
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := make([]*RGB, len(cases))
	for i := range cases {
		c := &cases[i]
		m := &RGB{W: c.SW, H: c.SH, Pix: make([]float32, 3*c.SW*c.SH)}
		b := make([]byte, len(m.Pix))
		for j := range m.Pix {
			// Half the cases smooth (a photo's neighbours are close), half noise.
			v := rng.IntN(256)
			if i%2 == 0 {
				p := j / 3
				v = (p%c.SW*255/c.SW + p/c.SW*97/c.SH + 40*(j%3) + rng.IntN(9)) % 256
			}
			b[j] = byte(v)
			m.Pix[j] = float32(v) / 255
		}
		inputs[i] = m
		c.In = filepath.Join(dir, fmt.Sprintf("in%d.u8", i))
		c.Out = filepath.Join(dir, fmt.Sprintf("out%d.u8", i))
		if err := os.WriteFile(c.In, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	resizeWithOpenCV(t, py, cases, "u1")
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want, err := os.ReadFile(c.Out)
			if err != nil {
				t.Fatal(err)
			}
			got := inputs[i].ResizeArea8(c.W, c.H)
			if got.W != c.W || got.H != c.H || len(got.Pix) != len(want) {
				t.Fatalf("got %dx%d with %d values, OpenCV %d values", got.W, got.H, len(got.Pix), len(want))
			}
			n, first := 0, -1
			for j, w := range want {
				if v := got.Pix[j] * 255; float32(w) != float32(math.Round(float64(v))) || math.Abs(float64(v)-float64(w)) > 1e-3 {
					if n++; first < 0 {
						first = j
					}
				}
			}
			if n > 0 {
				p := first / 3
				t.Errorf("%d of %d values differ; first at pixel (%d,%d) channel %d: got %v, OpenCV %d",
					n, len(want), p%c.W, p/c.W, first%3, got.Pix[first]*255, want[first])
			}
		})
	}
}
