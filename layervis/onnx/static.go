package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/gotype"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // GoMLX style.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

// static is a tensor whose value is known while the graph is built:
// initializers, Constant outputs and the shape computations of dynamic-shape
// exports (Shape → Gather → Unsqueeze → Concat → Reshape). Integer and bool
// values are kept in ints, floating-point values in flts.
type static struct {
	dtype dtypes.DType
	dims  []int
	ints  []int64
	flts  []float64
}

// maxStaticElems bounds the static tensors built from shape computations
// (ConstantOfShape, Expand of constants), so that a corrupt file cannot ask
// for terabytes.
const maxStaticElems = 1 << 22

func numElems(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

func (s *static) size() int { return numElems(s.dims) }

func (s *static) isFloat() bool { return s.dtype.IsFloat() }

// float returns element i as a float64.
func (s *static) float(i int) float64 {
	if s.isFloat() {
		return s.flts[i]
	}
	return float64(s.ints[i])
}

// int returns element i as an int64 (floats truncated).
func (s *static) int(i int) int64 {
	if s.isFloat() {
		return int64(s.flts[i])
	}
	return s.ints[i]
}

// intList returns the values as ints, for shapes, axes and pads.
func (s *static) intList() []int {
	out := make([]int, s.size())
	for i := range out {
		v := s.int(i)
		// Clamp the ±2⁶³ "to the end" markers of Slice to int range.
		out[i] = int(max(min(v, math.MaxInt32), math.MinInt32))
	}
	return out
}

func newStatic(dtype dtypes.DType, dims []int) *static {
	n := numElems(dims)
	if n > maxStaticElems || n < 0 {
		exceptions.Panicf("constant tensor of shape %v is too large (over %d elements)", dims, maxStaticElems)
	}
	s := &static{dtype: dtype, dims: slices.Clone(dims)}
	if dtype.IsFloat() {
		s.flts = make([]float64, n)
	} else {
		s.ints = make([]int64, n)
	}
	return s
}

func staticInts(vals ...int64) *static {
	return &static{dtype: dtypes.Int64, dims: []int{len(vals)}, ints: vals}
}

// set stores element i from a float64 (converted to the dtype).
func (s *static) set(i int, v float64) {
	if s.isFloat() {
		s.flts[i] = v
	} else {
		s.ints[i] = int64(v)
	}
}

// copyElem copies element j of src into element i of s (same dtype class).
func (s *static) copyElem(i int, src *static, j int) {
	if s.isFloat() {
		s.flts[i] = src.float(j)
	} else {
		s.ints[i] = src.int(j)
	}
}

// staticFromTensor reads a host tensor.
func staticFromTensor(t *tensors.Tensor) (*static, error) {
	dt := t.DType()
	s := &static{dtype: dt, dims: slices.Clone(t.Shape().Dimensions)}
	var err error
	switch dt {
	case dtypes.Float32:
		s.flts, err = widen[float32](t, func(v float32) float64 { return float64(v) })
	case dtypes.Float64:
		s.flts, err = widen[float64](t, func(v float64) float64 { return v })
	case dtypes.Int64:
		s.ints, err = widen[int64](t, func(v int64) int64 { return v })
	case dtypes.Int32:
		s.ints, err = widen[int32](t, func(v int32) int64 { return int64(v) })
	case dtypes.Int8:
		s.ints, err = widen[int8](t, func(v int8) int64 { return int64(v) })
	case dtypes.Uint8:
		s.ints, err = widen[uint8](t, func(v uint8) int64 { return int64(v) })
	case dtypes.Bool:
		s.ints, err = widen[bool](t, func(v bool) int64 {
			if v {
				return 1
			}
			return 0
		})
	default:
		return nil, fmt.Errorf("tensors of dtype %s are not supported", dt)
	}
	return s, err
}

func widen[T gotype.Supported, U any](t *tensors.Tensor, f func(T) U) ([]U, error) {
	data, err := tensors.CopyFlatData[T](t)
	if err != nil {
		return nil, err
	}
	out := make([]U, len(data))
	for i, v := range data {
		out[i] = f(v)
	}
	return out, nil
}

// constNode materializes s as a graph constant.
func (s *static) constNode(g *Graph) *Node {
	var t *tensors.Tensor
	switch s.dtype {
	case dtypes.Float32:
		t = tensors.FromFlatDataAndDimensions(narrow(s.flts, func(v float64) float32 { return float32(v) }), s.dims...)
	case dtypes.Float64:
		t = tensors.FromFlatDataAndDimensions(slices.Clone(s.flts), s.dims...)
	case dtypes.Int64:
		t = tensors.FromFlatDataAndDimensions(slices.Clone(s.ints), s.dims...)
	case dtypes.Int32:
		t = tensors.FromFlatDataAndDimensions(narrow(s.ints, func(v int64) int32 { return int32(v) }), s.dims...)
	case dtypes.Bool:
		t = tensors.FromFlatDataAndDimensions(narrow(s.ints, func(v int64) bool { return v != 0 }), s.dims...)
	default:
		exceptions.Panicf("constant of dtype %s cannot be used in the graph", s.dtype)
	}
	return ConstTensor(g, t)
}

func narrow[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// strides returns row-major strides for dims.
func strides(dims []int) []int {
	st := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= dims[i]
	}
	return st
}

// forEachIndex calls f with every multi-index of dims in row-major order and
// its flat position.
func forEachIndex(dims []int, f func(idx []int, flat int)) {
	n := numElems(dims)
	idx := make([]int, len(dims))
	for flat := range n {
		f(idx, flat)
		for a := len(dims) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < dims[a] {
				break
			}
			idx[a] = 0
		}
	}
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis, rank int) int {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		exceptions.Panicf("axis %d out of range for rank %d", axis, rank)
	}
	return a
}

