// Package npy reads and writes NumPy .npy files holding float32 arrays.
//
// [Write] and [Encode] produce format version 1.0 (version 2.0 only when the
// header would not fit in 65535 bytes), dtype '<f4', fortran_order False,
// C (row-major) order, with the header padded so that the data starts at a
// multiple of 64 bytes, exactly as numpy.save does.
//
// [Read] and [Decode] accept format versions 1.0, 2.0 and 3.0 and the dtypes
// '<f4' (float32), '<f8' (float64), '<i8' (int64), '<i4' (int32) and '|u1'
// (uint8). Everything that is not float32 is converted to float32 with Go's
// conversion rules: float64 is rounded to the nearest float32 (overflowing to
// ±Inf), integers are converted by value (uint8 is NOT scaled to [0,1]), and
// int64 magnitudes above 2^24 may lose precision. Fortran-ordered
// (column-major) and big-endian arrays are refused with an error that says how
// to re-save them, as are other dtypes. The data must be exactly as long as the
// shape says.
//
// Shapes are returned as []int; a 0-d (scalar) array has an empty, non-nil
// shape and one element.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/layervis/layervis/layervis/internal/atomicfile"
)

// magic is the 6-byte prefix of every .npy file.
const magic = "\x93NUMPY"

// maxHeaderLen bounds the header length accepted by Decode, so a corrupt
// length field cannot make it allocate gigabytes. numpy's own reader refuses
// headers over 10000 bytes by default.
const maxHeaderLen = 1 << 20

