package nn

import (
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/layervis/layervis/layervis/backend"
)

// TestWinogradPhase checks that a band of a convolution's output whose
// first row is odd in the whole output, computed by F(2×2, 3×3) with
// phase 1 from the input rows it reads, has exactly the whole output's
// values (bit for bit): its tiles are the whole's. With phase 0 (tiles
// starting at the band's first row) they differ in rounding.
func TestWinogradPhase(t *testing.T) {
	b := backend.MustGet()
	rng := rand.New(rand.NewPCG(21, 22))
	const h, w, c, n = 11, 6, 128, 128
	x := randTensor(rng, 1, h, w, c)
	u := make([]float32, 16*c*n)
	winogradFill(c, n, false)(tensors.MustCopyFlatData[float32](randTensor(rng, 9*c, n)), u)
	pad := SymmetricPad(1)
	// Output rows [3, 8) read padded rows [3, 10), input rows [2, 9).
	const first, last = 3, 8
	exec := MustNewExec(b, func(x, u *Node) []*Node {
		whole := winogradConv(x, pad, u, 0)
		seg := Slice(x, AxisRange(), AxisRange(first-1, last+1))
		band := [2][2]int{{0, 0}, pad[1]}
		return []*Node{whole, winogradConv(seg, band, u, 1), winogradConv(seg, band, u, 0)}
	})
	out := exec.MustExec(x, tensors.FromFlatDataAndDimensions(u, 16, c, n))
	whole := tensors.MustCopyFlatData[float32](out[0])
	want := whole[first*w*n : last*w*n]
	aligned, shifted := tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
	if len(aligned) != len(want) {
		t.Fatalf("the band has %d values, want %d", len(aligned), len(want))
	}
	differ := func(got []float32) int {
		d := 0
		for i := range want {
			if got[i] != want[i] {
				d++
			}
		}
		return d
	}
	if d := differ(aligned); d != 0 {
		t.Errorf("phase 1: %d of the band's %d values differ from the whole output's", d, len(want))
	}
	if d := relDiff(shifted, want); d > 1e-5 {
		t.Errorf("phase 0: rel diff %.3g from the whole output", d)
	}
	if differ(shifted) == 0 {
		t.Log("phase 0 rounds as the whole output does too: the test no longer tells the phases apart")
	}
}

// TestWinogradKernelGradient checks that asking for the kernel's gradient
// of a convolution built by F(2×2, 3×3) from kept copies fails, saying
// why, rather than returning zeros.
func TestWinogradKernelGradient(t *testing.T) {
	b := backend.MustGet()
	if !backend.IsGo(b) {
		t.Skip("keepers serve the pure-Go backend only")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	const c = 128
	x, w := randTensor(rng, 1, 4, 4, c), randTensor(rng, 9*c, c)
	wm := tensors.MustCopyFlatData[float32](w)
	exec, err := NewExec(b, func(x, w *Node) *Node {
		SetKeeper(w, constKeeper(x.Graph(), wm, map[string]int{}))
		y := Conv2D{Pad: SymmetricPad(1), Window: [2]int{3, 3}}.Apply(Im2col, x, w)
		return Gradient(ReduceAllSum(y), w)[0]
	})
	if err == nil {
		_, err = exec.Exec(x, w)
	}
	if err == nil || !strings.Contains(err.Error(), "frozen") {
		t.Errorf("the kernel's gradient: error %v, want one saying the weights are frozen", err)
	}
}
