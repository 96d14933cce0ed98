package onnx

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute-onnx/support/protos"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	onnxparser "github.com/gomlx/onnx-gomlx/onnx/parser"
	"google.golang.org/protobuf/proto"

	"github.com/layervis/layervis/layervis/backend"
)

// testGraph builds small ONNX models for tests: one float32 input "x",
// random initializers, and nodes with one output each.
type testGraph struct {
	in    []int64
	opset int64
	nodes []*protos.NodeProto
	inits []*protos.TensorProto
	out   string // the last node's output
	rng   *rand.Rand
}

func newTestGraph(dims ...int64) *testGraph {
	return &testGraph{in: dims, opset: 13, rng: rand.New(rand.NewPCG(1, 2))}
}

// w adds a random float32 initializer.
func (g *testGraph) w(dims ...int) string {
	n := 1
	for _, d := range dims {
		n *= d
	}
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(g.rng.NormFloat64())
	}
	return g.f(dims, vals...)
}

// f adds a float32 initializer with the given values.
func (g *testGraph) f(dims []int, vals ...float32) string {
	name := fmt.Sprintf("init%d", len(g.inits))
	t := &protos.TensorProto{Name: name, DataType: int32(protos.TensorProto_FLOAT), FloatData: vals}
	for _, d := range dims {
		t.Dims = append(t.Dims, int64(d))
	}
	g.inits = append(g.inits, t)
	return name
}

// ints adds a 1-D int64 initializer.
func (g *testGraph) ints(vals ...int64) string {
	name := fmt.Sprintf("init%d", len(g.inits))
	g.inits = append(g.inits, &protos.TensorProto{Name: name, DataType: int32(protos.TensorProto_INT64),
		Dims: []int64{int64(len(vals))}, Int64Data: vals})
	return name
}

// op adds a node reading ins and returns its (only) output's name.
func (g *testGraph) op(op string, ins []string, attrs ...*protos.AttributeProto) string {
	i := len(g.nodes)
	out := fmt.Sprintf("/n%d/%s_output_0", i, op)
	g.nodes = append(g.nodes, &protos.NodeProto{OpType: op, Name: fmt.Sprintf("/n%d/%s", i, op),
		Input: ins, Output: []string{out}, Attribute: attrs})
	g.out = out
	return out
}

func aInt(name string, v int64) *protos.AttributeProto {
	return &protos.AttributeProto{Name: name, Type: protos.AttributeProto_INT, I: v}
}

func aInts(name string, v ...int64) *protos.AttributeProto {
	return &protos.AttributeProto{Name: name, Type: protos.AttributeProto_INTS, Ints: v}
}

func aFloat(name string, v float32) *protos.AttributeProto {
	return &protos.AttributeProto{Name: name, Type: protos.AttributeProto_FLOAT, F: v}
}

func aString(name, v string) *protos.AttributeProto {
	return &protos.AttributeProto{Name: name, Type: protos.AttributeProto_STRING, S: []byte(v)}
}

func valueInfo(name string, dims ...int64) *protos.ValueInfoProto {
	shape := &protos.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &protos.TensorShapeProto_Dimension{Value: &protos.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &protos.ValueInfoProto{Name: name, Type: &protos.TypeProto{Value: &protos.TypeProto_TensorType{
		TensorType: &protos.TypeProto_Tensor{ElemType: int32(protos.TensorProto_FLOAT), Shape: shape}}}}
}

func (g *testGraph) proto() *protos.ModelProto {
	return &protos.ModelProto{IrVersion: 8, ProducerName: "layervis-test",
		OpsetImport: []*protos.OperatorSetIdProto{{Version: g.opset}},
		Graph: &protos.GraphProto{Name: "test", Node: g.nodes, Initializer: g.inits,
			Input: []*protos.ValueInfoProto{valueInfo("x", g.in...)}, Output: []*protos.ValueInfoProto{valueInfo(g.out)}}}
}

func (g *testGraph) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := proto.Marshal(g.proto())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// file writes the model to a temporary .onnx file.
func (g *testGraph) file(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.onnx")
	if err := os.WriteFile(path, g.bytes(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// randomInput returns a reproducible N(0,1) tensor.
func randomInput(seed uint64, dims ...int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 7))
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// gomlxReference evaluates output out of the model with onnx-gomlx's own
// converter (CallGraph), an independent implementation of the ONNX ops.
func gomlxReference(t *testing.T, data []byte, x *tensors.Tensor, out string) *tensors.Tensor {
	t.Helper()
	om, err := onnxparser.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if err := om.VariablesToScope(store.RootScope()); err != nil {
		t.Fatal(err)
	}
	res, err := model.CallOnce(backend.MustGet(), store, func(scope *model.Scope, x *Node) *Node {
		return om.CallGraph(scope, x.Graph(), map[string]*Node{"x": x}, out)[0]
	}, x)
	if err != nil {
		t.Fatalf("onnx-gomlx reference: %v", err)
	}
	return res
}
