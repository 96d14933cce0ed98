package optvis

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
)

// ColorCorrelation is the square root of the ImageNet RGB colour
// correlation matrix, as lucid publishes it
// (lucid/optvis/param/color.py, color_correlation_svd_sqrt). Row i is the
// contribution of each decorrelated component to RGB channel i.
var ColorCorrelation = [3][3]float64{
	{0.26, 0.09, 0.02},
	{0.27, 0.00, -0.05},
	{0.27, -0.09, 0.03},
}

// ColorMean is the ImageNet mean colour lucid adds to decorrelated images
// that are mapped to [0,1] by clipping rather than by a sigmoid.
var ColorMean = [3]float64{0.48, 0.46, 0.41}

// colorMatrix returns ColorCorrelation divided by the largest L2 norm of its
// columns, as lucid's _linear_decorrelate_color normalizes it.
func colorMatrix() [3][3]float64 {
	var maxNorm float64
	for j := range 3 {
		var s float64
		for i := range 3 {
			s += ColorCorrelation[i][j] * ColorCorrelation[i][j]
		}
		maxNorm = math.Max(maxNorm, math.Sqrt(s))
	}
	var m [3][3]float64
	for i := range 3 {
		for j := range 3 {
			m[i][j] = ColorCorrelation[i][j] / maxNorm
		}
	}
	return m
}

// Recorrelate maps an image in the decorrelated colour space [B, 3, H, W]
// to RGB: rgb_i = Σ_j M_ij · t_j with M the normalized [ColorCorrelation].
func Recorrelate(t *Node) *Node {
	m := colorMatrix()
	flat := make([]float32, 0, 9)
	for i := range 3 {
		for j := range 3 {
			flat = append(flat, float32(m[i][j]))
		}
	}
	// One product per image, [3,3]·[3, H·W], batched over the images: the
	// result is already [B, 3, H·W], where an einsum over the channel axis
	// would transpose the planes to pixels and back (copies on the pure-Go
	// backend).
	d := t.Shape().Dimensions
	mat := BroadcastToDims(Reshape(Const(t.Graph(), flat), 1, 3, 3), d[0], 3, 3)
	rgb := DotGeneral(mat, []int{2}, []int{0}, Reshape(t, d[0], d[1], -1), []int{1}, []int{0})
	return Reshape(rgb, d...)
}

// decorrelate is the inverse of Recorrelate on host pixels: it maps one RGB
// value to the decorrelated colour space.
func decorrelate(rgb [3]float64) [3]float64 {
	m := colorMatrix()
	inv := invert3(m)
	var out [3]float64
	for i := range 3 {
		for j := range 3 {
			out[i] += inv[i][j] * rgb[j]
		}
	}
	return out
}

// invert3 inverts a 3×3 matrix by cofactors.
func invert3(m [3][3]float64) [3][3]float64 {
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	var r [3][3]float64
	for i := range 3 {
		for j := range 3 {
			a, b := (j+1)%3, (j+2)%3
			c, d := (i+1)%3, (i+2)%3
			r[i][j] = (m[a][c]*m[b][d] - m[a][d]*m[b][c]) / det
		}
	}
	return r
}
