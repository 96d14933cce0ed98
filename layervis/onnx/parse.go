package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/gomlx/ml/model"
	onnxparser "github.com/gomlx/onnx-gomlx/onnx/parser"
	"google.golang.org/protobuf/proto"
)

// elemBytes gives the size of the tensor element types layervis reads.
// Computation is float32; the integer and bool types appear in shape
// computations and constants.
var elemBytes = map[protos.TensorProto_DataType]int{
	protos.TensorProto_FLOAT:  4,
	protos.TensorProto_DOUBLE: 8,
	protos.TensorProto_INT64:  8,
	protos.TensorProto_INT32:  4,
	protos.TensorProto_INT8:   1,
	protos.TensorProto_UINT8:  1,
	protos.TensorProto_BOOL:   1,
}

// maxTensorElems bounds the declared size of one tensor in a file (4 Gi
// elements), so that corrupt dimensions are reported instead of allocated.
const maxTensorElems = 1 << 32

// checkTensor validates a tensor's declared type, shape and data before it is
// decoded: the data must be present and exactly as long as the shape says.
func checkTensor(t *protos.TensorProto, baseDir string) error {
	dt := protos.TensorProto_DataType(t.GetDataType())
	size, ok := elemBytes[dt]
	if !ok {
		return fmt.Errorf("tensor %q has data type %s; layervis reads float32 models (and int64/int32/int8/uint8/bool/double constants): convert the model to float32", t.GetName(), dt)
	}
	if t.GetSegment() != nil {
		return fmt.Errorf("tensor %q is segmented, which is not supported", t.GetName())
	}
	n := int64(1)
	for _, d := range t.GetDims() {
		if d < 0 || d > maxTensorElems {
			return fmt.Errorf("tensor %q has invalid dimensions %v", t.GetName(), t.GetDims())
		}
		n *= d
		if n > maxTensorElems {
			return fmt.Errorf("tensor %q has dimensions %v: over %d elements", t.GetName(), t.GetDims(), int64(maxTensorElems))
		}
	}
	want := n * int64(size)
	if t.GetDataLocation() == protos.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
		return checkExternal(t, want, baseDir)
	}
	var got int64
	var field string
	switch {
	case t.GetRawData() != nil:
		got, field = int64(len(t.GetRawData())), "raw_data bytes"
	case dt == protos.TensorProto_FLOAT:
		got, field, want = int64(len(t.GetFloatData())), "float_data values", n
	case dt == protos.TensorProto_DOUBLE:
		got, field, want = int64(len(t.GetDoubleData())), "double_data values", n
	case dt == protos.TensorProto_INT64:
		got, field, want = int64(len(t.GetInt64Data())), "int64_data values", n
	default:
		got, field, want = int64(len(t.GetInt32Data())), "int32_data values", n
	}
	if got != want {
		return fmt.Errorf("tensor %q of shape %v has %d %s, want %d (truncated or corrupt file?)", t.GetName(), t.GetDims(), got, field, want)
	}
	return nil
}

// checkExternal checks that a tensor stored in an external file fits in it.
func checkExternal(t *protos.TensorProto, want int64, baseDir string) error {
	var loc string
	var off, length int64 = 0, -1
	for _, kv := range t.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			loc = kv.GetValue()
		case "offset":
			off, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return fmt.Errorf("tensor %q: invalid external data %s %q", t.GetName(), kv.GetKey(), kv.GetValue())
		}
	}
	if loc == "" {
		return fmt.Errorf("tensor %q is stored externally but names no file (no \"location\")", t.GetName())
	}
	if length >= 0 && length != want {
		return fmt.Errorf("tensor %q of shape %v: external data length %d, want %d", t.GetName(), t.GetDims(), length, want)
	}
	path := filepath.Join(baseDir, loc)
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("tensor %q is stored in %s, which cannot be read (keep the external data files beside the .onnx file): %w", t.GetName(), path, err)
	}
	if off < 0 || st.Size() < off+want {
		return fmt.Errorf("tensor %q: external file %s holds %d bytes, too short for %d bytes at offset %d", t.GetName(), path, st.Size(), want, off)
	}
	return nil
}

// decodeTensors decodes the given tensors with onnx-gomlx into frozen
// variables of a new store: tensor i becomes the variable "/ONNX/t<i>".
// The tensors are renamed during the call (and restored), so that the
// variable names are safe and distinct whatever the ONNX names are.
func decodeTensors(ts []*protos.TensorProto, baseDir string) (store *model.Store, err error) {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
		t.Name = "t" + strconv.Itoa(i)
	}
	defer func() {
		for i, t := range ts {
			t.Name = names[i]
		}
	}()
	// A model of the tensors alone: onnx-gomlx parses it without looking at
	// (or converting) any node.
	holder := &protos.ModelProto{IrVersion: 8, Graph: &protos.GraphProto{Name: "weights", Initializer: ts}}
	data, err := proto.Marshal(holder)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding the weights failed: %v", r)
		}
	}()
	om, err := onnxparser.Parse(data)
	if err != nil {
		return nil, err
	}
	defer om.Close()
	om.WithBaseDir(baseDir)
	store = model.NewStore()
	if err := om.VariablesToScope(store.RootScope()); err != nil {
		return nil, err
	}
	for v := range store.IterVariables() {
		v.SetTrainable(false)
	}
	return store, nil
}

// variablePath is the store path of tensor i decoded by decodeTensors.
func variablePath(i int) string { return "/ONNX/t" + strconv.Itoa(i) }

// unmarshal decodes the ModelProto and checks the parts every model needs.
func unmarshal(data []byte) (*protos.ModelProto, error) {
	var mp protos.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("not an ONNX model (protobuf decoding failed: %v); is the file truncated?", err)
	}
	if mp.GetGraph() == nil {
		return nil, errors.New("not an ONNX model: it has no graph")
	}
	return &mp, nil
}

// opsetVersion returns the model's version of the default ONNX operator set.
func opsetVersion(mp *protos.ModelProto) (int64, error) {
	for _, o := range mp.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			return o.GetVersion(), nil
		}
	}
	return 0, errors.New("the model imports no version of the default ONNX operator set (opset_import is missing)")
}
