package cnn

import (
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/photo"
)

// Fit returns img as a size×size image: unchanged if it already is that
// size; otherwise scaled (OpenCV INTER_AREA semantics) so that its shorter
// side is size, then centre-cropped.
func Fit(img *photo.RGB, size int) *photo.RGB {
	if img.W == size && img.H == size {
		return img
	}
	w, h := size, size
	if img.W > img.H {
		w = max(size, (img.W*size+img.H/2)/img.H)
	} else {
		h = max(size, (img.H*size+img.W/2)/img.W)
	}
	return img.ResizeArea(w, h).CenterCrop(size, size)
}

// Batch converts same-sized images to the network input: an NCHW float32
// tensor, channels in the model's order, scaled and normalized as in says.
func Batch(in Input, imgs ...*photo.RGB) *tensors.Tensor {
	w, h := imgs[0].W, imgs[0].H
	data := make([]float32, len(imgs)*3*h*w)
	for b, img := range imgs {
		for c := range 3 {
			src := c
			if in.Order == "BGR" {
				src = 2 - c
			}
			plane := data[(b*3+c)*h*w:]
			for i := range h * w {
				plane[i] = in.Normalize(img.Pix[i*3+src], c)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(data, len(imgs), 3, h, w)
}
