package optvis

// Pieces of the Mind's Eye's optimization that a caller's own compiled
// step uses (layervis/mindseye's Stage C), and Render where they apply:
// 8-bit pixel levels as the parameterization, and SGD with Nesterov
// momentum and a gradient mask as the update.

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.

	"github.com/layervis/layervis/layervis/cnn"
)

// Quantize8 maps values in [0,1] (clipped first) to the 8-bit levels
// 0..255: round half to even of v·255, as torchvision-style
// recreate_image code and PNG encoders store them. The gradient through it
// is zero almost everywhere: apply it after an update, not inside the
// objective.
func Quantize8(x *Node) *Node { return Round(MulScalar(ClipScalar(x, 0, 1), 255)) }

// Levels is the 8-bit pixel parameterization: the images are held as
// 8-bit levels (0..255 in float32) [B, H, W, 3] in display (RGB) order,
// each step is taken on (v/255 − mean)/std in Space's convention, and the
// result is quantized back to levels ([Quantize8]) after every step, so
// what is optimized is always a displayable image.
type Levels struct {
	// Space is the input convention the step is taken in (its Range, Mean
	// and Std; e.g. torchvision's ImageNet statistics).
	Space cnn.Input
	// Swap reverses the channel axis between the levels and the step space
	// (a BGR step space for RGB levels).
	Swap bool
}

// ToSpace maps levels [B, H, W, 3] to the step space [B, 3, H, W].
func (l Levels) ToSpace(levels *Node) *Node {
	if l.Swap {
		levels = Reverse(levels, 3)
	}
	return cnn.NormalizeNode(DivScalar(TransposeAllAxes(levels, 0, 3, 1, 2), 255), l.Space)
}

// Quantize maps the step space [B, 3, H, W] back to levels [B, H, W, 3]:
// de-normalize, then [Quantize8].
func (l Levels) Quantize(z *Node) *Node {
	p := TransposeAllAxes(Quantize8(cnn.DenormalizeNode(z, l.Space)), 0, 2, 3, 1)
	if l.Swap {
		p = Reverse(p, 3)
	}
	return p
}

// Nesterov is stochastic gradient descent with Nesterov momentum, written
// in the graph exactly as torch.optim.SGD(nesterov=True) (no dampening,
// no weight decay), with the gradient masked first.
type Nesterov struct {
	Momentum float64
}

// Update returns one step that minimizes: the new parameters and momentum
// buffer from parameters p, the gradient grad, the mask (nil for none;
// broadcast against grad, e.g. [1, 1, H, W] for a spatial weighting), the
// buffer buf (nil on the first step) and the learning rate lr (a scalar):
//
//	g = mask⊙grad,  buf' = momentum·buf + g (g on the first step)
//	p' = p − lr·(g + momentum·buf')
func (n Nesterov) Update(p, grad, mask, buf, lr *Node) (p2, buf2 *Node) {
	g := grad
	if mask != nil {
		g = Mul(grad, mask)
	}
	buf2 = g
	if buf != nil {
		buf2 = Add(MulScalar(buf, n.Momentum), g)
	}
	p2 = Sub(p, Mul(lr, Add(g, MulScalar(buf2, n.Momentum))))
	return p2, buf2
}
