package display

import (
	"fmt"
	"html"
	"image"
	"math"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/layervis/layervis/layervis/mindseye"
)

// Point is one image on a 2-D map (a t-SNE embedding).
type Point struct {
	X, Y     float64
	Group    int         // facet or cluster index, which colours the point; negative: no group (grey)
	Label    string      // shown on hover, e.g. the image's file name
	Thumb    image.Image // optional thumbnail, shown on hover
	Exemplar bool        // show the thumbnail permanently, framed in the group's colour
}

// Map is an interactive SVG scatter plot of images: points coloured by
// group, the label and thumbnail of a point on hover, exemplars' thumbnails
// always visible, and a legend.
type Map struct {
	Title  string
	Points []Point
	Groups []string // group names for the legend; empty means "facet 1 (n)", "facet 2 (n)", ... with n its points
	Size   int      // side of the plot in pixels; 0 means 480
	Thumb  int      // thumbnail side in pixels; 0 means 48
}

// groupColor is group g's colour: mindseye.Palette (Tableau 10, the
// colours of tsne.png), cycling for more than ten; grey for no group.
func groupColor(g int) string {
	if g < 0 {
		return "#999999"
	}
	c := mindseye.Palette[g%len(mindseye.Palette)]
	return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
}

// HTML returns the map as an HTML fragment: an inline SVG with the
// thumbnails embedded, and a legend. Hover uses CSS only, no JavaScript.
func (m Map) HTML() (string, error) {
	size, th := m.Size, m.Thumb
	if size <= 0 {
		size = 480
	}
	if th <= 0 {
		th = 48
	}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range m.Points {
		if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
			return "", fmt.Errorf("display: map point %q has a non-finite coordinate (%g, %g)", p.Label, p.X, p.Y)
		}
		minX, maxX = min(minX, p.X), max(maxX, p.X)
		minY, maxY = min(minY, p.Y), max(maxY, p.Y)
	}
	margin := float64(th)/2 + 8
	scale := func(v, lo, hi float64) float64 {
		if hi <= lo {
			return float64(size) / 2
		}
		return margin + (v-lo)/(hi-lo)*(float64(size)-2*margin)
	}
	id := "lvmap" + strings.ReplaceAll(gonbui.UniqueId(), "-", "")
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="lv-map" id="%s">`, id)
	title(&b, m.Title)
	fmt.Fprintf(&b, `<style>#%s .lv-th{display:none}#%s .lv-pt:hover .lv-th{display:inline}</style>`, id, id)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" style="border:1px solid #ddd;background:#fff">`, size, size, size, size)
	var exemplars strings.Builder
	for _, p := range m.Points {
		x, y := scale(p.X, minX, maxX), float64(size)-scale(p.Y, minY, maxY)
		c := groupColor(p.Group)
		label := html.EscapeString(p.Label)
		b.WriteString(`<g class="lv-pt">`)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s" stroke="#000" stroke-width="0.5"><title>%s</title></circle>`, x, y, c, label)
		if p.Thumb != nil {
			src, err := dataURI(p.Thumb)
			if err != nil {
				return "", err
			}
			tx, ty := clamp(x+6, 0, float64(size-th)), clamp(y-float64(th)-6, 0, float64(size-th))
			img := fmt.Sprintf(`<image href="%s" x="%.1f" y="%.1f" width="%d" height="%d" preserveAspectRatio="xMidYMid slice"><title>%s</title></image>`, src, tx, ty, th, th, label)
			if p.Exemplar {
				fmt.Fprintf(&exemplars, `<g>%s<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="none" stroke="%s" stroke-width="2"/></g>`, img, tx, ty, th, th, c)
			} else {
				fmt.Fprintf(&b, `<g class="lv-th">%s<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="none" stroke="%s" stroke-width="1"/></g>`, img, tx, ty, th, th, c)
			}
		}
		b.WriteString("</g>")
	}
	b.WriteString(exemplars.String())
	b.WriteString("</svg>")
	groups := map[int]int{} // points per group
	maxGroup := -1
	for _, p := range m.Points {
		groups[p.Group]++
		maxGroup = max(maxGroup, p.Group)
	}
	b.WriteString(`<div style="font-size:12px;display:flex;flex-wrap:wrap;gap:10px;max-width:` + fmt.Sprint(size) + `px">`)
	for g := 0; g <= maxGroup; g++ {
		if groups[g] == 0 {
			continue
		}
		// Numbered from 1, as mindseye's facet_XX folders and tsne.png.
		name := fmt.Sprintf("facet %d (%d)", g+1, groups[g])
		if g < len(m.Groups) {
			name = m.Groups[g]
		}
		fmt.Fprintf(&b, `<span><span style="display:inline-block;width:10px;height:10px;border-radius:5px;background:%s"></span> %s</span>`, groupColor(g), html.EscapeString(name))
	}
	b.WriteString("</div></div>")
	return b.String(), nil
}

// Show displays the map; outside a notebook it writes an HTML page.
func (m Map) Show() error {
	h, err := m.HTML()
	if err != nil {
		return err
	}
	return HTML(h, "map", fmt.Sprintf("map of %d images %s", len(m.Points), m.Title))
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }
