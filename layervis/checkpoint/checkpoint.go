// Package checkpoint reads model weights from PyTorch checkpoints (.pth/.pt,
// both the zip format written by torch >= 1.6 and the older "legacy" pickle
// format) and from safetensors files.
//
// Files are treated strictly as data: pickles are decoded by a pure-Go
// unpickler (github.com/nlpodyssey/gopickle) that never runs code, classes it
// does not know become inert placeholders, and every size read from a file is
// checked against the bytes actually present before memory is allocated for
// it. Malformed input of any kind gives an error that names the file, never a
// panic.
//
// All tensors are converted to float32, whatever their dtype in the file
// (the original dtype is kept in [Tensor.DType]).
package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Format names reported in [Checkpoint.Format].
const (
	// FormatPyTorchZip is the zip-based format torch.save writes since
	// torch 1.6 (and that torchvision downloads).
	FormatPyTorchZip = "pytorch-zip"
	// FormatPyTorchLegacy is the older pickle-stream format, written by
	// torch.save(..., _use_new_zipfile_serialization=False) and torch < 1.6.
	FormatPyTorchLegacy = "pytorch-legacy"
	// FormatSafetensors is the safetensors format.
	FormatSafetensors = "safetensors"
)

// Tensor is one named weight, converted to float32.
type Tensor struct {
	// Name is the tensor's name (its state-dict key).
	Name string
	// Shape is the tensor's shape; empty for a 0-dimensional scalar.
	Shape []int
	// DType is the dtype in the file: "float32", "float16", "bfloat16",
	// "float64", "int64", "int32", "int16", "int8", "uint8" or "bool".
	DType string
	// Data holds the values in row-major (C) order, converted to float32;
	// len(Data) is the product of Shape.
	Data []float32
}

// NumElements returns the number of elements of t, the product of its shape.
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Checkpoint is a set of named tensors read from a file.
type Checkpoint struct {
	// Path is the file the checkpoint was read from ("" for ReadSafetensors).
	Path string
	// Format is FormatPyTorchZip, FormatPyTorchLegacy or FormatSafetensors.
	Format string
	// Names lists the tensor names in file order: state-dict order for
	// PyTorch files, sorted for safetensors.
	Names []string
	// Tensors maps each name in Names to its tensor.
	Tensors map[string]*Tensor
}

// Get returns the tensor called name, and whether it exists.
func (c *Checkpoint) Get(name string) (*Tensor, bool) {
	if c == nil {
		return nil, false
	}
	t, ok := c.Tensors[name]
	return t, ok
}

// acceptedFormats is appended to errors about files of unknown format.
const acceptedFormats = "accepted formats are PyTorch checkpoints (.pth/.pt: the zip format of torch >= 1.6, " +
	"or the legacy pickle format) holding a state dict, and safetensors"

// fileError is the error type of this package: it names the file and says
// what is wrong with it.
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string {
	if e.path == "" {
		return "checkpoint: " + e.err.Error()
	}
	return fmt.Sprintf("checkpoint %q: %v", e.path, e.err)
}

func (e *fileError) Unwrap() error { return e.err }

func wrapErr(path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *fileError
	if errors.As(err, &fe) {
		return err
	}
	return &fileError{path: path, err: err}
}

// Load reads the checkpoint at path. The format is detected from the file's
// content, never from its extension: a zip archive ("PK\x03\x04") is read as a
// torch >= 1.6 checkpoint, a pickle stream starting with torch's magic
// number as a legacy torch checkpoint, and a file starting with an 8-byte
// header length followed by '{' as safetensors.
//
// For PyTorch files, the pickled object must be a state dict (a dict of
// tensors) or a dict holding one under "state_dict", "model",
// "model_state_dict" or "state_dict_ema"; non-tensor entries are skipped and
// a "module." prefix shared by all names (from nn.DataParallel) is removed.
func Load(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, wrapErr(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, wrapErr(path, err)
	}
	if st.IsDir() {
		return nil, wrapErr(path, errors.New("is a directory"))
	}
	size := st.Size()
	var head [16]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, wrapErr(path, err)
	}
	h := head[:n]
	var ck *Checkpoint
	switch {
	case n == 0:
		return nil, wrapErr(path, fmt.Errorf("empty file; %s", acceptedFormats))
	case bytes.HasPrefix(h, []byte("PK\x03\x04")) || bytes.HasPrefix(h, []byte("PK\x05\x06")):
		ck, err = loadTorchZip(f, size)
	case n >= 2 && h[0] == 0x80 && h[1] <= 5: // pickle PROTO opcode
		ck, err = loadTorchLegacy(f, size)
	case n >= 9 && h[8] == '{':
		ck, err = readSafetensors(f, size)
	default:
		return nil, wrapErr(path, fmt.Errorf("unrecognized file format (starts with %q); %s", h, acceptedFormats))
	}
	if err != nil {
		return nil, wrapErr(path, err)
	}
	ck.Path = path
	return ck, nil
}

// checkedProduct returns the product of dims, or an error if a dimension is
// negative or the product exceeds limit.
func checkedProduct(dims []int, limit int) (int, error) {
	n := 1
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, dims)
		}
	}
	for _, d := range dims {
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range dims {
		if n > limit/d {
			return 0, fmt.Errorf("shape %v has more than %d elements", dims, limit)
		}
		n *= d
	}
	return n, nil
}
