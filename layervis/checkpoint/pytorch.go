package checkpoint

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Limits on PyTorch files.
const (
	maxPickleBytes = 512 << 20 // data.pkl / the legacy object pickle
	// maxBroadcastElements caps tensors with more elements than their
	// storage (possible only with zero strides, e.g. expand()).
	maxBroadcastElements = 1 << 26
)

// torchFile is the state shared by the zip and legacy readers.
type torchFile struct {
	format string
	order  binary.ByteOrder
	// refs holds one storageRef per root storage key, as first referenced.
	refs map[string]*storageRef
	// read returns the bytes of the root storage ref (numel elements).
	read func(ref *storageRef) ([]byte, error)
}

// persistentLoad returns the PersistentLoad callback for torch pickles:
// persistent ids are ('storage', class, key, location, numel[, view]) tuples.
func (tf *torchFile) persistentLoad(legacy bool) func(interface{}) (interface{}, error) {
	return func(pid interface{}) (interface{}, error) {
		tup, ok := pid.(*types.Tuple)
		if !ok || tup.Len() == 0 {
			return nil, fmt.Errorf("persistent id is %s, not a tuple", describe(pid))
		}
		kind, _ := tup.Get(0).(string)
		switch {
		case kind == "module" && legacy:
			return &opaqueObject{class: &opaqueClass{module: "torch", name: "module source"}}, nil
		case kind != "storage":
			return nil, fmt.Errorf("unknown persistent id kind %q", truncate(fmt.Sprint(tup.Get(0)), 40))
		case tup.Len() < 5:
			return nil, fmt.Errorf("storage persistent id has %d fields, want at least 5", tup.Len())
		}
		class, ok := tup.Get(1).(*storageClass)
		if !ok {
			return nil, fmt.Errorf("storage persistent id names %s, not a torch storage type", describe(tup.Get(1)))
		}
		key, ok := tup.Get(2).(string)
		if !ok {
			return nil, fmt.Errorf("storage key is %s, not a string", describe(tup.Get(2)))
		}
		numel, err := toInt(tup.Get(4), "storage size")
		if err != nil {
			return nil, err
		}
		if numel < 0 {
			return nil, fmt.Errorf("storage %q has negative size %d", key, numel)
		}
		root, seen := tf.refs[key]
		if !seen {
			root = &storageRef{key: key, class: class, numel: numel}
			tf.refs[key] = root
		} else if root.class.name != class.name {
			return nil, fmt.Errorf("storage %q used both as %s and %s", key, root.class.name, class.name)
		}
		if legacy && tup.Len() >= 6 && tup.Get(5) != nil {
			// Legacy storage view: (view_key, offset, view_size).
			vm, ok := tup.Get(5).(*types.Tuple)
			if !ok || vm.Len() != 3 {
				return nil, fmt.Errorf("storage %q: malformed view metadata", key)
			}
			off, err := toInt(vm.Get(1), "view offset")
			if err != nil {
				return nil, err
			}
			n, err := toInt(vm.Get(2), "view size")
			if err != nil {
				return nil, err
			}
			if off < 0 || n < 0 || off > root.numel || n > root.numel-off {
				return nil, fmt.Errorf("storage %q: view [%d, %d+%d) outside the storage of %d elements", key, off, off, n, root.numel)
			}
			return &storageRef{key: key, class: class, numel: n, offset: off}, nil
		}
		return root, nil
	}
}

// unpickle decodes one pickle (already checked by scanPickle) read from r.
func (tf *torchFile) unpickle(r io.Reader, legacy bool) (result interface{}, err error) {
	defer func() {
		if p := recover(); p != nil {
			result, err = nil, fmt.Errorf("malformed pickle (decoder failed: %s)", truncate(fmt.Sprint(p), 200))
		}
	}()
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	u.PersistentLoad = tf.persistentLoad(legacy)
	result, err = u.Load()
	if err != nil {
		return nil, fmt.Errorf("malformed pickle: %s", truncate(err.Error(), 300))
	}
	return result, nil
}

