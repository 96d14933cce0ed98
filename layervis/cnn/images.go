package cnn

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
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

// perChannel returns vals as a [1, C, 1, 1] constant.
func perChannel(g *Graph, vals []float32) *Node {
	return Reshape(Const(g, vals), 1, len(vals), 1, 1)
}

// NormalizeNode is [Input.Normalize] in a graph: it maps pixel values v in
// [0,1] (NCHW, channels in the model's order) to the network's input,
// (lo + v·(hi−lo) − mean_c)/std_c.
func NormalizeNode(v *Node, in Input) *Node {
	lo, hi := in.Range[0], in.Range[1]
	if lo != 0 || hi != 1 {
		v = AddScalar(MulScalar(v, float64(hi-lo)), float64(lo))
	}
	if len(in.Mean) > 0 {
		v = Div(Sub(v, perChannel(v.Graph(), in.Mean)), perChannel(v.Graph(), in.Std))
	}
	return v
}

// DenormalizeNode is the inverse of [NormalizeNode] ([Input.Denormalize]
// in a graph).
func DenormalizeNode(x *Node, in Input) *Node {
	if len(in.Mean) > 0 {
		x = Add(Mul(x, perChannel(x.Graph(), in.Std)), perChannel(x.Graph(), in.Mean))
	}
	lo, hi := in.Range[0], in.Range[1]
	if lo != 0 || hi != 1 {
		x = DivScalar(AddScalar(x, -float64(lo)), float64(hi-lo))
	}
	return x
}
