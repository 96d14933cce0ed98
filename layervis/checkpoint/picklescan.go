package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits applied to pickles before they are handed to the unpickler, whose
// allocations are sized by numbers read from the stream.
const (
	maxPickleLine = 1 << 16 // text arguments (GLOBAL, INT, ...)
	maxPickleLong = 1 << 10 // LONG1/LONG4 payloads (decoded in quadratic time)
)

// scanPickle walks the opcodes of one pickle starting at the beginning of r
// (limit bytes available), without building any object, and returns the
// pickle's length in bytes (up to and including STOP). It rejects unknown
// opcodes, arguments running past the end of the data and oversized
// arguments, so that decoding the same bytes afterwards never allocates more
// than the data can justify.
func scanPickle(r io.Reader, limit int64) (int64, error) {
	bufSize := 64 << 10
	if limit < int64(bufSize) {
		bufSize = int(max(limit, 16))
	}
	br := bufio.NewReaderSize(io.LimitReader(r, limit), bufSize)
	var pos int64
	remaining := func() int64 { return limit - pos }
	skip := func(n int64, what string) error {
		if n < 0 || n > remaining() {
			return fmt.Errorf("pickle truncated or corrupt: %s of %d bytes at offset %d runs past the end of the data (%d bytes left)", what, n, pos, remaining())
		}
		d, err := br.Discard(int(n))
		pos += int64(d)
		if err != nil {
			return fmt.Errorf("pickle truncated in %s at offset %d", what, pos)
		}
		return nil
	}
	readN := func(n int, what string) ([]byte, error) {
		if int64(n) > remaining() {
			return nil, fmt.Errorf("pickle truncated in %s at offset %d", what, pos)
		}
		var buf [8]byte
		b := buf[:n]
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("pickle truncated in %s at offset %d", what, pos)
		}
		pos += int64(n)
		return b, nil
	}
	line := func(what string) error {
		for i := 0; ; i++ {
			if i >= maxPickleLine {
				return fmt.Errorf("pickle %s argument at offset %d longer than %d bytes", what, pos, maxPickleLine)
			}
			c, err := br.ReadByte()
			if err != nil {
				return fmt.Errorf("pickle truncated in %s at offset %d", what, pos)
			}
			pos++
			if c == '\n' {
				return nil
			}
		}
	}
	for {
		opAt := pos
		op, err := br.ReadByte()
		if err != nil {
			if opAt == 0 {
				return 0, errors.New("empty pickle")
			}
			return 0, fmt.Errorf("pickle truncated: no STOP opcode after %d bytes", opAt)
		}
		pos++
		switch op {
		case '.': // STOP
			return pos, nil
		case '(', '0', '1', '2', 'N', 'Q', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
			// no argument
		case 0x80, 'K', 'h', 'q', 0x82: // PROTO, BININT1, BINGET, BINPUT, EXT1
			err = skip(1, "argument")
		case 'M', 0x83: // BININT2, EXT2
			err = skip(2, "argument")
		case 'J', 'j', 'r', 0x84: // BININT, LONG_BINGET, LONG_BINPUT, EXT4
			err = skip(4, "argument")
		case 'G': // BINFLOAT
			err = skip(8, "argument")
		case 'U', 'C', 0x8c: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			var b []byte
			if b, err = readN(1, "length"); err == nil {
				err = skip(int64(b[0]), "string")
			}
		case 0x8a: // LONG1
			var b []byte
			if b, err = readN(1, "length"); err == nil {
				err = skip(int64(b[0]), "long")
			}
		case 'T', 'B', 'X': // BINSTRING, BINBYTES, BINUNICODE
			var b []byte
			if b, err = readN(4, "length"); err == nil {
				n := int64(binary.LittleEndian.Uint32(b))
				if op == 'T' {
					n = int64(int32(uint32(n)))
				}
				err = skip(n, "string")
			}
		case 0x8b: // LONG4
			var b []byte
			if b, err = readN(4, "length"); err == nil {
				n := int64(int32(binary.LittleEndian.Uint32(b)))
				if n > maxPickleLong {
					err = fmt.Errorf("pickle LONG4 of %d bytes at offset %d is too large", n, opAt)
				} else {
					err = skip(n, "long")
				}
			}
		case 0x8d, 0x8e, 0x96: // BINUNICODE8, BINBYTES8, BYTEARRAY8
			var b []byte
			if b, err = readN(8, "length"); err == nil {
				n := binary.LittleEndian.Uint64(b)
				if n > uint64(remaining()) {
					err = fmt.Errorf("pickle truncated or corrupt: string of %d bytes at offset %d runs past the end of the data", n, opAt)
				} else {
					err = skip(int64(n), "string")
				}
			}
		case 0x95: // FRAME: the frame's content is the opcodes that follow
			var b []byte
			if b, err = readN(8, "frame length"); err == nil {
				if n := binary.LittleEndian.Uint64(b); n > uint64(remaining()) {
					err = fmt.Errorf("pickle truncated or corrupt: frame of %d bytes at offset %d runs past the end of the data", n, opAt)
				}
			}
		case 'I', 'L', 'F', 'S', 'V', 'P', 'g', 'p': // one text line
			err = line("text")
		case 'c', 'i': // GLOBAL, INST: two text lines
			if err = line("module name"); err == nil {
				err = line("class name")
			}
		default:
			return 0, fmt.Errorf("invalid pickle opcode 0x%02x at offset %d", op, opAt)
		}
		if err != nil {
			return 0, err
		}
	}
}
