package display

import (
	"bytes"
	"encoding/gob"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"

	"github.com/layervis/layervis/layervis/cnn"
)

func TestChannels(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		name string
		data []float32 // [2 items, 2 channels, 2x2]
		item int
		n    int
		want [][]uint8 // per returned channel, row-major; worked out by hand
	}{
		// 255·(v−0)/10: 0, 127.5 → 128 (half to even), 63.75 → 64, 255.
		{"min-max", []float32{0, 5, 2.5, 10, -1, -1, -1, -1, 9, 9, 9, 9, 9, 9, 9, 9}, 0, 0,
			[][]uint8{{0, 128, 64, 255}, {0, 0, 0, 0}}},
		// 255·(v+3)/6 for -3, 0, 1.5, 3: 0, 127.5 → 128, 191.25 → 191, 255.
		{"second item, first channel", []float32{0, 0, 0, 0, 0, 0, 0, 0, -3, 0, 1.5, 3, 1, 2, 3, 4}, 1, 1,
			[][]uint8{{0, 128, 191, 255}}},
		// NaN and ±Inf do not widen the range and show black; 255·(v−2)/2 for 2, 3, 4: 0, 127.5 → 128, 255.
		{"non-finite", []float32{nan, 2, 3, 4, -inf, inf, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 2,
			[][]uint8{{0, 0, 128, 255}, {0, 0, 0, 0}}},
		// 255·v/510 for 0, 253, 510, 255: 0, 126.5 → 126 (half to even, not 127), 255, 127.5 → 128.
		{"ties to even", []float32{0, 253, 510, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 1,
			[][]uint8{{0, 126, 255, 128}}},
		// 255·(v−1)/3 for 1, 2, 2.5, 4: 0, 85, 127.5 → 128, 255; n beyond the channel count means all.
		{"n too large", []float32{1, 2, 2.5, 4, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 9,
			[][]uint8{{0, 85, 128, 255}, {0, 255, 0, 255}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			act := tensors.FromFlatDataAndDimensions(tc.data, 2, 2, 2, 2)
			cells, err := Channels(act, tc.item, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != len(tc.want) {
				t.Fatalf("%d images, want %d", len(cells), len(tc.want))
			}
			for i, c := range cells {
				g, ok := c.Image.(*image.Gray)
				if !ok || g.Bounds() != image.Rect(0, 0, 2, 2) {
					t.Fatalf("image %d: %T %v, want a 2x2 *image.Gray", i, c.Image, c.Image.Bounds())
				}
				if !bytes.Equal(g.Pix, tc.want[i]) {
					t.Errorf("channel %d: pixels %v, want %v", i, g.Pix, tc.want[i])
				}
				if c.Caption != []string{"0", "1"}[i] {
					t.Errorf("channel %d: caption %q", i, c.Caption)
				}
			}
		})
	}
}

func TestChannelsErrors(t *testing.T) {
	tests := []struct {
		name string
		act  *tensors.Tensor
		item int
		want string
	}{
		{"rank 3", tensors.FromFlatDataAndDimensions(make([]float32, 8), 2, 2, 2), 0, "[batch, channels, height, width]"},
		{"int32", tensors.FromFlatDataAndDimensions(make([]int32, 8), 1, 2, 2, 2), 0, "float32"},
		{"item", tensors.FromFlatDataAndDimensions(make([]float32, 8), 1, 2, 2, 2), 1, "batch item 1 out of range"},
		{"negative item", tensors.FromFlatDataAndDimensions(make([]float32, 8), 1, 2, 2, 2), -1, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Channels(tc.act, tc.item, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// testImage is a w×h image with distinct pixels.
func testImage(w, h int, seed uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x*40) + seed, uint8(y * 60), seed, 255})
		}
	}
	return img
}

// outside points the package at a temporary directory and buffer, as a
// program outside a notebook would use it.
func outside(t *testing.T) (dir string, lines *bytes.Buffer) {
	t.Helper()
	if InNotebook() {
		t.Fatal("test runs inside a notebook")
	}
	dir = filepath.Join(t.TempDir(), "display")
	lines = &bytes.Buffer{}
	SetDir(dir)
	SetOutput(lines)
	t.Cleanup(func() { SetDir(DefaultDir); SetOutput(os.Stdout) })
	return dir, lines
}

var fileRE = regexp.MustCompile(`→ (\S+)\n`)

func TestOutsideNotebook(t *testing.T) {
	img := testImage(5, 3, 7)
	layers := []cnn.Layer{{Name: "conv1", Kind: "Conv2d", Shape: []int{64, 112, 112}}, {Name: "fc", Kind: "Linear", Shape: []int{1000}}}
	tests := []struct {
		name  string
		show  func() error
		line  string   // substring of the printed line
		file  string   // suffix of the file written; "" for none
		parts []string // substrings of the file (or of the line when no file)
	}{
		{"image", func() error { return Image(img, "a caption") }, "image 5x3 a caption", "-image.png", nil},
		{"grid", func() error {
			return Grid{Title: "t<1>", Cells: []Cell{{img, "a"}, {img, "b&c"}}, Columns: 2}.Show()
		}, "grid of 2 images t<1>", "-grid.html", []string{"t&lt;1&gt;", "b&amp;c", "repeat(2,max-content)", `width="64"`}},
		{"gallery", func() error {
			return Gallery{Facets: []Facet{{Title: "facet 0", Initial: img, Snapshots: []Cell{{img, "iteration 200"}}, Final: img,
				Exemplars: []Cell{{img, "cat.jpg"}, {img, "dog.jpg"}}}}}.Show()
		}, "gallery of 1 facets", "-gallery.html", []string{"initial blend", "iteration 200", "final", "exemplars", "dog.jpg"}},
		{"scrubber", func() error {
			return Scrubber{Frames: []Frame{{"iteration 0", []image.Image{img}}, {"iteration 1", []image.Image{img, img}}}}.Show()
		}, "2 snapshots", "-snapshots.html", []string{`type="range" min="0" max="1" value="1"`, `data-label="iteration 1" style="display:flex`}},
		{"map", func() error {
			return Map{Title: "t-SNE", Points: []Point{{X: 0, Y: 0, Group: 0, Label: "a.jpg", Thumb: img}, {X: 1, Y: 2, Group: 1, Label: "b.jpg"}}}.Show()
		}, "map of 2 images t-SNE", "-map.html", []string{"<svg", "<title>a.jpg</title>", "facet 1 (1)", "facet 2 (1)"}},
		{"layers", func() error { return Layers("resnet", layers) }, "resnet\nNAME   KIND    SHAPE\nconv1  Conv2d  64×112×112\nfc     Linear  1000", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, lines := outside(t)
			if err := tc.show(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(lines.String(), tc.line) {
				t.Errorf("printed %q, want it to contain %q", lines.String(), tc.line)
			}
			if tc.file == "" {
				if entries, _ := os.ReadDir(dir); len(entries) > 0 {
					t.Errorf("wrote %d files, want none", len(entries))
				}
				return
			}
			m := fileRE.FindStringSubmatch(lines.String())
			if m == nil || !strings.HasSuffix(m[1], tc.file) || filepath.Dir(m[1]) != dir {
				t.Fatalf("printed %q, want it to name a file *%s in %s", lines.String(), tc.file, dir)
			}
			data, err := os.ReadFile(m[1])
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(tc.file, ".png") {
				back, err := png.Decode(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				if !sameImage(back, img) {
					t.Error("the PNG written differs from the image")
				}
			}
			for _, p := range tc.parts {
				if !bytes.Contains(data, []byte(p)) {
					t.Errorf("file lacks %q", p)
				}
			}
		})
	}
}

func sameImage(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}
	return true
}

func TestFilesAreNumbered(t *testing.T) {
	dir, _ := outside(t)
	for range 3 {
		if err := Image(testImage(2, 2, 0), ""); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d files, want 3 distinct ones", len(entries))
	}
}

func TestProgressOutside(t *testing.T) {
	dir, lines := outside(t)
	p := NewProgress("run", 0)
	img := testImage(4, 4, 1)
	steps := []Status{
		{Iteration: 0, Total: 4, Terms: []Term{{"loss", 2}, {"L1", 0.5}}}, // first update: printed
		{Iteration: 1, Total: 4, Terms: []Term{{"loss", 1.5}}},            // within a second: not printed
		{Iteration: 2, Total: 4, Images: []image.Image{img}},              // a snapshot: printed
		{Iteration: 3, Total: 4, Rate: 7},                                 // not printed
		{Iteration: 4, Total: 4, Images: []image.Image{img, img}},         // last iteration, a snapshot: printed
	}
	for _, s := range steps {
		if err := p.Update(s); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Split(strings.TrimSpace(lines.String()), "\n")
	want := []string{
		"run: iteration 0/4 (0%)  loss 2  L1 0.5",
		"run: iteration 2/4 (50%)",
		"run: iteration 4/4 (100%)",
	}
	if len(got) != len(want) {
		t.Fatalf("printed %q, want %d lines", got, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, got[i], w)
		}
	}
	if !strings.Contains(got[1], "it/s [snapshot 1]") || !strings.HasSuffix(got[2], "[snapshot 2]") {
		t.Errorf("snapshot lines %q lack the rate or snapshot number", got[1:])
	}
	lines.Reset()
	if err := p.Done(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lines.String(), "run: done, iteration 4/4 (100%)") || !strings.Contains(lines.String(), "2 snapshots") {
		t.Errorf("Done printed %q", lines.String())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-progress.html"))
	if len(files) != 1 {
		t.Fatalf("progress pages %v, want one", files)
	}
	data, _ := os.ReadFile(files[0])
	if n := strings.Count(string(data), `class="lv-frame"`); n != 2 {
		t.Errorf("%d frames in the page, want 2", n)
	}
	if n := strings.Count(string(data), "<img"); n != 3 {
		t.Errorf("%d images in the page, want 1+2", n)
	}
}

func TestMapHTML(t *testing.T) {
	img := testImage(3, 3, 2)
	m := Map{
		Groups: []string{"cats", "<dogs>"},
		Points: []Point{
			{X: -1, Y: 0, Group: 0, Label: "a.jpg", Thumb: img},
			{X: 1, Y: 5, Group: 1, Label: "<b>.jpg", Thumb: img, Exemplar: true},
			{X: 0, Y: 2, Group: -1, Label: "c.jpg"},
		},
	}
	h, err := m.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`fill="#1f77b4"`, `fill="#ff7f0e"`, `fill="#999999"`, // group colours, grey for no group
		"<title>&lt;b&gt;.jpg</title>", "&lt;dogs&gt;", "cats", // escaped labels, the legend
		`<g class="lv-th"><image`,           // a hover thumbnail
		`stroke="#ff7f0e" stroke-width="2"`, // the exemplar's frame, always shown
	} {
		if !strings.Contains(h, want) {
			t.Errorf("map lacks %q", want)
		}
	}
	if n := strings.Count(h, "<image "); n != 2 {
		t.Errorf("%d thumbnails, want 2", n)
	}
	if strings.Contains(h, "<b>.jpg") {
		t.Error("a label is not escaped")
	}
	m.Points[2].X = math.NaN()
	if _, err := m.HTML(); err == nil || !strings.Contains(err.Error(), `"c.jpg" has a non-finite coordinate`) {
		t.Errorf("NaN coordinate: error %v", err)
	}
}

// TestInNotebook runs the displays the way GoNB runs a cell: the messages
// go through the named pipes gonbui opens, and are checked as GoNB
// receives them. GoNB stops reading when the cell's program exits, so each
// call must return only once GoNB has its message: the fake GoNB here takes
// its time over each one and answers gonbui's sync requests as GoNB does.
func TestInNotebook(t *testing.T) {
	dir := t.TempDir()
	toKernel, fromKernel := filepath.Join(dir, "pipe"), filepath.Join(dir, "pipe_back")
	for _, p := range []string{toKernel, fromKernel} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("no named pipes here: %v", err)
		}
	}
	t.Setenv(protocol.GONB_PIPE_ENV, toKernel)
	t.Setenv(protocol.GONB_PIPE_BACK_ENV, fromKernel)
	msgs := make(chan *protocol.DisplayData, 100)
	var received atomic.Int32 // display messages GoNB has taken
	go func() {
		f, err := os.Open(toKernel)
		if err != nil {
			return
		}
		back, err := os.OpenFile(fromKernel, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer back.Close()
		dec, enc := gob.NewDecoder(f), gob.NewEncoder(back)
		for {
			var d protocol.DisplayData
			if dec.Decode(&d) != nil {
				return
			}
			if v, ok := d.Data[protocol.MIMECommValue].(protocol.CommValue); ok && v.Address == protocol.GonbuiSyncAddress {
				if enc.Encode(&protocol.CommValue{Address: protocol.GonbuiSyncAckAddress, Value: v.Value}) != nil {
					return
				}
				continue
			}
			time.Sleep(20 * time.Millisecond) // publishing it to Jupyter
			received.Add(1)
			msgs <- &d
		}
	}()
	_, lines := outside(t)
	gonbui.IsNotebook = true
	t.Cleanup(func() { gonbui.IsNotebook = false })

	img := testImage(4, 2, 3)
	p := NewProgress("run", 0)
	calls := []func() error{
		func() error { return Image(img, "") },
		func() error { return Grid{Cells: []Cell{{img, "x"}}}.Show() },
		func() error { return Layers("", []cnn.Layer{{Name: "conv1"}}) },
		func() error { return p.Update(Status{Iteration: 1, Total: 2}) },
		func() error { return p.Update(Status{Iteration: 2, Total: 2, Images: []image.Image{img}}) },
		p.Done,
	}
	for i, c := range calls {
		if err := c(); err != nil {
			t.Fatal(err)
		}
		if n := received.Load(); n != int32(i+1) {
			t.Fatalf("call %d returned when GoNB had taken %d display messages: a cell ending now would lose its output", i, n)
		}
	}
	var got []*protocol.DisplayData
	for len(got) < len(calls) {
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d display messages, want %d", len(got), len(calls))
		}
	}
	if lines.Len() > 0 {
		t.Errorf("printed %q in a notebook", lines.String())
	}
	pngData, ok := got[0].Data[protocol.MIMEImagePNG].([]byte)
	if !ok {
		t.Fatalf("Image sent %v, want image/png", got[0].Data)
	}
	if back, err := png.Decode(bytes.NewReader(pngData)); err != nil || !sameImage(back, img) {
		t.Errorf("the PNG sent differs from the image (%v)", err)
	}
	html := func(i int) string { s, _ := got[i].Data[protocol.MIMETextHTML].(string); return s }
	if !strings.Contains(html(1), "lv-grid") || !strings.Contains(html(2), "lv-layers") {
		t.Errorf("grid and layers sent %q, %q", html(1), html(2))
	}
	id := got[3].DisplayID
	for i := 3; i < 6; i++ {
		if got[i].DisplayID != id || id == "" {
			t.Errorf("progress message %d has display id %q, want %q: updates must go to one output area", i, got[i].DisplayID, id)
		}
	}
	if got[1].DisplayID != "" {
		t.Errorf("a grid has display id %q, want none", got[1].DisplayID)
	}
	if !strings.Contains(html(3), "iteration 1/2 (50%)") || !strings.Contains(html(4), "<img") || !strings.Contains(html(5), "lv-scrubber") {
		t.Errorf("progress messages: %q / %q / %q", html(3), html(4), html(5))
	}
}
