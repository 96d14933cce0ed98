package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"unicode/utf8"
)

// MaxSafetensorsHeader is the largest safetensors JSON header accepted, in
// bytes; a larger header length is treated as corrupt rather than allocated.
const MaxSafetensorsHeader = 100 << 20

// ReadSafetensors decodes a safetensors file held in memory. It validates the
// file strictly: the header length must fit in data, the header must be a
// JSON object, every tensor's data_offsets must lie inside the data area and
// span exactly prod(shape) elements of its dtype. Accepted dtypes: F32, F16,
// BF16, F64, I64, I32, I16, I8, U8 and BOOL. Names are returned sorted.
func ReadSafetensors(data []byte) (*Checkpoint, error) {
	ck, err := readSafetensors(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, wrapErr("", err)
	}
	return ck, nil
}

// stEntry is one tensor entry of a safetensors header.
type stEntry struct {
	DType   *string  `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets []uint64 `json:"data_offsets"`
}

// readSafetensors decodes a safetensors file of size bytes read through r.
func readSafetensors(r io.ReaderAt, size int64) (ck *Checkpoint, err error) {
	defer func() {
		if p := recover(); p != nil { // not expected: every size is checked
			ck, err = nil, fmt.Errorf("safetensors: malformed file (%v)", p)
		}
	}()
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file of %d bytes is too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d larger than the file (%d bytes)", hlen, size)
	}
	if hlen > MaxSafetensorsHeader {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit", hlen, MaxSafetensorsHeader)
	}
	header := make([]byte, hlen)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	if len(header) == 0 || header[0] != '{' {
		return nil, errors.New("safetensors: header does not start with '{'")
	}
	if !utf8.Valid(header) {
		return nil, errors.New("safetensors: header is not valid UTF-8")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not a valid JSON object: %v", err)
	}
	dataStart := 8 + int64(hlen)
	dataSize := size - dataStart

	names := make([]string, 0, len(raw))
	for name := range raw {
		if name == "__metadata__" {
			var md map[string]string
			if err := json.Unmarshal(raw[name], &md); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)

	type planned struct {
		shape      []int
		dt         *dtype
		begin, end int64
	}
	plan := make([]planned, len(names))
	for i, name := range names {
		var e stEntry
		if err := json.Unmarshal(raw[name], &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %v", name, err)
		}
		if e.DType == nil {
			return nil, fmt.Errorf("safetensors: tensor %q: missing dtype", name)
		}
		dt, ok := safetensorsDTypes[*e.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q (accepted: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)", name, *e.DType)
		}
		if e.Shape == nil {
			return nil, fmt.Errorf("safetensors: tensor %q: missing shape", name)
		}
		if len(e.Offsets) != 2 {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets must be [begin, end], got %d numbers", name, len(e.Offsets))
		}
		shape := make([]int, len(e.Shape))
		for j, d := range e.Shape {
			if d < 0 || d > math.MaxInt32*int64(1<<20) {
				return nil, fmt.Errorf("safetensors: tensor %q: invalid dimension %d in shape %v", name, d, e.Shape)
			}
			shape[j] = int(d)
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin > end || end > uint64(dataSize) {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] outside data area of %d bytes", name, begin, end, dataSize)
		}
		// The element count is bounded by the bytes present, so any shape
		// claiming more is rejected before allocating.
		n, err := checkedProduct(shape, int(dataSize)/dt.size+1)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %v, but the data area holds only %d bytes", name, err, dataSize)
		}
		if uint64(n)*uint64(dt.size) != end-begin {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] span %d bytes, but shape %v of %s needs %d",
				name, begin, end, end-begin, shape, *e.DType, uint64(n)*uint64(dt.size))
		}
		plan[i] = planned{shape: shape, dt: dt, begin: int64(begin), end: int64(end)}
	}

	ck = &Checkpoint{Format: FormatSafetensors, Names: names, Tensors: make(map[string]*Tensor, len(names))}
	var buf []byte
	for i, name := range names {
		p := plan[i]
		nb := p.end - p.begin
		if int64(cap(buf)) < nb {
			buf = make([]byte, nb)
		}
		b := buf[:nb]
		if nb > 0 {
			if _, err := r.ReadAt(b, dataStart+p.begin); err != nil {
				return nil, fmt.Errorf("safetensors: tensor %q: reading data: %w", name, err)
			}
		}
		t := &Tensor{Name: name, Shape: p.shape, DType: p.dt.name, Data: make([]float32, int(nb)/p.dt.size)}
		decodeContiguous(t.Data, b, p.dt, binary.LittleEndian)
		ck.Tensors[name] = t
	}
	return ck, nil
}
