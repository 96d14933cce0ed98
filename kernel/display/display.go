// Package display shows layervis results in a GoNB notebook: images, image
// grids with captions, facet galleries, the t-SNE map of a set of images,
// a model's layer catalogue, and live progress of an optimization with a
// slider to scrub its snapshots afterwards. It is a thin layer over
// github.com/janpfeifer/gonb/gonbui.
//
// Outside a notebook (a plain `go run`, a test) the same calls write files
// into a directory — ./layervis-display/ unless [SetDir] or the environment
// variable LAYERVIS_DISPLAY_DIR says otherwise — and print one text line
// each naming the file, so code written in a notebook runs anywhere. They
// never fail for lack of a notebook; errors are only those of encoding or
// writing.
//
// In a notebook each call returns once GoNB has received its output, so a
// cell may end right after one.
//
// Images are shown at a CSS width with pixelated scaling, so small feature
// maps are enlarged without blurring.
package display

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/janpfeifer/gonb/gonbui"
)

// DefaultDir is where output goes outside a notebook unless
// LAYERVIS_DISPLAY_DIR or [SetDir] say otherwise.
const DefaultDir = "layervis-display"

var (
	mu  sync.Mutex
	dir           = defaultDir()
	out io.Writer = os.Stdout
	seq int
)

func defaultDir() string {
	if d := os.Getenv("LAYERVIS_DISPLAY_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// SetDir sets the directory files are written to outside a notebook.
func SetDir(d string) {
	mu.Lock()
	defer mu.Unlock()
	dir = d
}

// SetOutput sets where the text lines printed outside a notebook go
// (os.Stdout by default).
func SetOutput(w io.Writer) {
	mu.Lock()
	defer mu.Unlock()
	out = w
}

// InNotebook reports whether the program runs as a GoNB notebook cell.
func InNotebook() bool { return gonbui.IsNotebook }

// flush waits until GoNB has taken everything sent to it. GoNB stops
// reading a cell's messages as soon as the cell's program exits, so without
// it the last display of a cell is sometimes lost.
func flush() { gonbui.Sync() }

// Image shows img; outside a notebook it writes a PNG file.
func Image(img image.Image, caption string) error {
	data, err := encodePNG(img)
	if err != nil {
		return err
	}
	if InNotebook() {
		gonbui.DisplayPng(data)
		if caption != "" {
			gonbui.DisplayHTML("<div style=\"font-size:12px\">" + html.EscapeString(caption) + "</div>")
		}
		flush()
		return nil
	}
	b := img.Bounds()
	return writeFile("image", ".png", data, fmt.Sprintf("image %dx%d %s", b.Dx(), b.Dy(), caption))
}

// HTML shows an HTML fragment; outside a notebook it writes an HTML page.
// kind names the file ("grid" → 003-grid.html) and summary is the text line
// printed.
func HTML(fragment, kind, summary string) error {
	if InNotebook() {
		gonbui.DisplayHTML(fragment)
		flush()
		return nil
	}
	return writeFile(kind, ".html", []byte(page(summary, fragment)), summary)
}

// page wraps a fragment into a standalone HTML document.
func page(title, fragment string) string {
	return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(title) +
		"</title></head>\n<body style=\"font-family:sans-serif\">\n" + fragment + "\n</body></html>\n"
}

// writeFile writes data as the next numbered file of kind in the output
// directory and prints a line naming it.
func writeFile(kind, ext string, data []byte, summary string) error {
	mu.Lock()
	defer mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("display: output directory: %w (choose another with display.SetDir or LAYERVIS_DISPLAY_DIR)", err)
	}
	seq++
	path := filepath.Join(dir, fmt.Sprintf("%03d-%s%s", seq, kind, ext))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("display: %w", err)
	}
	_, err := fmt.Fprintf(out, "display: %s → %s\n", strings.TrimSpace(summary), path)
	return err
}

// printLine prints a text line outside a notebook.
func printLine(line string) error {
	mu.Lock()
	defer mu.Unlock()
	_, err := fmt.Fprintln(out, line)
	return err
}

func encodePNG(img image.Image) ([]byte, error) {
	if img == nil {
		return nil, fmt.Errorf("display: nil image")
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("display: encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// dataURI encodes img as a PNG data: URI for an <img> src.
func dataURI(img image.Image) (string, error) {
	data, err := encodePNG(img)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(data), nil
}