// loadTorchZip reads a torch >= 1.6 zip checkpoint.
func loadTorchZip(f io.ReaderAt, size int64) (ck *Checkpoint, err error) {
	defer func() {
		if p := recover(); p != nil {
			ck, err = nil, fmt.Errorf("malformed zip checkpoint (%s)", truncate(fmt.Sprint(p), 200))
		}
	}()
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, fmt.Errorf("truncated or corrupt zip archive (%v)", err)
	}
	var pkl *zip.File
	records := make(map[string]*zip.File, len(zr.File))
	for _, zf := range zr.File {
		records[zf.Name] = zf
		if strings.HasSuffix(zf.Name, "constants.pkl") {
			return nil, errors.New("TorchScript archives (torch.jit.save) are not supported; save model.state_dict() with torch.save instead")
		}
		if zf.Name == "data.pkl" || strings.HasSuffix(zf.Name, "/data.pkl") {
			if pkl != nil {
				return nil, fmt.Errorf("zip archive holds two pickles (%s, %s)", pkl.Name, zf.Name)
			}
			pkl = zf
		}
	}
	if pkl == nil {
		return nil, errors.New("zip archive without data.pkl: not a PyTorch checkpoint")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	tf := &torchFile{format: FormatPyTorchZip, order: binary.LittleEndian, refs: map[string]*storageRef{}}
	if bo, ok := records[prefix+"byteorder"]; ok {
		if bo.UncompressedSize64 > 16 {
			return nil, fmt.Errorf("byteorder record of %d bytes", bo.UncompressedSize64)
		}
		b, err := readZipRecord(bo, bo.UncompressedSize64, size)
		if err != nil {
			return nil, err
		}
		switch strings.TrimSpace(string(b)) {
		case "little":
		case "big":
			tf.order = binary.BigEndian
		default:
			return nil, fmt.Errorf("unknown byteorder %q", truncate(string(b), 20))
		}
	}
	tf.read = func(ref *storageRef) ([]byte, error) {
		rec, ok := records[prefix+"data/"+ref.key]
		if !ok {
			return nil, fmt.Errorf("storage %q: record %sdata/%s missing from the zip archive", ref.key, prefix, ref.key)
		}
		want := uint64(ref.numel) * uint64(ref.class.dt.size)
		if rec.UncompressedSize64 != want {
			return nil, fmt.Errorf("storage %q: zip record holds %d bytes, but %d elements of %s need %d",
				ref.key, rec.UncompressedSize64, ref.numel, ref.class.dt.name, want)
		}
		return readZipRecord(rec, want, size)
	}
	if pkl.UncompressedSize64 > maxPickleBytes {
		return nil, fmt.Errorf("%s is %d bytes, over the %d-byte limit", pkl.Name, pkl.UncompressedSize64, maxPickleBytes)
	}
	data, err := readZipRecord(pkl, pkl.UncompressedSize64, size)
	if err != nil {
		return nil, err
	}
	n, err := scanPickle(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", pkl.Name, err)
	}
	obj, err := tf.unpickle(bytes.NewReader(data[:n]), false)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", pkl.Name, err)
	}
	return tf.checkpoint(obj)
}

// readZipRecord reads all of zip record zf, which must hold want bytes,
// checking the claim against the archive's size before allocating.
func readZipRecord(zf *zip.File, want uint64, archiveSize int64) ([]byte, error) {
	if zf.UncompressedSize64 != want {
		return nil, fmt.Errorf("zip record %s holds %d bytes, want %d", zf.Name, zf.UncompressedSize64, want)
	}
	switch zf.Method {
	case zip.Store:
		if want > uint64(archiveSize) {
			return nil, fmt.Errorf("truncated zip archive: record %s claims %d bytes in a file of %d", zf.Name, want, archiveSize)
		}
	case zip.Deflate:
		if want/1100 > zf.CompressedSize64 || zf.CompressedSize64 > uint64(archiveSize) {
			return nil, fmt.Errorf("corrupt zip archive: record %s claims %d bytes from %d compressed", zf.Name, want, zf.CompressedSize64)
		}
	default:
		return nil, fmt.Errorf("zip record %s uses unsupported compression method %d", zf.Name, zf.Method)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("truncated or corrupt zip archive: record %s: %v", zf.Name, err)
	}
	defer rc.Close()
	buf := make([]byte, want)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("truncated or corrupt zip archive: record %s: %v", zf.Name, err)
	}
	// Reading to the end makes archive/zip verify the record's CRC-32.
	var one [1]byte
	if n, err := rc.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = errors.New("more data than declared")
		}
		return nil, fmt.Errorf("truncated or corrupt zip archive: record %s: %v", zf.Name, err)
	}
	return buf, nil
}