func (s *static) reshape(dims []int) *static {
	if numElems(dims) != s.size() {
		exceptions.Panicf("cannot reshape constant of shape %v to %v", s.dims, dims)
	}
	return &static{dtype: s.dtype, dims: slices.Clone(dims), ints: s.ints, flts: s.flts}
}

// cast converts to dtype (numeric and bool dtypes).
func (s *static) cast(dtype dtypes.DType) *static {
	out := newStatic(dtype, s.dims)
	for i := range s.size() {
		v := s.float(i)
		if dtype == dtypes.Bool && v != 0 {
			v = 1
		}
		out.set(i, v)
	}
	return out
}

// gather is ONNX Gather on constants.
func (s *static) gather(idx *static, axis int) *static {
	axis = normAxis(axis, len(s.dims))
	dims := slices.Concat(s.dims[:axis], idx.dims, s.dims[axis+1:])
	out := newStatic(s.dtype, dims)
	st := strides(s.dims)
	ir := len(idx.dims)
	forEachIndex(dims, func(oi []int, flat int) {
		k := int(idx.int(flatIndex(oi[axis:axis+ir], idx.dims)))
		if k < 0 {
			k += s.dims[axis]
		}
		if k < 0 || k >= s.dims[axis] {
			exceptions.Panicf("Gather index %d out of range for axis of size %d", k, s.dims[axis])
		}
		src := k * st[axis]
		for a := range axis {
			src += oi[a] * st[a]
		}
		for a := axis + 1; a < len(s.dims); a++ {
			src += oi[a-1+ir] * st[a]
		}
		out.copyElem(flat, s, src)
	})
	return out
}

func flatIndex(idx, dims []int) int {
	f := 0
	for a, d := range dims {
		f = f*d + idx[a]
	}
	return f
}

// concat is ONNX Concat on constants.
func concatStatic(parts []*static, axis int) *static {
	rank := len(parts[0].dims)
	axis = normAxis(axis, rank)
	dims := slices.Clone(parts[0].dims)
	dims[axis] = 0
	for _, p := range parts {
		if len(p.dims) != rank {
			exceptions.Panicf("Concat of constants of ranks %d and %d", rank, len(p.dims))
		}
		dims[axis] += p.dims[axis]
	}
	out := newStatic(parts[0].dtype, dims)
	forEachIndex(dims, func(oi []int, flat int) {
		k := oi[axis]
		for _, p := range parts {
			if k < p.dims[axis] {
				src := slices.Clone(oi)
				src[axis] = k
				out.copyElem(flat, p, flatIndex(src, p.dims))
				return
			}
			k -= p.dims[axis]
		}
	})
	return out
}

// sliceRange resolves ONNX Slice bounds for one axis of size n: it returns
// the first index, the step and the number of elements.
func sliceRange(start, end, step, n int) (first, count int) {
	if step == 0 {
		exceptions.Panicf("Slice step cannot be 0")
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if step > 0 {
		start = max(0, min(start, n))
		end = max(0, min(end, n))
		if end <= start {
			return start, 0
		}
		return start, (end - start + step - 1) / step
	}
	start = max(-1, min(start, n-1))
	end = max(-1, min(end, n-1))
	if end >= start {
		return start, 0
	}
	return start, (start - end - step - 1) / -step
}

// slice is ONNX Slice on constants; spec[a] = {start, end, step} per axis.
func (s *static) slice(spec map[int][3]int) *static {
	first := make([]int, len(s.dims))
	step := make([]int, len(s.dims))
	dims := slices.Clone(s.dims)
	for a := range s.dims {
		step[a] = 1
		if sp, ok := spec[a]; ok {
			first[a], dims[a] = sliceRange(sp[0], sp[1], sp[2], s.dims[a])
			step[a] = sp[2]
		}
	}
	out := newStatic(s.dtype, dims)
	st := strides(s.dims)
	forEachIndex(dims, func(oi []int, flat int) {
		src := 0
		for a, i := range oi {
			src += (first[a] + i*step[a]) * st[a]
		}
		out.copyElem(flat, s, src)
	})
	return out
}

// broadcastDims returns the ONNX (numpy) broadcast of two shapes.
func broadcastDims(a, b []int) []int {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			exceptions.Panicf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out
}

// broadcastIndex maps an index of the broadcast shape to a flat index of s.
func (s *static) broadcastIndex(oi []int) int {
	off := len(oi) - len(s.dims)
	f := 0
	for a, d := range s.dims {
		i := oi[a+off]
		if d == 1 {
			i = 0
		}
		f = f*d + i
	}
	return f
}

// binaryStatic applies an elementwise op with broadcasting.
func binaryStatic(op string, a, b *static) *static {
	if a.isFloat() != b.isFloat() {
		exceptions.Panicf("%s of constants of dtypes %s and %s", op, a.dtype, b.dtype)
	}
	out := newStatic(a.dtype, broadcastDims(a.dims, b.dims))
	float := a.isFloat()
	forEachIndex(out.dims, func(oi []int, flat int) {
		i, j := a.broadcastIndex(oi), b.broadcastIndex(oi)
		if float {
			x, y := a.flts[i], b.flts[j]
			var r float64
			switch op {
			case "Add":
				r = x + y
			case "Sub":
				r = x - y
			case "Mul":
				r = x * y
			case "Div":
				r = x / y
			}
			out.set(flat, r)
			return
		}
		x, y := a.ints[i], b.ints[j]
		var r int64
		switch op {
		case "Add":
			r = x + y
		case "Sub":
			r = x - y
		case "Mul":
			r = x * y
		case "Div":
			if y == 0 {
				exceptions.Panicf("integer division by zero in a constant expression")
			}
			r = x / y
		}
		out.ints[flat] = r
	})
	return out
}
