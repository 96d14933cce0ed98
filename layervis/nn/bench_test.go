package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.

	"github.com/layervis/layervis/layervis/backend"
)

// BenchmarkMaxPool times ResNet's max-pool (3×3, stride 2, padding 1) and
// its input gradient alone, on the stem's output of ResNet-50 at 224²
// (batch 1) and of the render step (ResNet-18 at 128², batch 4), in the
// backend's form (Pool2D.Max) and as the max of the windows' taps (tapMax,
// for comparison). scripts/opprof.sh gives their per-op tables.
func BenchmarkMaxPool(b *testing.B) {
	be := backend.MustGet()
	p := Pool2D{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: SymmetricPad(1)}
	forms := map[string]func(x *Node) *Node{
		"max": func(x *Node) *Node { return p.Max(FormFor(be), x) },
		"taps": func(x *Node) *Node {
			k, s, pad := p.norm(x.Shape().Dim(1), x.Shape().Dim(2))
			return tapMax(x, k, s, pad)
		},
	}
	for _, dims := range [][]int{{1, 112, 112, 64}, {4, 64, 64, 64}} {
		for _, name := range []string{"max", "taps"} {
			b.Run(fmt.Sprint(name, dims), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				x := randTensor(rng, dims...)
				out := dims[1] / 2
				v := randTensor(rng, dims[0], out, out, dims[3])
				exec := MustNewExec(be, func(x, v *Node) []*Node {
					// The pool reads a computed tensor, as in a network
					// (a parameter is copied first, a ReLU's output is not).
					x = Max(x, ScalarZero(x.Graph(), x.DType()))
					y := forms[name](x)
					n := y.Shape().Size()
					loss := Dot(Reshape(y, n), Reshape(v, n)).Product()
					return []*Node{y, Gradient(loss, x)[0]}
				})
				defer exec.Finalize()
				exec.MustExec(x, v)
				for b.Loop() {
					exec.MustExec(x, v)
				}
			})
		}
	}
}

// BenchmarkLayout times the product of activations [rows, k] by a weight
// stored [k, n] (contracted on its first axis, as kept copies are: see
// SetKeeper) and stored [n, k] (contracted on its last, as an input
// gradient by a kernel matrix contracts it), on shapes of ResNet-50's
// 1×1 convolutions at 224² (one band of two in the last stages), and
// reports multiply-adds per ns.
func BenchmarkLayout(b *testing.B) {
	be := backend.MustGet()
	for _, d := range [][3]int{{1568, 256, 64}, {392, 512, 128}, {98, 1024, 256}, {28, 2048, 512}} {
		for _, last := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dx%dx%d/contract-last=%v", d[0], d[1], d[2], last), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				x := randTensor(rng, d[0], d[1])
				w := randTensor(rng, d[1], d[2])
				axis := 0
				if last {
					w, axis = randTensor(rng, d[2], d[1]), 1
				}
				exec := MustNewExec(be, func(x, w *Node) *Node { return DotGeneral(x, []int{1}, nil, w, []int{axis}, nil) })
				defer exec.Finalize()
				exec.MustExec(x, w)
				for b.Loop() {
					exec.MustExec(x, w)
				}
				b.ReportMetric(float64(d[0]*d[1]*d[2])*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "MAC/ns")
			})
		}
	}
}

// BenchmarkDispatch times compute's executor on a graph of 32,000 scalar
// adds in 1, 2 or 16 independent chains and reports its cost per op
// (ns/op-node): 1.1–1.6 µs on 2 cores, barely less in more chains, as the
// executor starts ops one at a time. scripts/opprof.sh -span schedules
// ops at 1.3 µs.
func BenchmarkDispatch(b *testing.B) {
	const nodes = 32000
	be := backend.MustGet()
	for _, chains := range []int{1, 2, 16} {
		b.Run(fmt.Sprint(chains, "chains"), func(b *testing.B) {
			exec := MustNewExec(be, func(x *Node) *Node {
				outs := make([]*Node, chains)
				for c := range chains {
					y := AddScalar(x, float64(c))
					for range nodes / chains {
						y = AddScalar(y, 1)
					}
					outs[c] = y
				}
				return Concatenate(outs, 0)
			})
			defer exec.Finalize()
			x := []float32{1}
			exec.MustExec(x)
			for b.Loop() {
				exec.MustExec(x)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nodes, "ns/op-node")
		})
	}
}
