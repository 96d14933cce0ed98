package nn_test

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/nn"
)

// A 3×3 convolution and a ReLU built on an image held as two horizontal
// bands: each band reads the row it needs from the other, and the joined
// result is the whole image's.
func ExampleBands() {
	conv := nn.Conv2D{Pad: nn.SymmetricPad(1), Window: [2]int{3, 3}}
	exec := MustNewExec(backend.MustGet(), func(x, w *Node) (*Node, *Node, *Node) {
		bands := conv.ApplyBands(nn.Im2col, nn.SplitRows(x, 2), w, nil).Map(nn.ReLU)
		whole := nn.ReLU(conv.Apply(nn.Im2col, x, w))
		return Const(x.Graph(), int32(len(bands))), bands.Join(), whole
	})
	xs, ws := make([]float32, 6*5*2), make([]float32, 9*2*4)
	for i := range xs {
		xs[i] = float32(i%7) - 3
	}
	for i := range ws {
		ws[i] = float32(i%5)/4 - 0.5
	}
	x := tensors.FromFlatDataAndDimensions(xs, 1, 6, 5, 2) // [B,H,W,C]
	w := tensors.FromFlatDataAndDimensions(ws, 9*2, 4)     // [k²·Cin, Cout]
	out := exec.MustExec(x, w)
	banded, whole := tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
	same := len(banded) == len(whole)
	for i := range whole {
		same = same && banded[i] == whole[i]
	}
	fmt.Println("bands:", out[0].Value(), "shape:", out[1].Shape(), "same as whole:", same)
	// Output: bands: 2 shape: (Float32)[1, 6, 5, 4] same as whole: true
}