// torchMagic is the number a legacy torch file starts with.
var torchMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// loadTorchLegacy reads a legacy (pre-zip) torch checkpoint: pickles of the
// magic number, the protocol version (1001), system info and the object,
// then a pickled list of storage keys, then each storage as an int64 element
// count followed by its raw bytes.
func loadTorchLegacy(f io.ReaderAt, size int64) (ck *Checkpoint, err error) {
	defer func() {
		if p := recover(); p != nil {
			ck, err = nil, fmt.Errorf("malformed legacy checkpoint (%s)", truncate(fmt.Sprint(p), 200))
		}
	}()
	tf := &torchFile{format: FormatPyTorchLegacy, order: binary.LittleEndian, refs: map[string]*storageRef{}}
	var pos int64
	next := func(what string, legacyObj bool) (interface{}, error) {
		n, err := scanPickle(io.NewSectionReader(f, pos, size-pos), size-pos)
		if err != nil {
			return nil, fmt.Errorf("legacy checkpoint: %s: %v", what, err)
		}
		obj, err := tf.unpickle(bufio.NewReader(io.NewSectionReader(f, pos, n)), legacyObj)
		if err != nil {
			return nil, fmt.Errorf("legacy checkpoint: %s: %v", what, err)
		}
		pos += n
		return obj, nil
	}
	magic, err := next("magic number", false)
	if err != nil {
		return nil, fmt.Errorf("%v (a pickle stream not starting with torch's magic number is not a PyTorch checkpoint; %s)", err, acceptedFormats)
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(torchMagic) != 0 {
		return nil, fmt.Errorf("pickle stream without torch's magic number: not a PyTorch checkpoint (plain pickles are not read); %s", acceptedFormats)
	}
	proto, err := next("protocol version", false)
	if err != nil {
		return nil, err
	}
	if p, ok := proto.(int); !ok || p != 1001 {
		return nil, fmt.Errorf("legacy checkpoint: unsupported protocol version %v", truncate(fmt.Sprint(proto), 40))
	}
	sysInfo, err := next("system info", false)
	if err != nil {
		return nil, err
	}
	if entries, ok := dictEntries(sysInfo); ok {
		for _, e := range entries {
			if k, _ := e.Key.(string); k == "little_endian" && e.Value == false {
				tf.order = binary.BigEndian
			}
		}
	}
	obj, err := next("object", true)
	if err != nil {
		return nil, err
	}
	keysObj, err := next("storage keys", false)
	if err != nil {
		return nil, err
	}
	keyList, ok := keysObj.(*types.List)
	if !ok {
		return nil, fmt.Errorf("legacy checkpoint: storage keys are %s, not a list", describe(keysObj))
	}
	// Locate each storage's bytes (records follow in key-list order).
	type span struct{ at, numel int64 }
	spans := make(map[string]span, len(*keyList))
	for _, k := range *keyList {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("legacy checkpoint: storage key is %s, not a string", describe(k))
		}
		ref, ok := tf.refs[key]
		if !ok {
			return nil, fmt.Errorf("legacy checkpoint: storage %q is not referenced by the pickle", key)
		}
		var nb [8]byte
		if size-pos < 8 {
			return nil, fmt.Errorf("legacy checkpoint: truncated before storage %q (offset %d of %d bytes)", key, pos, size)
		}
		if _, err := f.ReadAt(nb[:], pos); err != nil {
			return nil, fmt.Errorf("legacy checkpoint: reading storage %q: %v", key, err)
		}
		if ref.class.dt == nil {
			return nil, fmt.Errorf("legacy checkpoint: storage %q has unsupported type %s", key, ref.class.name)
		}
		numel, es := int64(tf.order.Uint64(nb[:])), int64(ref.class.dt.size)
		pos += 8
		if numel < 0 || numel > (size-pos)/es {
			return nil, fmt.Errorf("legacy checkpoint: truncated storage %q: %d elements of %s claimed, %d bytes left in the file", key, numel, ref.class.dt.name, size-pos)
		}
		if numel != int64(ref.numel) {
			return nil, fmt.Errorf("legacy checkpoint: storage %q holds %d elements, the pickle says %d", key, numel, ref.numel)
		}
		spans[key] = span{at: pos, numel: numel}
		pos += numel * es
	}
	tf.read = func(ref *storageRef) ([]byte, error) {
		sp, ok := spans[ref.key]
		if !ok {
			return nil, fmt.Errorf("storage %q missing from the file's storage list", ref.key)
		}
		buf := make([]byte, sp.numel*int64(ref.class.dt.size))
		if _, err := f.ReadAt(buf, sp.at); err != nil {
			return nil, fmt.Errorf("storage %q: %v", ref.key, err)
		}
		return buf, nil
	}
	return tf.checkpoint(obj)
}