// Write writes shape and data to path as a .npy file (version 1.0, '<f4',
// C order). The file is written to a temporary file in the same directory
// and renamed over path only when complete, so readers never see a partial
// file and a failed write leaves any existing file untouched. The new file
// has mode 0644.
//
// len(data) must equal the product of shape (1 for an empty shape).
func Write(path string, shape []int, data []float32) error {
	err := atomicfile.Write(path, func(f io.Writer) error {
		bw := bufio.NewWriterSize(f, 1<<16)
		if err := Encode(bw, shape, data); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("npy: write %q: %w", path, err)
	}
	return nil
}

// Encode writes shape and data to w in .npy format: version 1.0 (2.0 if the
// header needs more than 65535 bytes), dtype '<f4', fortran_order False, C
// order, header padded with spaces and a newline to a multiple of 64 bytes.
//
// len(data) must equal the product of shape (1 for an empty shape); every
// dimension must be non-negative.
func Encode(w io.Writer, shape []int, data []float32) error {
	n, err := count(shape)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("shape %v holds %d values but data has %d", shape, n, len(data))
	}
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': " + shapeRepr(shape) + ", }"
	// Version 1.0: magic(6) + version(2) + uint16 length; 2.0: uint32 length.
	prefix := 10
	major := byte(1)
	total := pad64(prefix + len(header) + 1)
	if total-prefix > math.MaxUint16 {
		prefix, major = 12, 2
		total = pad64(prefix + len(header) + 1)
	}
	hlen := total - prefix
	buf := make([]byte, 0, total)
	buf = append(buf, magic...)
	buf = append(buf, major, 0)
	if major == 1 {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(hlen))
	} else {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(hlen))
	}
	buf = append(buf, header...)
	for len(buf) < total-1 {
		buf = append(buf, ' ')
	}
	buf = append(buf, '\n')
	if _, err := w.Write(buf); err != nil {
		return err
	}
	// Write the data in chunks to bound the temporary buffer.
	const chunk = 1 << 14
	out := make([]byte, 4*min(chunk, len(data)))
	for i := 0; i < len(data); i += chunk {
		part := data[i:min(i+chunk, len(data))]
		b := out[:4*len(part)]
		for j, v := range part {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Read reads a .npy file (see [Decode] for what is accepted) and returns its
// shape and data as float32. Errors name the file. Besides the checks of
// Decode, Read refuses a file with bytes after the array data.
func Read(path string) (shape []int, data []float32, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	shape, data, err = Decode(br)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: read %q: %w", path, err)
	}
	if _, err := br.Peek(1); err == nil {
		return nil, nil, fmt.Errorf("npy: read %q: unexpected bytes after the array data (shape %v)", path, shape)
	} else if err != io.EOF {
		return nil, nil, fmt.Errorf("npy: read %q: %w", path, err)
	}
	return shape, data, nil
}

// Decode reads one .npy array from r and returns its shape and data as
// float32. It reads exactly the header and the data, nothing after them, so
// several arrays written one after another to a stream can be decoded in
// turn. Accepted: format versions 1.0, 2.0 and 3.0; dtypes '<f4', '<f8',
// '<i8', '<i4' and '|u1'; fortran_order False. A truncated file, a corrupt
// header, an unsupported dtype, big-endian data or fortran_order True give an
// error.
func Decode(r io.Reader) (shape []int, data []float32, err error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, nil, fmt.Errorf("not a .npy file: %w", noEOF(err))
	}
	if string(pre[:6]) != magic {
		return nil, nil, errors.New(`not a .npy file: missing the "\x93NUMPY" magic prefix`)
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch {
	case major == 1 && minor == 0:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, fmt.Errorf("truncated header: %w", noEOF(err))
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case (major == 2 || major == 3) && minor == 0:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, fmt.Errorf("truncated header: %w", noEOF(err))
		}
		h := binary.LittleEndian.Uint32(b[:])
		if h > maxHeaderLen {
			return nil, nil, fmt.Errorf("header length %d is over the limit of %d bytes", h, maxHeaderLen)
		}
		hlen = int(h)
	default:
		return nil, nil, fmt.Errorf("unsupported .npy format version %d.%d (want 1.0, 2.0 or 3.0)", major, minor)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, nil, fmt.Errorf("truncated header (want %d bytes): %w", hlen, noEOF(err))
	}
	h, err := parseHeader(string(hb))
	if err != nil {
		return nil, nil, fmt.Errorf("corrupt header %q: %w", trimHeader(hb), err)
	}
	d, ok := dtypes[h.descr]
	if !ok {
		if len(h.descr) > 1 && h.descr[0] == '>' {
			return nil, nil, fmt.Errorf("big-endian dtype %q is not supported; re-save with arr.astype(arr.dtype.newbyteorder('<'))", h.descr)
		}
		return nil, nil, fmt.Errorf("dtype %q is not supported (want '<f4', '<f8', '<i8', '<i4' or '|u1')", h.descr)
	}
	if h.fortran {
		return nil, nil, errors.New("fortran_order True (column-major) arrays are not supported; re-save with numpy.ascontiguousarray(arr)")
	}
	n, err := count(h.shape)
	if err != nil {
		return nil, nil, fmt.Errorf("corrupt header: %w", err)
	}
	if n > math.MaxInt/d.size {
		return nil, nil, fmt.Errorf("shape %v is too large", h.shape)
	}
	need := int64(n) * int64(d.size)
	// Read through a growing buffer rather than allocating need bytes up
	// front, so a header claiming a huge shape over a short stream cannot
	// exhaust memory.
	var raw []byte
	if need <= 1<<20 {
		raw = make([]byte, need)
		if got, err := io.ReadFull(r, raw); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("data is truncated: shape %v dtype %s needs %d bytes, got %d", h.shape, h.descr, need, got)
			}
			return nil, nil, err
		}
	} else {
		var bb bytes.Buffer
		bb.Grow(1 << 20)
		got, err := io.CopyN(&bb, r, need)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("data is truncated: shape %v dtype %s needs %d bytes, got %d", h.shape, h.descr, need, got)
			}
			return nil, nil, err
		}
		raw = bb.Bytes()
	}
	data = make([]float32, n)
	d.conv(data, raw)
	if h.shape == nil {
		h.shape = []int{}
	}
	return h.shape, data, nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: any EOF inside a file is
