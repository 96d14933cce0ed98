package onnx

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"
	onnxparser "github.com/gomlx/onnx-gomlx/onnx/parser"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/pyref"
)

// BenchmarkResNet18 times resnet18 exported by torch at 224×224, converted
// by this package (convolutions in the backend's fastest form: im2col on the
// pure-Go backend; through cnn.Build, in bands where there are several
// cores) and by onnx-gomlx's CallGraph (graph.Convolve), for the
// layer layer3 (forward) and its mean's gradient w.r.t. the input
// (forward+backward). It also logs how many nodes of onnx-gomlx's graph no
// output uses.
func BenchmarkResNet18(b *testing.B) {
	pyref.Require(b)
	dir := b.TempDir()
	pyref.Run(b, filepath.Join("testdata", "export.py"), "--pyref", filepath.Dir(pyref.Script("torchref.py")),
		"--out", dir, "--size", "224", "resnet18")
	path := filepath.Join(dir, "resnet18.onnx")
	const layer = "/layer3/layer3.1/relu_1/Relu_output_0"
	be := backend.MustGet()
	x := randomInput(1, 1, 3, 224, 224)

	m, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	om, err := onnxparser.ParseFile(path)
	if err != nil {
		b.Fatal(err)
	}
	omStore := model.NewStore()
	if err := om.VariablesToScope(omStore.RootScope()); err != nil {
		b.Fatal(err)
	}
	builds := map[string]struct {
		store *model.Store
		fn    func(scope *model.Scope, x *Node) *Node
	}{
		"layervis": {m.Store(), func(_ *model.Scope, x *Node) *Node { return cnn.Build(m, x, layer)[0] }},
		"onnx-gomlx": {omStore, func(s *model.Scope, x *Node) *Node {
			return om.CallGraph(s, x.Graph(), map[string]*Node{"input": x}, layer)[0]
		}},
	}

	// Dead nodes of each forward graph.
	for name, bd := range builds {
		g := NewGraph(be, "dead")
		model.SetStore(g, bd.store)
		xp := Parameter(g, "x", shapes.Make(dtypes.Float32, 1, 3, 224, 224))
		out := bd.fn(bd.store.RootScope(), xp)
		b.Logf("%s: %d graph nodes, %d used by no output", name, len(g.Nodes()), len(deadNodes(g, []*Node{out})))
		g.Finalize()
	}

	for _, impl := range []string{"layervis", "onnx-gomlx"} {
		for _, grad := range []bool{false, true} {
			bd := builds[impl]
			b.Run(fmt.Sprintf("%s/grad=%v", impl, grad), func(b *testing.B) {
				exec, err := model.NewExec(be, bd.store, func(s *model.Scope, x *Node) []*Node {
					y := bd.fn(s, x)
					if grad {
						return []*Node{Gradient(ReduceAllMean(y), x)[0]}
					}
					return []*Node{y}
				})
				if err != nil {
					b.Fatal(err)
				}
				defer exec.Finalize()
				if _, err := exec.Exec(x); err != nil { // compile
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					out, err := exec.Exec(x)
					if err != nil {
						b.Fatal(err)
					}
					out[0].FinalizeAll()
				}
			})
		}
	}
}
