package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/aha-inference/aha/quant"
)

// Writer builds a GGUF v3 file. Metadata keeps the order keys were first
// set; tensor data is produced one tensor at a time while writing, so a
// model larger than memory can be written.
type Writer struct {
	Alignment int // 0 means DefaultAlignment
	kv        []KV
	tensors   []pendingTensor
}

type pendingTensor struct {
	name  string
	typ   quant.Type
	shape []uint64
	size  uint64
	data  func() ([]byte, error)
}

// Set adds or replaces a metadata entry. v must be one of the Go types KV
// documents, a slice of one of the scalar types (written as an array), or an
// Array.
func (w *Writer) Set(key string, v any) {
	for i := range w.kv {
		if w.kv[i].Key == key {
			w.kv[i].Value = v
			return
		}
	}
	w.kv = append(w.kv, KV{key, v})
}

// Delete removes a metadata entry if present.
func (w *Writer) Delete(key string) {
	for i := range w.kv {
		if w.kv[i].Key == key {
			w.kv = append(w.kv[:i], w.kv[i+1:]...)
			return
		}
	}
}

// AddTensor declares a tensor. data is called once, while the file is
// written, and must return exactly the tensor's bytes.
func (w *Writer) AddTensor(name string, typ quant.Type, shape []uint64, data func() ([]byte, error)) error {
	if len(shape) == 0 || len(shape) > MaxDims {
		return fmt.Errorf("tensor %q: %d dimensions (want 1 to %d)", name, len(shape), MaxDims)
	}
	if !typ.Known() {
		return fmt.Errorf("tensor %q: unknown type %v", name, typ)
	}
	rows := uint64(1) // the product of every dimension but the first, which may be 0
	for _, d := range shape[1:] {
		rows *= d
	}
	rowBytes, err := typ.RowBytes(int(shape[0]))
	if err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	for _, t := range w.tensors {
		if t.name == name {
			return fmt.Errorf("tensor %q added twice", name)
		}
	}
	w.tensors = append(w.tensors, pendingTensor{name, typ, append([]uint64(nil), shape...), uint64(rowBytes) * rows, data})
	return nil
}

// WriteFile writes the file to a temporary name beside path and renames it
// into place, so a reader never sees a half-written file.
func (w *Writer) WriteFile(path string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = w.WriteTo(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	// CreateTemp makes the file private; a model file is meant to be shared.
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteTo writes the whole file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align := uint64(w.Alignment)
	if align == 0 {
		align = DefaultAlignment
	}
	if align != DefaultAlignment {
		w.Set("general.alignment", uint32(align))
	}
	e := &encoder{w: bufio.NewWriterSize(out, 1<<20)}
	e.bytes([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kv)))
	for _, kv := range w.kv {
		e.str(kv.Key)
		if err := e.value(kv.Value, true); err != nil {
			return e.n, fmt.Errorf("metadata key %q: %w", kv.Key, err)
		}
	}
	var offset uint64
	for _, t := range w.tensors {
		e.str(t.name)
		e.u32(uint32(len(t.shape)))
		for _, d := range t.shape {
			e.u64(d)
		}
		e.u32(uint32(t.typ))
		e.u64(offset)
		offset = alignUp(offset+t.size, align)
	}
	e.pad(align)
	for _, t := range w.tensors {
		data, err := t.data()
		if err != nil {
			return e.n, fmt.Errorf("tensor %q: %w", t.name, err)
		}
		if uint64(len(data)) != t.size {
			return e.n, fmt.Errorf("tensor %q: got %d bytes of data, want %d", t.name, len(data), t.size)
		}
		e.bytes(data)
		e.pad(align)
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.n, e.err
}

type encoder struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (e *encoder) bytes(p []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(p)
	e.n += int64(n)
	e.err = err
}

func (e *encoder) pad(align uint64) {
	if k := alignUp(uint64(e.n), align) - uint64(e.n); k > 0 {
		e.bytes(make([]byte, k))
	}
}

func (e *encoder) u8(v uint8)   { e.bytes([]byte{v}) }
func (e *encoder) u16(v uint16) { e.bytes(binary.LittleEndian.AppendUint16(nil, v)) }
func (e *encoder) u32(v uint32) { e.bytes(binary.LittleEndian.AppendUint32(nil, v)) }
func (e *encoder) u64(v uint64) { e.bytes(binary.LittleEndian.AppendUint64(nil, v)) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.bytes([]byte(s)) }

// value writes v, preceded by its type tag when tagged (array elements are
// not tagged one by one).
func (e *encoder) value(v any, tagged bool) error {
	tag := func(t ValueType) {
		if tagged {
			e.u32(uint32(t))
		}
	}
	switch x := v.(type) {
	case uint8:
		tag(TypeUint8)
		e.u8(x)
	case int8:
		tag(TypeInt8)
		e.u8(uint8(x))
	case uint16:
		tag(TypeUint16)
		e.u16(x)
	case int16:
		tag(TypeInt16)
		e.u16(uint16(x))
	case uint32:
		tag(TypeUint32)
		e.u32(x)
	case int32:
		tag(TypeInt32)
		e.u32(uint32(x))
	case float32:
		tag(TypeFloat32)
		e.u32(math.Float32bits(x))
	case bool:
		tag(TypeBool)
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		tag(TypeString)
		e.str(x)
	case uint64:
		tag(TypeUint64)
		e.u64(x)
	case int64:
		tag(TypeInt64)
		e.u64(uint64(x))
	case float64:
		tag(TypeFloat64)
		e.u64(math.Float64bits(x))
	case Array:
		tag(TypeArray)
		return e.array(x.Values)
	default:
		// A plain slice is written as an array of its element type.
		tag(TypeArray)
		return e.array(v)
	}
	return nil
}

func (e *encoder) array(values any) error {
	elem, items, err := elements(values)
	if err != nil {
		return err
	}
	e.u32(uint32(elem))
	e.u64(uint64(len(items)))
	for _, v := range items {
		if err := e.value(v, false); err != nil {
			return err
		}
	}
	return nil
}

// elements returns the element type and the items of a metadata array.
func elements(values any) (ValueType, []any, error) {
	switch s := values.(type) {
	case []uint8:
		return TypeUint8, items(s), nil
	case []int8:
		return TypeInt8, items(s), nil
	case []uint16:
		return TypeUint16, items(s), nil
	case []int16:
		return TypeInt16, items(s), nil
	case []uint32:
		return TypeUint32, items(s), nil
	case []int32:
		return TypeInt32, items(s), nil
	case []float32:
		return TypeFloat32, items(s), nil
	case []bool:
		return TypeBool, items(s), nil
	case []string:
		return TypeString, items(s), nil
	case []uint64:
		return TypeUint64, items(s), nil
	case []int64:
		return TypeInt64, items(s), nil
	case []float64:
		return TypeFloat64, items(s), nil
	case []Array:
		return TypeArray, items(s), nil
	}
	return 0, nil, fmt.Errorf("cannot encode a %T", values)
}

func items[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
