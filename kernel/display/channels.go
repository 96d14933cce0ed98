package display

import (
	"fmt"
	"image"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Channels turns the feature maps of one batch item of an NCHW float32
// activation into grayscale images, one per channel for the first n
// channels (n <= 0: all), each captioned with its channel index. Each
// channel is min-max normalized on its own: its minimum becomes 0 (black),
// its maximum 255 (white), value v becomes 255·(v−min)/(max−min) rounded
// half to even (as NumPy's round); a constant channel is black.
func Channels(act *tensors.Tensor, item, n int) ([]Cell, error) {
	s := act.Shape()
	if s.Rank() != 4 || s.DType != dtypes.Float32 {
		return nil, fmt.Errorf("display: Channels takes a float32 [batch, channels, height, width] activation, got %s", s)
	}
	b, c, h, w := s.Dim(0), s.Dim(1), s.Dim(2), s.Dim(3)
	if item < 0 || item >= b {
		return nil, fmt.Errorf("display: batch item %d out of range: the activation holds %d", item, b)
	}
	if n <= 0 || n > c {
		n = c
	}
	data, err := tensors.CopyFlatData[float32](act)
	if err != nil {
		return nil, fmt.Errorf("display: %w", err)
	}
	cells := make([]Cell, n)
	for ch := range n {
		plane := data[(item*c+ch)*h*w : (item*c+ch+1)*h*w]
		cells[ch] = Cell{Image: gray(plane, w, h), Caption: fmt.Sprint(ch)}
	}
	return cells, nil
}

// gray returns the w×h row-major values (len(values) == w*h) as a
// grayscale image min-max normalized as [Channels] says. Non-finite values
// are ignored for the range and shown black.
func gray(values []float32, w, h int) *image.Gray {
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range values {
		if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	if !(hi > lo) {
		return img
	}
	scale := 255 / (float64(hi) - float64(lo))
	for i, v := range values {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			continue
		}
		img.Pix[i] = uint8(math.RoundToEven((float64(v) - float64(lo)) * scale))
	}
	return img
}