// wrapperKeys are the keys under which training checkpoints commonly keep
// the model's state dict, in order of preference.
var wrapperKeys = []string{"state_dict", "model", "model_state_dict", "state_dict_ema"}

// namedTensor is a state-dict entry that holds a tensor.
type namedTensor struct {
	name string
	t    interface{} // *torchTensor or *unsupportedTensor
}

// tensorEntries returns the tensor entries of a dict-like value, in order,
// with later duplicates of a key replacing earlier ones in place.
func tensorEntries(v interface{}) []namedTensor {
	entries, ok := dictEntries(v)
	if !ok {
		return nil
	}
	var out []namedTensor
	index := map[string]int{}
	for _, e := range entries {
		name, ok := e.Key.(string)
		if !ok {
			continue
		}
		switch e.Value.(type) {
		case *torchTensor, *unsupportedTensor:
		default:
			continue
		}
		if i, dup := index[name]; dup {
			out[i].t = e.Value
			continue
		}
		index[name] = len(out)
		out = append(out, namedTensor{name: name, t: e.Value})
	}
	return out
}

// checkpoint finds the state dict in the unpickled object and converts its
// tensors.
func (tf *torchFile) checkpoint(obj interface{}) (*Checkpoint, error) {
	entries, ok := dictEntries(obj)
	if !ok {
		if o, isObj := obj.(*opaqueObject); isObj && strings.HasPrefix(o.class.module, "torch.nn") ||
			isObj && strings.HasPrefix(o.class.module, "torchvision") {
			return nil, fmt.Errorf("the file holds a whole pickled model (%s.%s), not a state dict; save model.state_dict() instead", o.class.module, o.class.name)
		}
		return nil, fmt.Errorf("the pickled object is %s, not a state dict (a dict of tensors)", describe(obj))
	}
	tensors := tensorEntries(obj)
	if len(tensors) == 0 {
	wrappers:
		for _, wk := range wrapperKeys {
			for _, e := range entries {
				if k, _ := e.Key.(string); k == wk {
					if ts := tensorEntries(e.Value); len(ts) > 0 {
						tensors = ts
						break wrappers
					}
				}
			}
		}
	}
	if len(tensors) == 0 {
		var keys []string
		for _, e := range entries {
			if len(keys) == 12 {
				keys = append(keys, "...")
				break
			}
			keys = append(keys, truncate(fmt.Sprintf("%v", e.Key), 40))
		}
		return nil, fmt.Errorf("no tensors found: the pickled dict (keys %v) is neither a state dict nor holds one under %q", keys, wrapperKeys)
	}
	// Strip nn.DataParallel's "module." prefix when every name has it.
	strip := true
	for _, nt := range tensors {
		if !strings.HasPrefix(nt.name, "module.") || len(nt.name) == len("module.") {
			strip = false
			break
		}
	}
	// Count uses of each storage so its bytes can be dropped after the last.
	uses := map[string]int{}
	for _, nt := range tensors {
		if tt, ok := nt.t.(*torchTensor); ok {
			uses[tt.storage.key]++
		}
	}
	cache := map[string][]byte{}
	ck := &Checkpoint{Format: tf.format, Names: make([]string, 0, len(tensors)), Tensors: make(map[string]*Tensor, len(tensors))}
	for _, nt := range tensors {
		name := nt.name
		if strip {
			name = strings.TrimPrefix(name, "module.")
		}
		tt, ok := nt.t.(*torchTensor)
		if !ok {
			return nil, fmt.Errorf("tensor %q: unsupported tensor kind (built by %s)", name, nt.t.(*unsupportedTensor).fn)
		}
		t, err := tf.convert(name, tt, cache, uses)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", name, err)
		}
		if _, dup := ck.Tensors[name]; !dup {
			ck.Names = append(ck.Names, name)
		}
		ck.Tensors[name] = t
	}
	return ck, nil
}

