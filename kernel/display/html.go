package display

import (
	"fmt"
	"html"
	"image"
	"strings"
	"text/tabwriter"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/layervis/layervis/layervis/cnn"
)

// Cell is an image with a caption.
type Cell struct {
	Image   image.Image
	Caption string
}

// Grid is a table of captioned images.
type Grid struct {
	Title   string
	Cells   []Cell
	Columns int // images per row; 0 means 8
	Width   int // display width of each image in pixels; 0 means its own width, at least 64
}

// HTML returns the grid as an HTML fragment with the images embedded.
func (g Grid) HTML() (string, error) {
	cols := g.Columns
	if cols <= 0 {
		cols = 8
	}
	var b strings.Builder
	b.WriteString(`<div class="lv-grid">`)
	title(&b, g.Title)
	fmt.Fprintf(&b, `<div style="display:grid;grid-template-columns:repeat(%d,max-content);gap:4px">`, cols)
	for _, c := range g.Cells {
		if err := figure(&b, c, g.Width); err != nil {
			return "", err
		}
	}
	b.WriteString("</div></div>")
	return b.String(), nil
}

// Show displays the grid; outside a notebook it writes an HTML page.
func (g Grid) Show() error {
	h, err := g.HTML()
	if err != nil {
		return err
	}
	return HTML(h, "grid", fmt.Sprintf("grid of %d images %s", len(g.Cells), g.Title))
}

// Frame is one step of an optimization: its images (one per facet or unit)
// at an iteration.
type Frame struct {
	Label  string // e.g. "iteration 200"
	Images []image.Image
}

// Facet is one facet of a Mind's Eye run: how its image evolved from the
// initial blend of exemplars to the final visualization, and the exemplar
// images that define it.
type Facet struct {
	Title     string
	Initial   image.Image // the initial blend; nil if none
	Snapshots []Cell      // intermediate images, captioned with their iteration
	Final     image.Image
	Exemplars []Cell // thumbnails of the images that define the facet
}

// Gallery shows facets, one row each: initial blend → snapshots → final,
// with the exemplar thumbnails beside them.
type Gallery struct {
	Title  string
	Facets []Facet
	Width  int // display width of the main images; 0 means 128
	Thumb  int // display width of exemplar thumbnails; 0 means 48
}

// HTML returns the gallery as an HTML fragment with the images embedded.
func (g Gallery) HTML() (string, error) {
	w, tw := g.Width, g.Thumb
	if w <= 0 {
		w = 128
	}
	if tw <= 0 {
		tw = 48
	}
	const arrow = `<div style="align-self:center;font-size:20px">→</div>`
	var b strings.Builder
	b.WriteString(`<div class="lv-gallery">`)
	title(&b, g.Title)
	for _, f := range g.Facets {
		b.WriteString(`<div style="margin:6px 0;border-top:1px solid #ccc">`)
		title(&b, f.Title)
		b.WriteString(`<div style="display:flex;gap:6px;align-items:flex-start;flex-wrap:wrap">`)
		if f.Initial != nil {
			if err := figure(&b, Cell{f.Initial, "initial blend"}, w); err != nil {
				return "", err
			}
			b.WriteString(arrow)
		}
		for _, s := range f.Snapshots {
			if err := figure(&b, s, w); err != nil {
				return "", err
			}
			b.WriteString(arrow)
		}
		if f.Final != nil {
			if err := figure(&b, Cell{f.Final, "final"}, w); err != nil {
				return "", err
			}
		}
		if len(f.Exemplars) > 0 {
			b.WriteString(`<div style="margin-left:16px"><div style="font-size:11px">exemplars</div>`)
			fmt.Fprintf(&b, `<div style="display:grid;grid-template-columns:repeat(%d,max-content);gap:2px">`, min(5, len(f.Exemplars)))
			for _, e := range f.Exemplars {
				if err := figure(&b, e, tw); err != nil {
					return "", err
				}
			}
			b.WriteString("</div></div>")
		}
		b.WriteString("</div></div>")
	}
	b.WriteString("</div>")
	return b.String(), nil
}

// Show displays the gallery; outside a notebook it writes an HTML page.
func (g Gallery) Show() error {
	h, err := g.HTML()
	if err != nil {
		return err
	}
	return HTML(h, "gallery", fmt.Sprintf("gallery of %d facets %s", len(g.Facets), g.Title))
}

// Scrubber shows a sequence of frames with a slider to move through them;
// it starts at the last frame. Without JavaScript (an untrusted notebook)
// only the last frame shows.
type Scrubber struct {
	Title  string
	Frames []Frame
	Width  int // display width of each image; 0 means 128
}

// HTML returns the scrubber as an HTML fragment with the images embedded.
func (s Scrubber) HTML() (string, error) {
	frames := make([]encodedFrame, len(s.Frames))
	for i, f := range s.Frames {
		frames[i].label = f.Label
		for _, img := range f.Images {
			u, err := dataURI(img)
			if err != nil {
				return "", err
			}
			frames[i].uris = append(frames[i].uris, u)
		}
	}
	return scrubberHTML(s.Title, frames, s.Width), nil
}

