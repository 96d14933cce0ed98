package onnx

import (
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/ml/model"

	"github.com/layervis/layervis/layervis/backend"
	"github.com/layervis/layervis/layervis/cnn"
	"github.com/layervis/layervis/layervis/internal/bandcheck"
)

// probe returns a bandcheck.Probe of m.
func probe(m *Model) *bandcheck.Probe {
	return bandcheck.NewProbe(m, m.bandCount)
}

// wholeCases are the op cases whose output is not held in bands where the
// input is: the ops that take their input whole (average pools, global
// pools, which join the bands' results, reductions, shapes, matrix
// products, pads, LRN), binary ops with an NCHW operand that does not
// broadcast along the rows, concatenations along other axes than the
// channels, and rank-2 values.
var wholeCases = []string{"AveragePool", "AveragePool/pads", "AveragePool/count_include_pad", "GlobalAveragePool",
	"GlobalMaxPool", "BatchNormalization/2D", "Sub/NCHW-NHWC", "Concat/width", "Flatten+Gemm+Softmax", "Flatten/NHWC",
	"Flatten/axis2", "MatMul", "Reshape/shape-computation", "Reshape/zero", "Transpose/to-NHWC", "Transpose",
	"ReduceMean/C", "ReduceMean/HW-keepdims", "ReduceMean/NH", "ReduceMax/W", "ReduceMin/C-H", "ReduceSum/axes-input",
	"Pad", "Slice", "Slice/negative", "Split", "Squeeze+Unsqueeze", "LogSoftmax", "LRN", "Constant",
	"ConstantOfShape+Size", "Gather/scalar", "Gather/list"}

// TestOpsBands builds every op case in 3 bands of a [1,3,6,5] input: each
// layer's graph has no dead node that the case built whole has not, the
// cases but wholeCases end in bands, and the activations and input
// gradients match the case built whole.
func TestOpsBands(t *testing.T) {
	t.Setenv(cnn.BandRowsEnvVar, "2")
	seen := 0
	for _, tc := range opCases {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGraph(1, 3, 6, 5)
			tc.build(g, false)
			m, err := Load(g.file(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range m.layers {
				name, _ := m.tensorOf(l.name)
				var dead [2][]string
				var b *builder
				for i, bands := range []int{1, 3} {
					gr := NewGraph(backend.MustGet(), "bands")
					model.SetStore(gr, m.Store())
					b = newBuilder(m, Parameter(gr, "x", shapes.Make(dtypes.Float32, 1, 3, 6, 5)), bands)
					dead[i] = deadNodes(gr, b.outputs([]string{name}))
					slices.Sort(dead[i])
					gr.Finalize()
				}
				if !slices.Equal(dead[0], dead[1]) {
					t.Errorf("building %s in bands leaves dead nodes %v, whole %v", l.name, dead[1], dead[0])
				}
				if l.name == g.out {
					if want := !slices.Contains(wholeCases, tc.name); (b.vals[name].bands != nil) != want {
						t.Errorf("output in %d bands, want them %v", len(b.vals[name].bands), want)
					}
					seen++
				}
			}
			var noGrad []string
			if slices.Contains([]string{"Pow", "Erf", "Split", "Gather/scalar", "Gather/list", "LRN"}, tc.name) {
				noGrad = []string{g.out}
			}
			bandcheck.Compare(t, probe(m), randomInput(3, 1, 3, 6, 5), 3, []int{3}, noGrad, g.out)
		})
	}
	if seen != len(opCases) {
		t.Errorf("%d of %d cases checked for bands", seen, len(opCases))
	}
}