// convert gathers tensor tt's elements from its storage, following its
// strides and storage offset, into a row-major float32 Tensor.
func (tf *torchFile) convert(name string, tt *torchTensor, cache map[string][]byte, uses map[string]int) (*Tensor, error) {
	st := tt.storage
	root := tf.refs[st.key]
	if st.class.dt == nil {
		return nil, fmt.Errorf("unsupported storage type %s", st.class.name)
	}
	dt := st.class.dt
	// Validate shape, strides and offset against the storage's size.
	if tt.offset < 0 {
		return nil, fmt.Errorf("negative storage offset %d", tt.offset)
	}
	n, err := checkedProduct(tt.size, 1<<62)
	if err != nil {
		return nil, err
	}
	maxIndex := tt.offset
	if n > 0 {
		for i, d := range tt.size {
			s := tt.stride[i]
			if s < 0 {
				return nil, fmt.Errorf("negative stride %v", tt.stride)
			}
			if d > 1 && s > (1<<62-maxIndex)/(d-1) {
				return nil, fmt.Errorf("size %v with stride %v overflows", tt.size, tt.stride)
			}
			maxIndex += (d - 1) * s
		}
		if maxIndex >= st.numel {
			return nil, fmt.Errorf("size %v, stride %v and offset %d reach element %d of a storage of %d elements",
				tt.size, tt.stride, tt.offset, maxIndex, st.numel)
		}
		if n > st.numel && n > maxBroadcastElements {
			return nil, fmt.Errorf("shape %v has %d elements, far more than its storage (%d)", tt.size, n, st.numel)
		}
	}
	t := &Tensor{Name: name, Shape: append([]int{}, tt.size...), DType: dt.name, Data: make([]float32, n)}
	defer func() {
		uses[st.key]--
		if uses[st.key] <= 0 {
			delete(cache, st.key)
		}
	}()
	if n == 0 {
		return t, nil
	}
	raw, ok := cache[st.key]
	if !ok {
		raw, err = tf.read(root)
		if err != nil {
			return nil, err
		}
		cache[st.key] = raw
	}
	// A legacy view starts st.offset elements into its root storage.
	es := dt.size
	if uint64(st.offset+st.numel)*uint64(es) > uint64(len(raw)) {
		return nil, fmt.Errorf("storage %q holds %d bytes, fewer than its %d elements of %s", st.key, len(raw), st.offset+st.numel, dt.name)
	}
	src := raw[st.offset*es : (st.offset+st.numel)*es]
	if isContiguous(tt.size, tt.stride) {
		decodeContiguous(t.Data, src[tt.offset*es:], dt, tf.order)
		return t, nil
	}
	get := elementReader(dt, tf.order)
	gatherStrided(t.Data, tt.size, tt.stride, tt.offset, func(i int) float32 { return get(src, i) })
	return t, nil
}

// isContiguous reports whether strides are those of a row-major tensor of
// the given size (dimensions of size 1 may have any stride).
func isContiguous(size, stride []int) bool {
	want := 1
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] != 1 && stride[i] != want {
			return false
		}
		want *= size[i]
	}
	return true
}

// gatherStrided fills dst in row-major order with at(offset + sum(idx*stride)).
func gatherStrided(dst []float32, size, stride []int, offset int, at func(int) float32) {
	nd := len(size)
	idx := make([]int, nd)
	pos := offset
	for k := range dst {
		dst[k] = at(pos)
		for d := nd - 1; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < size[d] {
				break
			}
			pos -= stride[d] * size[d]
			idx[d] = 0
		}
	}
}
