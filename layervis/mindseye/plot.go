package mindseye

// tsne.png: the 2-D map of the image set coloured by facet, drawn with the
// standard library and basicfont.

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/layervis/layervis/layervis/photo"
)

// plotSize, plotMargin and thumbSize lay out tsne.png (pixels).
const (
	plotSize   = 900
	plotMargin = 70
	thumbSize  = 64
)

// makoStops approximates seaborn's "mako" colormap (the reference's).
var makoStops = []color.NRGBA{
	{0x0b, 0x04, 0x05, 255}, {0x38, 0x2a, 0x54, 255}, {0x39, 0x5d, 0x9c, 255},
	{0x34, 0x97, 0xa9, 255}, {0x60, 0xce, 0xac, 255}, {0xde, 0xf5, 0xe5, 255},
}

// facetColour returns facet k's colour of K, sampled from mako between
// 0.3 and 0.9 so every colour stands out from the black centres and the
// white background.
func facetColour(k, n int) color.NRGBA {
	t := 0.6
	if n > 1 {
		t = 0.3 + 0.6*float64(k)/float64(n-1)
	}
	pos := t * float64(len(makoStops)-1)
	i := min(int(pos), len(makoStops)-2)
	f := pos - float64(i)
	a, b := makoStops[i], makoStops[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-f) + float64(y)*f)) }
	return color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

// disc draws a filled circle of radius rad at (cx, cy).
func disc(dst *image.NRGBA, cx, cy, rad float64, c color.NRGBA) {
	annulus(dst, cx, cy, 0, rad, c)
}

// ring draws a 2-pixel circle outline of radius rad.
func ring(dst *image.NRGBA, cx, cy, rad float64, c color.NRGBA) {
	annulus(dst, cx, cy, rad-1, rad+1, c)
}

// annulus paints the pixels whose centres lie between radii r0 and r1 of
// (cx, cy).
func annulus(dst *image.NRGBA, cx, cy, r0, r1 float64, c color.NRGBA) {
	for y := int(cy - r1 - 1); y <= int(cy+r1+1); y++ {
		for x := int(cx - r1 - 1); x <= int(cx+r1+1); x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			if d := dx*dx + dy*dy; d >= r0*r0 && d <= r1*r1 {
				dst.SetNRGBA(x, y, c)
			}
		}
	}
}

// label writes s with its top-left at (x, y).
func label(dst draw.Image, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: basicfont.Face7x13,
		Dot: fixed.P(x, y+basicfont.Face7x13.Ascent)}
	d.DrawString(s)
}

// plotTSNE draws the map: every image a dot in its facet's colour (black
// edge), exemplars ringed, each centre a black dot with the thumbnail of
// its nearest image (thumbs[k], may be nil) and the facet number.
func plotTSNE(e *embedding, facets []Facet, thumbs []image.Image, title string) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, plotSize, plotSize))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	n := len(e.labels)
	lo := [2]float64{math.Inf(1), math.Inf(1)}
	hi := [2]float64{math.Inf(-1), math.Inf(-1)}
	for i := range n {
		for a := range 2 {
			lo[a] = min(lo[a], e.points[2*i+a])
			hi[a] = max(hi[a], e.points[2*i+a])
		}
	}
	span := max(hi[0]-lo[0], hi[1]-lo[1], 1e-12)
	inner := float64(plotSize - 2*plotMargin)
	at := func(x, y float64) (float64, float64) {
		px := plotMargin + (x-lo[0])/span*inner + (inner-(hi[0]-lo[0])/span*inner)/2
		py := plotMargin + (hi[1]-y)/span*inner + (inner-(hi[1]-lo[1])/span*inner)/2
		return px, py
	}
	k := len(facets)
	for i := range n {
		x, y := at(e.points[2*i], e.points[2*i+1])
		disc(img, x, y, 6, color.NRGBA{0, 0, 0, 255})
		disc(img, x, y, 5, facetColour(e.labels[i], k))
	}
	for _, f := range facets {
		c := facetColour(f.Index, k)
		for _, ex := range f.Exemplars {
			x, y := at(e.points[2*ex], e.points[2*ex+1])
			ring(img, x, y, 9, c)
		}
	}
	for _, f := range facets {
		x, y := at(f.Centre[0], f.Centre[1])
		disc(img, x, y, 7, color.NRGBA{0, 0, 0, 255})
		tx, ty := int(x)+10, int(y)-thumbSize-10
		tx = min(max(tx, 0), plotSize-thumbSize-4)
		ty = min(max(ty, 0), plotSize-thumbSize-4)
		frame := image.Rect(tx-2, ty-2, tx+thumbSize+2, ty+thumbSize+2)
		draw.Draw(img, frame, image.NewUniform(facetColour(f.Index, k)), image.Point{}, draw.Src)
		if th := thumbs[f.Index]; th != nil {
			draw.Draw(img, image.Rect(tx, ty, tx+thumbSize, ty+thumbSize), th, th.Bounds().Min, draw.Src)
		}
		label(img, tx, ty+thumbSize+3, fmt.Sprintf("%02d", f.Index+1), color.Black)
	}
	label(img, 10, 10, title, color.Black)
	label(img, 10, 28, "dots: images by facet; rings: exemplars; thumbnails: image nearest each centre", color.Gray{0x55})
	return img
}

// writeTSNE draws tsne.png with thumbnails of the images nearest each
// centre, in their true colours.
func (r *Run) writeTSNE() error {
	thumbs := make([]image.Image, len(r.facets))
	forEach(len(r.facets), func(k int) {
		if p, err := photo.Load(r.images[r.facets[k].Nearest]); err == nil {
			thumbs[k] = p.ResizeArea(thumbSize, thumbSize).ToImage()
		}
	})
	title := fmt.Sprintf("t-SNE of %d images, %d facets - %s %s", len(r.images), r.k, r.m.Name(), r.cfg.Target)
	if err := r.out.savePNG("tsne.png", plotTSNE(r.emb, r.facets, thumbs, title)); err != nil {
		return err
	}
	r.report.TSNE = "tsne.png"
	return nil
}