// encodedFrame is a Frame with its images as PNG data URIs.
type encodedFrame struct {
	label string
	uris  []string
}

func scrubberHTML(t string, frames []encodedFrame, w int) string {
	if w <= 0 {
		w = 128
	}
	var b strings.Builder
	b.WriteString(`<div class="lv-scrubber">`)
	title(&b, t)
	if len(frames) == 0 {
		b.WriteString("<i>no snapshots</i></div>")
		return b.String()
	}
	last := len(frames) - 1
	// The handler shows frame i (the slider's value) and hides the others.
	const onInput = `var f=this.parentNode.parentNode.querySelectorAll('.lv-frame');` +
		`for(var i=0;i<f.length;i++){f[i].style.display=(i==this.value)?'flex':'none';}` +
		`this.nextElementSibling.textContent=f[this.value].getAttribute('data-label');`
	fmt.Fprintf(&b, `<div><input type="range" min="0" max="%d" value="%d" style="width:%dpx" oninput="%s"> <span>%s</span></div>`,
		last, last, min(600, max(200, 40*len(frames))), html.EscapeString(onInput), html.EscapeString(frames[last].label))
	for i, f := range frames {
		show := "none"
		if i == last {
			show = "flex"
		}
		fmt.Fprintf(&b, `<div class="lv-frame" data-label="%s" style="display:%s;gap:4px;flex-wrap:wrap">`, html.EscapeString(f.label), show)
		for _, u := range f.uris {
			fmt.Fprintf(&b, `<img src="%s" width="%d" style="image-rendering:pixelated">`, u, w)
		}
		b.WriteString("</div>")
	}
	b.WriteString("</div>")
	return b.String()
}

// Show displays the scrubber; outside a notebook it writes an HTML page.
func (s Scrubber) Show() error {
	h, err := s.HTML()
	if err != nil {
		return err
	}
	return HTML(h, "snapshots", fmt.Sprintf("%d snapshots %s", len(s.Frames), s.Title))
}

// Layers shows a model's layer catalogue as a table (name, kind, output
// shape); outside a notebook it prints the table as text.
func Layers(title string, layers []cnn.Layer) error {
	if !InNotebook() {
		var b strings.Builder
		if title != "" {
			b.WriteString(title + "\n")
		}
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tSHAPE")
		for _, l := range layers {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Name, l.Kind, shape(l.Shape))
		}
		tw.Flush()
		return printLine(strings.TrimRight(b.String(), "\n"))
	}
	gonbui.DisplayHTML(LayersHTML(title, layers))
	flush()
	return nil
}

// LayersHTML returns the catalogue table as an HTML fragment.
func LayersHTML(title string, layers []cnn.Layer) string {
	var b strings.Builder
	b.WriteString(`<div class="lv-layers" style="max-height:420px;overflow-y:auto">`)
	if title == "" {
		title = fmt.Sprintf("%d layers", len(layers))
	}
	b.WriteString(`<table style="font-family:monospace;font-size:12px;border-collapse:collapse">`)
	fmt.Fprintf(&b, `<caption style="text-align:left;font-weight:bold">%s</caption>`, html.EscapeString(title))
	b.WriteString(`<tr><th style="text-align:left">#</th><th style="text-align:left">name</th><th style="text-align:left">kind</th><th style="text-align:left">shape</th></tr>`)
	for i, l := range layers {
		fmt.Fprintf(&b, `<tr><td>%d</td><td>%s</td><td>%s</td><td>%s</td></tr>`,
			i, html.EscapeString(l.Name), html.EscapeString(l.Kind), html.EscapeString(shape(l.Shape)))
	}
	b.WriteString("</table></div>")
	return b.String()
}

func shape(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "×")
}

func title(b *strings.Builder, t string) {
	if t != "" {
		fmt.Fprintf(b, `<div style="font-weight:bold;margin:4px 0">%s</div>`, html.EscapeString(t))
	}
}

// figure writes an <img> with its caption; width 0 means the image's own
// width, at least 64 pixels.
func figure(b *strings.Builder, c Cell, width int) error {
	src, err := dataURI(c.Image)
	if err != nil {
		return err
	}
	if width <= 0 {
		width = max(64, c.Image.Bounds().Dx())
	}
	fmt.Fprintf(b, `<figure style="margin:0;text-align:center"><img src="%s" width="%d" style="image-rendering:pixelated">`, src, width)
	if c.Caption != "" {
		fmt.Fprintf(b, `<figcaption style="font-size:11px;max-width:%dpx;overflow-wrap:anywhere">%s</figcaption>`, width, html.EscapeString(c.Caption))
	}
	b.WriteString("</figure>")
	return nil
}
