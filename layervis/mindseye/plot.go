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

// plotSize, plotMargin, thumbSize and legendWidth lay out tsne.png
// (pixels): the square map, and the legend in a column on its right.
const (
	plotSize    = 900
	plotMargin  = 70
	thumbSize   = 64
	legendWidth = 200
)

// Palette is Tableau 10 (matplotlib's tab10), a qualitative palette whose
// colours are told apart at a glance: facet k (0-based) has colour
// Palette[k mod 10], in tsne.png and in the notebooks' t-SNE map.
var Palette = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 255}, {0xff, 0x7f, 0x0e, 255}, {0x2c, 0xa0, 0x2c, 255}, {0xd6, 0x27, 0x28, 255},
	{0x94, 0x67, 0xbd, 255}, {0x8c, 0x56, 0x4b, 255}, {0xe3, 0x77, 0xc2, 255}, {0x7f, 0x7f, 0x7f, 255},
	{0xbc, 0xbd, 0x22, 255}, {0x17, 0xbe, 0xcf, 255},
}

// facetColour returns facet k's colour (0-based).
func facetColour(k int) color.NRGBA { return Palette[k%len(Palette)] }

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
	img := image.NewNRGBA(image.Rect(0, 0, plotSize+legendWidth, plotSize))
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
	for i := range n {
		x, y := at(e.points[2*i], e.points[2*i+1])
		disc(img, x, y, 6, color.NRGBA{0, 0, 0, 255})
		disc(img, x, y, 5, facetColour(e.labels[i]))
	}
	for _, f := range facets {
		c := facetColour(f.Index)
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
		draw.Draw(img, frame, image.NewUniform(facetColour(f.Index)), image.Point{}, draw.Src)
		if th := thumbs[f.Index]; th != nil {
			draw.Draw(img, image.Rect(tx, ty, tx+thumbSize, ty+thumbSize), th, th.Bounds().Min, draw.Src)
		}
		label(img, tx, ty+thumbSize+3, fmt.Sprintf("%02d", f.Index+1), color.Black)
	}
	label(img, 10, 10, title, color.Black)
	label(img, 10, 28, "dots: images by facet; rings: exemplars; thumbnails: image nearest each centre", color.Gray{0x55})
	legend(img, plotSize, plotMargin, facets)
	return img
}

// legend lists the facets from (x, y) down: a swatch in the facet's
// colour, its number (as in facet_XX) and its number of images.
func legend(img *image.NRGBA, x, y int, facets []Facet) {
	label(img, x, y, "facet: images", color.Black)
	for i, f := range facets {
		ty := y + 22 + 20*i
		draw.Draw(img, image.Rect(x, ty, x+14, ty+14), image.Black, image.Point{}, draw.Src)
		draw.Draw(img, image.Rect(x+1, ty+1, x+13, ty+13), image.NewUniform(facetColour(f.Index)), image.Point{}, draw.Src)
		noun := "images"
		if len(f.Members) == 1 {
			noun = "image"
		}
		label(img, x+20, ty, fmt.Sprintf("%02d: %d %s", f.Index+1, len(f.Members), noun), color.Black)
	}
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
