package checkpoint

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

// This file holds the Go stand-ins for the Python objects a torch pickle
// refers to. None of them runs code: they only record their arguments.

// storageClass stands for torch.<X>Storage; dt is nil for storage types this
// package cannot convert (complex, quantized, ...).
type storageClass struct {
	name string
	dt   *dtype
}

// storageRef is a torch storage referenced by a pickle through a persistent
// id: numel elements of dt, found under key (in the zip's data/ folder, or
// among the legacy file's trailing records). A legacy view covers numel
// elements from element offset of its root storage.
type storageRef struct {
	key    string
	class  *storageClass
	numel  int
	offset int // legacy views only
}

// torchTensor is the result of torch._utils._rebuild_tensor(_v2).
type torchTensor struct {
	storage *storageRef
	offset  int
	size    []int
	stride  []int
}

// unsupportedTensor is the result of a torch._utils._rebuild_* function this
// package does not implement (quantized, sparse, meta tensors, ...).
type unsupportedTensor struct{ fn string }

// rebuildTensor implements torch._utils._rebuild_tensor_v2(storage, offset,
// size, stride, requires_grad, backward_hooks[, metadata]) and the older
// _rebuild_tensor(storage, offset, size, stride).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor: expected at least 4 arguments, got %d", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: first argument is %s, not a storage", describe(args[0]))
	}
	off, err := toInt(args[1], "storage offset")
	if err != nil {
		return nil, err
	}
	size, err := toIntSlice(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := toIntSlice(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor: size %v and stride %v differ in length", size, stride)
	}
	return &torchTensor{storage: st, offset: off, size: size, stride: stride}, nil
}

// rebuildParameter implements torch._utils._rebuild_parameter(data,
// requires_grad, backward_hooks) and _rebuild_parameter_with_state: the
// parameter is its data tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter: missing data argument")
	}
	return args[0], nil
}

// unsupportedRebuild stands for the other torch._utils._rebuild_* functions.
type unsupportedRebuild struct{ fn string }

func (u unsupportedRebuild) Call(args ...interface{}) (interface{}, error) {
	return &unsupportedTensor{fn: u.fn}, nil
}

// opaqueClass stands for any other Python class or function: calling or
// instantiating it gives an opaqueObject, whatever the arguments.
type opaqueClass struct{ module, name string }

func (c *opaqueClass) Call(args ...interface{}) (interface{}, error) {
	return &opaqueObject{class: c}, nil
}

func (c *opaqueClass) PyNew(args ...interface{}) (interface{}, error) {
	return &opaqueObject{class: c}, nil
}

// opaqueObject is an instance of an opaqueClass. It accepts any state the
// pickle gives it and keeps only dict items (so that a dict subclass holding
// a state dict can still be read).
type opaqueObject struct {
	class *opaqueClass
	items []types.DictEntry
}

func (o *opaqueObject) PySetState(state interface{}) error            { return nil }
func (o *opaqueObject) PyDictSet(key, value interface{}) error        { return nil }
func (o *opaqueObject) PySetAttr(key string, value interface{}) error { return nil }
func (o *opaqueObject) Append(v interface{})                          {}
func (o *opaqueObject) Add(v interface{})                             {}
func (o *opaqueObject) Set(key, value interface{}) {
	if len(o.items) < 1<<20 {
		o.items = append(o.items, types.DictEntry{Key: key, Value: value})
	}
}

// findClass resolves GLOBAL/STACK_GLOBAL references for torch pickles.
func findClass(module, name string) (interface{}, error) {
	switch {
	case module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor"):
		return rebuildTensor{}, nil
	case module == "torch._utils" && (name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state"):
		return rebuildParameter{}, nil
	case module == "torch._utils" && strings.HasPrefix(name, "_rebuild_"):
		return unsupportedRebuild{fn: module + "." + name}, nil
	case module == "torch" && strings.HasSuffix(name, "Storage"):
		return &storageClass{name: "torch." + name, dt: torchStorageDTypes[name]}, nil
	}
	return &opaqueClass{module: module, name: name}, nil
}

// toInt converts a pickled integer to int.
func toInt(v interface{}, what string) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case *big.Int:
		return 0, fmt.Errorf("%s %s is out of range", what, truncate(x.String(), 40))
	}
	return 0, fmt.Errorf("%s is %s, not an integer", what, describe(v))
}

// toIntSlice converts a pickled tuple (or list) of integers.
func toIntSlice(v interface{}, what string) ([]int, error) {
	var items []interface{}
	switch x := v.(type) {
	case *types.Tuple:
		items = *x
	case *types.List:
		items = *x
	default:
		return nil, fmt.Errorf("%s is %s, not a tuple", what, describe(v))
	}
	if len(items) > 64 {
		return nil, fmt.Errorf("%s has %d dimensions", what, len(items))
	}
	out := make([]int, len(items))
	for i, it := range items {
		n, err := toInt(it, what)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// describe names the Go/Python type of a pickled value for error messages.
func describe(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return "a string"
	case int, *big.Int:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a bool"
	case *types.Tuple:
		return "a tuple"
	case *types.List:
		return "a list"
	case *types.Dict, *types.OrderedDict:
		return "a dict"
	case *opaqueObject:
		return fmt.Sprintf("a %s.%s object", x.class.module, x.class.name)
	case *opaqueClass:
		return fmt.Sprintf("the class %s.%s", x.module, x.name)
	case *torchTensor:
		return "a tensor"
	case *storageRef:
		return "a storage"
	}
	return fmt.Sprintf("a value of Go type %T", v)
}

// dictEntries returns the entries of a dict-like pickled value, in order.
func dictEntries(v interface{}) ([]types.DictEntry, bool) {
	switch x := v.(type) {
	case *types.OrderedDict:
		out := make([]types.DictEntry, 0, x.Len())
		for e := x.List.Front(); e != nil; e = e.Next() {
			oe := e.Value.(*types.OrderedDictEntry)
			out = append(out, types.DictEntry{Key: oe.Key, Value: oe.Value})
		}
		return out, true
	case *types.Dict:
		return *x, true
	case *opaqueObject:
		if len(x.items) > 0 {
			return x.items, true
		}
	}
	return nil, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