// unexpected.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// trimHeader shortens a header for an error message.
func trimHeader(b []byte) string {
	s := strings.TrimRight(string(b), " \n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// dtype describes one accepted element type.
type dtype struct {
	size int
	conv func(dst []float32, src []byte)
}

var dtypes = map[string]dtype{
	"<f4": {4, func(dst []float32, src []byte) {
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	}},
	"<f8": {8, func(dst []float32, src []byte) {
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	}},
	"<i8": {8, func(dst []float32, src []byte) {
		for i := range dst {
			dst[i] = float32(int64(binary.LittleEndian.Uint64(src[8*i:])))
		}
	}},
	"<i4": {4, func(dst []float32, src []byte) {
		for i := range dst {
			dst[i] = float32(int32(binary.LittleEndian.Uint32(src[4*i:])))
		}
	}},
	"|u1": {1, func(dst []float32, src []byte) {
		for i := range dst {
			dst[i] = float32(src[i])
		}
	}},
}

func init() {
	// One-byte types have no byte order; numpy writes '|u1' but accept the
	// other spellings too.
	dtypes["<u1"] = dtypes["|u1"]
	dtypes["u1"] = dtypes["|u1"]
	dtypes[">u1"] = dtypes["|u1"]
}

// count returns the number of elements of shape, checking for negative
// dimensions and overflow.
func count(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		n *= d
	}
	return n, nil
}

// shapeRepr formats shape like Python's repr of a tuple.
func shapeRepr(shape []int) string {
	switch len(shape) {
	case 0:
		return "()"
	case 1:
		return "(" + strconv.Itoa(shape[0]) + ",)"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// pad64 rounds n up to a multiple of 64.
func pad64(n int) int { return (n + 63) &^ 63 }

// header is the parsed .npy header dictionary.
type header struct {
	descr   string
	fortran bool
	shape   []int
}

// parseHeader parses the Python dict literal of a .npy header. It accepts
// exactly the keys 'descr', 'fortran_order' and 'shape', each once, in any
// order, with either quote style and an optional trailing comma.
func parseHeader(s string) (header, error) {
	p := &parser{s: strings.TrimRight(s, " \t\n\r\x00")}
	var h header
	seen := map[string]bool{}
	if !p.eat('{') {
		return h, errors.New("want '{'")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return h, fmt.Errorf("want ':' after %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return h, fmt.Errorf("descr: %w", err)
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
				h.fortran = false
			default:
				return h, errors.New("fortran_order: want True or False")
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, fmt.Errorf("shape: %w", err)
			}
		default:
			return h, fmt.Errorf("unexpected key %q", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat('}') {
			break
		}
		return h, errors.New("want ',' or '}'")
	}
	p.space()
	if p.i != len(p.s) {
		return h, errors.New("unexpected text after '}'")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("missing key %q", k)
		}
	}
	return h, nil
}

// parser is a cursor over a header string.
type parser struct {
	s string
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str parses a quoted string without escapes.
func (p *parser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", errors.New("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

// tuple parses a tuple of non-negative integers, e.g. (), (3,), (2, 3).
// Python 2 long suffixes ('3L') are accepted.
func (p *parser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("want '('")
	}
	var dims []int
	for {
		p.space()
		if p.eat(')') {
			break
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if start == p.i {
			return nil, errors.New("want a non-negative integer")
		}
		d, err := strconv.Atoi(p.s[start:p.i])
		if err != nil {
			return nil, fmt.Errorf("dimension %q: %w", p.s[start:p.i], err)
		}
		p.eat('L')
		dims = append(dims, d)
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat(')') {
			break
		}
		return nil, errors.New("want ',' or ')'")
	}
	if dims == nil {
		dims = []int{}
	}
	return dims, nil
}
