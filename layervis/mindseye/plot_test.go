package mindseye

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/layervis/layervis/layervis/internal/atomicfile"
)

// lab converts an sRGB colour to CIE L*a*b* (D65).
func lab(c color.NRGBA) [3]float64 {
	lin := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	r, g, b := lin(c.R), lin(c.G), lin(c.B)
	x := (0.4124*r + 0.3576*g + 0.1805*b) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*b
	z := (0.0193*r + 0.1192*g + 0.9505*b) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	return [3]float64{116*f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))}
}

// TestPaletteDistinct checks that the facet colours are told apart: every
// pair differs by a CIE76 ΔE of at least 25 (Tableau 10: 27.7; the mako
// samples this replaced came within 22 of each other for 4 facets, 6.9 for
// 10), and none is near the white background.
func TestPaletteDistinct(t *testing.T) {
	for i, a := range Palette {
		for _, b := range Palette[i+1:] {
			la, lb := lab(a), lab(b)
			if d := math.Sqrt(math.Pow(la[0]-lb[0], 2) + math.Pow(la[1]-lb[1], 2) + math.Pow(la[2]-lb[2], 2)); d < 25 {
				t.Errorf("colours %v and %v differ by ΔE %.1f, want at least 25", a, b, d)
			}
		}
		if l := lab(a)[0]; l > 90 {
			t.Errorf("colour %v has lightness %.0f: too close to the white background", a, l)
		}
	}
}

// TestPlotLegend draws a map of 10 facets and checks the legend beside it:
// one swatch per facet in the facet's colour, its number and size written
// next to it (dark pixels).
func TestPlotLegend(t *testing.T) {
	const k = 10
	e := &embedding{}
	var facets []Facet
	for f := range k {
		facets = append(facets, Facet{Index: f, Centre: [2]float64{float64(f), float64(f * f % 7)}, Nearest: -1})
		for j := range f + 1 { // facet f has f+1 images
			e.points = append(e.points, float64(f)+0.1*float64(j), float64(f*f%7)+0.1*float64(j))
			e.labels = append(e.labels, f)
			facets[f].Members = append(facets[f].Members, len(e.labels)-1)
		}
	}
	img := plotTSNE(e, facets, make([]image.Image, k), "test map")
	if b := img.Bounds(); b.Dx() != plotSize+legendWidth || b.Dy() != plotSize {
		t.Fatalf("plot is %v, want %dx%d", b, plotSize+legendWidth, plotSize)
	}
	for f := range k {
		y := plotMargin + 22 + 20*f
		if got := img.NRGBAAt(plotSize+7, y+7); got != Palette[f] {
			t.Errorf("facet %d swatch is %v, want %v", f+1, got, Palette[f])
		}
		dark := 0
		for x := plotSize + 20; x < plotSize+legendWidth; x++ {
			for yy := y; yy < y+14; yy++ {
				if c := img.NRGBAAt(x, yy); c.R < 100 && c.G < 100 && c.B < 100 {
					dark++
				}
			}
		}
		if want := 7 * 8; dark < want { // "NN: n images" is 11+ characters of 7×13 glyphs
			t.Errorf("facet %d: %d dark pixels of text beside its swatch, want at least %d", f+1, dark, want)
		}
	}
	if dir := os.Getenv("LAYERVIS_SCREENSHOTS"); dir != "" {
		if err := atomicfile.Write(filepath.Join(dir, "tsne-legend.png"), func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
			t.Error(err)
		}
	}
}
