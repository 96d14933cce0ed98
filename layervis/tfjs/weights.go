package tfjs

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute/dtypes/float16"
)

// weightGroup is one entry of weightsManifest: shard files whose
// concatenation holds the listed weights, in order.
type weightGroup struct {
	Paths   []string     `json:"paths"`
	Weights []weightSpec `json:"weights"`
}

// weightSpec describes one tensor in the shard bytes.
type weightSpec struct {
	Name         string        `json:"name"`
	Shape        []jsonInt     `json:"shape"`
	DType        string        `json:"dtype"`
	Quantization *quantization `json:"quantization"`
}

// quantization says how a weight is stored: as float16, or as uint8/uint16
// codes q standing for q·scale + min.
type quantization struct {
	DType         string    `json:"dtype"`
	Min           jsonFloat `json:"min"`
	Scale         jsonFloat `json:"scale"`
	OriginalDType string    `json:"original_dtype"`
}

// tensor is a decoded weight: float values (float32 weights) or integer
// values (int32 and bool weights, used as shapes, axes and sizes).
type tensor struct {
	dims   []int
	floats []float32 // for float32 weights
	ints   []int64   // for int32 and bool weights
}

func (t *tensor) isInt() bool { return t.floats == nil }

// size returns the number of elements of t.
func (t *tensor) size() int {
	if t.isInt() {
		return len(t.ints)
	}
	return len(t.floats)
}

// maxWeightBytes bounds the bytes of one weights group (4 GiB).
const maxWeightBytes = 4 << 30

// elemBytes returns the bytes one element of w takes in the shards.
func (w *weightSpec) elemBytes() (int, error) {
	size := 0
	switch w.DType {
	case "float32", "int32":
		size = 4
	case "bool":
		size = 1
	default:
		return 0, fmt.Errorf("weight %q: unknown dtype %q (supported: float32, int32, bool)", w.Name, w.DType)
	}
	q := w.Quantization
	if q == nil {
		return size, nil
	}
	switch q.DType {
	case "float16":
		if w.DType != "float32" {
			return 0, fmt.Errorf("weight %q: float16 quantization of a %s tensor is not supported", w.Name, w.DType)
		}
		return 2, nil
	case "uint8":
		return 1, nil
	case "uint16":
		return 2, nil
	}
	return 0, fmt.Errorf("weight %q: unknown quantization dtype %q (supported: float16, uint8, uint16)", w.Name, q.DType)
}

// count returns the number of elements of w, checking the shape.
func (w *weightSpec) count() (dims []int, n int, err error) {
	n = 1
	dims = make([]int, len(w.Shape))
	for i, d := range w.Shape {
		if d < 0 || d > maxWeightBytes {
			return nil, 0, fmt.Errorf("weight %q: bad shape %v", w.Name, w.Shape)
		}
		dims[i] = int(d)
		n *= int(d)
		if n > maxWeightBytes {
			return nil, 0, fmt.Errorf("weight %q: shape %v is too large", w.Name, w.Shape)
		}
	}
	return dims, n, nil
}

// readWeights reads every weights group of the manifest from the shard
// files in dir and decodes the tensors, by name.
func readWeights(dir string, groups []weightGroup) (map[string]*tensor, error) {
	out := map[string]*tensor{}
	for gi, grp := range groups {
		// Sizes first, so that a bad manifest fails before reading.
		need := 0
		for i := range grp.Weights {
			w := &grp.Weights[i]
			eb, err := w.elemBytes()
			if err != nil {
				return nil, err
			}
			_, n, err := w.count()
			if err != nil {
				return nil, err
			}
			need += n * eb
			if need > maxWeightBytes {
				return nil, fmt.Errorf("weights group %d: over %d bytes", gi, maxWeightBytes)
			}
		}
		data, err := readShards(dir, gi, grp.Paths, need)
		if err != nil {
			return nil, err
		}
		off := 0
		for i := range grp.Weights {
			w := &grp.Weights[i]
			t, used, err := decodeWeight(w, data[off:])
			if err != nil {
				return nil, err
			}
			off += used
			if _, dup := out[w.Name]; !dup {
				out[w.Name] = t
			}
		}
	}
	return out, nil
}

// readShards reads the shard files of one group and checks that together
// they hold exactly need bytes.
func readShards(dir string, gi int, paths []string, need int) ([]byte, error) {
	if len(paths) == 0 {
		if need == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("weights group %d lists no shard file but %d bytes of weights", gi, need)
	}
	sizes := make([]int64, len(paths))
	var total int64
	for i, p := range paths {
		if !filepath.IsLocal(p) {
			return nil, fmt.Errorf("weights group %d: shard path %q must be a file name relative to the model directory", gi, p)
		}
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			return nil, fmt.Errorf("weight shard %s (listed in model.json): %w", filepath.Join(dir, p), unwrapPath(err))
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("weight shard %s is not a regular file", filepath.Join(dir, p))
		}
		sizes[i] = st.Size()
		total += st.Size()
	}
	if total != int64(need) {
		names := make([]string, len(paths))
		for i, p := range paths {
			names[i] = fmt.Sprintf("%s (%d bytes)", filepath.Join(dir, p), sizes[i])
		}
		what := "shorter"
		if total > int64(need) {
			what = "longer"
		}
		return nil, fmt.Errorf("weight shard %s: %d bytes in all, %s than the %d bytes model.json's weightsManifest describes (truncated or mismatched file?)",
			strings.Join(names, " + "), total, what, need)
	}
	data := make([]byte, 0, need)
	for i, p := range paths {
		f, err := os.Open(filepath.Join(dir, p))
		if err != nil {
			return nil, fmt.Errorf("weight shard %s: %w", filepath.Join(dir, p), unwrapPath(err))
		}
		n := len(data)
		data = data[:n+int(sizes[i])]
		_, err = io.ReadFull(f, data[n:])
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("weight shard %s: %w (changed while reading?)", filepath.Join(dir, p), err)
		}
	}
	return data, nil
}

// unwrapPath strips the *fs.PathError wrapper (its path repeats ours).
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// decodeWeight decodes w from the start of b (which holds at least its
// bytes) and returns the tensor and the bytes used.
func decodeWeight(w *weightSpec, b []byte) (*tensor, int, error) {
	eb, err := w.elemBytes()
	if err != nil {
		return nil, 0, err
	}
	dims, n, err := w.count()
	if err != nil {
		return nil, 0, err
	}
	t := &tensor{dims: dims}
	le := binary.LittleEndian
	isInt := w.DType == "int32" || w.DType == "bool"
	if isInt {
		t.ints = make([]int64, n)
	} else {
		t.floats = make([]float32, n)
	}
	q := w.Quantization
	for i := range n {
		var v float64
		switch {
		case q != nil && q.DType == "float16":
			t.floats[i] = float16.Float16(le.Uint16(b[2*i:])).Float32()
			continue
		case q != nil && q.DType == "uint8":
			v = float64(b[i])*float64(q.Scale) + float64(q.Min)
		case q != nil && q.DType == "uint16":
			v = float64(le.Uint16(b[2*i:]))*float64(q.Scale) + float64(q.Min)
		case w.DType == "float32":
			t.floats[i] = math.Float32frombits(le.Uint32(b[4*i:]))
			continue
		case w.DType == "int32":
			t.ints[i] = int64(int32(le.Uint32(b[4*i:])))
			continue
		default: // bool
			t.ints[i] = int64(b[i])
			continue
		}
		if isInt {
			t.ints[i] = int64(math.Round(v))
		} else {
			t.floats[i] = float32(v)
		}
	}
	return t, n * eb, nil
}
