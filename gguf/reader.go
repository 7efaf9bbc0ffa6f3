package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/aha-inference/aha/internal/mmap"
	"github.com/aha-inference/aha/quant"
)

// File is an open GGUF file.
type File struct {
	Path      string
	Version   uint32
	KV        []KV // in file order
	Tensors   []*Tensor
	Alignment int
	// DataOffset is where the tensor data section starts in the file.
	DataOffset uint64

	kv      map[string]int // key → index in KV
	tensors map[string]*Tensor
	m       *mmap.File
}

// Open maps and parses the GGUF file at path. Close releases the mapping.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := Parse(m.Data)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("gguf %s: %w", path, err)
	}
	f.Path, f.m = path, m
	return f, nil
}

// Prefault reads the mapped file into memory (see mmap.File.Prefault);
// a parsed in-memory file has nothing to read.
func (f *File) Prefault(done func(bytes int64)) {
	f.m.Prefault(done)
}

// Release drops b, bytes of the mapped file, from the process's resident
// memory (see mmap.File.Release).
func (f *File) Release(b []byte) {
	f.m.Release(b)
}

// Size is the file's size in bytes.
func (f *File) Size() int64 { return f.m.Size() }

// Close unmaps the file. Tensor data must not be used afterwards.
func (f *File) Close() error { return f.m.Close() }

// ErrTruncated reports a file that ends before its header says it should.
var ErrTruncated = errors.New("file is truncated")

// decoder reads little-endian values from a byte slice, checking every read
// against the slice's end. The first failure sticks, so callers check err
// once after a group of reads.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("at byte %d: "+format, append([]any{d.off}, args...)...)
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.remaining() {
		d.err = fmt.Errorf("at byte %d: reading %d bytes: %w", d.off, n, ErrTruncated)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u8() uint8 {
	if p := d.next(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if p := d.next(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.next(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.next(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// count reads a uint64 element count and checks that count elements of at
// least minSize bytes each can still fit in the file.
func (d *decoder) count(what string, minSize int) int {
	n := d.u64()
	if d.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(d.remaining()/minSize) {
		d.fail("%s count %d cannot fit in the %d bytes left: %w", what, n, d.remaining(), ErrTruncated)
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count("string length", 1)
	return string(d.next(n))
}

// Parse parses a GGUF file held in memory. Tensor data slices alias data.
func Parse(data []byte) (*File, error) {
	d := &decoder{b: data}
	magic := d.next(4)
	if d.err != nil {
		return nil, fmt.Errorf("reading magic: %w", ErrTruncated)
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("not a GGUF file: magic %q, want %q", magic, Magic)
	}
	f := &File{Version: d.u32(), kv: map[string]int{}, tensors: map[string]*Tensor{}}
	if d.err != nil {
		return nil, d.err
	}
	if f.Version != 2 && f.Version != 3 {
		return nil, fmt.Errorf("unsupported GGUF version %d (supported: 2, 3)", f.Version)
	}
	// A tensor info takes at least 8 (name) + 4 (dims) + 4 (type) + 8 (offset) bytes.
	nTensors := d.count("tensor", 24)
	nKV := d.count("metadata key", 8+4)
	if d.err != nil {
		return nil, d.err
	}
	// Each entry costs a few hundred bytes of memory for its 12 or 24 of
	// file, so the counts are bounded beyond what the file bounds.
	if nTensors > MaxTensors {
		return nil, fmt.Errorf("tensor count %d is more than the %d a GGUF file may hold", nTensors, MaxTensors)
	}
	if nKV > MaxKV {
		return nil, fmt.Errorf("metadata key count %d is more than the %d a GGUF file may hold", nKV, MaxKV)
	}

	f.KV = make([]KV, 0, nKV)
	for i := 0; i < nKV; i++ {
		key := d.str()
		typ := ValueType(d.u32())
		v := d.value(typ, 0)
		if d.err != nil {
			return nil, fmt.Errorf("metadata entry %d (%q): %w", i, key, d.err)
		}
		if _, dup := f.kv[key]; dup {
			return nil, fmt.Errorf("metadata key %q appears twice", key)
		}
		f.kv[key] = len(f.KV)
		f.KV = append(f.KV, KV{key, v})
	}

	f.Alignment = DefaultAlignment
	if _, ok := f.kv["general.alignment"]; ok {
		a, err := f.Uint("general.alignment")
		if err != nil {
			return nil, err
		}
		if a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return nil, fmt.Errorf("general.alignment %d is not a power of two up to 1 MiB", a)
		}
		f.Alignment = int(a)
	}

	f.Tensors = make([]*Tensor, 0, nTensors)
	for i := 0; i < nTensors; i++ {
		t, err := d.tensorInfo()
		if err != nil {
			return nil, fmt.Errorf("tensor info %d: %w", i, err)
		}
		if _, dup := f.tensors[t.Name]; dup {
			return nil, fmt.Errorf("tensor %q appears twice", t.Name)
		}
		f.tensors[t.Name] = t
		f.Tensors = append(f.Tensors, t)
	}

	f.DataOffset = alignUp(uint64(d.off), uint64(f.Alignment))
	if err := f.placeTensors(data); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *decoder) tensorInfo() (*Tensor, error) {
	t := &Tensor{Name: d.str()}
	nDims := d.u32()
	if d.err != nil {
		return nil, d.err
	}
	if nDims > MaxDims {
		return nil, fmt.Errorf("tensor %q has %d dimensions (at most %d)", t.Name, nDims, MaxDims)
	}
	t.Shape = make([]uint64, nDims)
	// The product of the non-zero dimensions must fit, so that neither
	// Elements nor Rows overflows whatever dimension is 0.
	product := uint64(1)
	for j := range t.Shape {
		t.Shape[j] = d.u64()
		if dim := t.Shape[j]; d.err == nil && dim != 0 {
			if product > math.MaxInt64/dim {
				return nil, fmt.Errorf("tensor %q: shape %v overflows", t.Name, t.Shape)
			}
			product *= dim
		}
	}
	t.Type = quant.Type(d.u32())
	t.Offset = d.u64()
	if d.err != nil {
		return nil, d.err
	}
	if !t.Type.Known() {
		return nil, fmt.Errorf("tensor %q has unsupported type %v", t.Name, t.Type)
	}
	if len(t.Shape) > 0 && t.Shape[0]%uint64(t.Type.BlockSize()) != 0 {
		return nil, fmt.Errorf("tensor %q: row length %d is not a multiple of %v's block size %d", t.Name, t.Shape[0], t.Type, t.Type.BlockSize())
	}
	return t, nil
}

// placeTensors checks that every tensor's data is aligned, lies inside the
// file, and overlaps no other tensor, then points Data at it.
func (f *File) placeTensors(data []byte) error {
	if f.DataOffset > uint64(len(data)) && len(f.Tensors) > 0 {
		return fmt.Errorf("tensor data section starts at %d, beyond the end of the file (%d bytes): %w", f.DataOffset, len(data), ErrTruncated)
	}
	byOffset := make([]*Tensor, len(f.Tensors))
	copy(byOffset, f.Tensors)
	sort.SliceStable(byOffset, func(i, j int) bool { return byOffset[i].Offset < byOffset[j].Offset })
	var end uint64 // end of the previous tensor, relative to DataOffset
	for i, t := range byOffset {
		if t.Offset%uint64(f.Alignment) != 0 {
			return fmt.Errorf("tensor %q: offset %d is not aligned to %d", t.Name, t.Offset, f.Alignment)
		}
		if i > 0 && t.Offset < end {
			return fmt.Errorf("tensor %q (offset %d) overlaps tensor %q (ends at %d)", t.Name, t.Offset, byOffset[i-1].Name, end)
		}
		// The block count times the block size can overflow (2^62 F32
		// elements are 2^64 bytes, 0 in a uint64), so it is compared with
		// the bytes there are before it is multiplied.
		avail := uint64(len(data)) - f.DataOffset
		blocks, blockBytes := t.Elements()/uint64(t.Type.BlockSize()), uint64(t.Type.TypeSize())
		if t.Offset > avail || blocks > (avail-t.Offset)/blockBytes {
			return fmt.Errorf("tensor %q: %d blocks of %d bytes at offset %d run past the end of the file (%d bytes of data): %w", t.Name, blocks, blockBytes, t.Offset, avail, ErrTruncated)
		}
		size := blocks * blockBytes
		start := f.DataOffset + t.Offset
		t.Data = data[start : start+size : start+size]
		end = t.Offset + size
	}
	return nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// value decodes one metadata value of type typ. depth bounds the nesting of
// arrays so that a hostile file cannot recurse without limit.
func (d *decoder) value(typ ValueType, depth int) any {
	switch typ {
	case TypeUint8:
		return d.u8()
	case TypeInt8:
		return int8(d.u8())
	case TypeUint16:
		return d.u16()
	case TypeInt16:
		return int16(d.u16())
	case TypeUint32:
		return d.u32()
	case TypeInt32:
		return int32(d.u32())
	case TypeFloat32:
		return math.Float32frombits(d.u32())
	case TypeBool:
		b := d.u8()
		if b > 1 {
			d.fail("bool value %d", b)
		}
		return b == 1
	case TypeString:
		return d.str()
	case TypeUint64:
		return d.u64()
	case TypeInt64:
		return int64(d.u64())
	case TypeFloat64:
		return math.Float64frombits(d.u64())
	case TypeArray:
		return d.array(depth)
	}
	d.fail("unknown metadata value type %d", uint32(typ))
	return nil
}

func (d *decoder) array(depth int) Array {
	if depth >= 8 {
		d.fail("arrays nested more than 8 deep")
		return Array{}
	}
	elem := ValueType(d.u32())
	if d.err != nil {
		return Array{}
	}
	if elem.size() == 0 {
		d.fail("array of unknown value type %d", uint32(elem))
		return Array{}
	}
	n := d.count("array element", elem.size())
	if d.err != nil {
		return Array{}
	}
	a := Array{Elem: elem}
	switch elem {
	case TypeUint8:
		a.Values = readSlice(d, n, d.u8)
	case TypeInt8:
		a.Values = readSlice(d, n, func() int8 { return int8(d.u8()) })
	case TypeUint16:
		a.Values = readSlice(d, n, d.u16)
	case TypeInt16:
		a.Values = readSlice(d, n, func() int16 { return int16(d.u16()) })
	case TypeUint32:
		a.Values = readSlice(d, n, d.u32)
	case TypeInt32:
		a.Values = readSlice(d, n, func() int32 { return int32(d.u32()) })
	case TypeFloat32:
		a.Values = readSlice(d, n, func() float32 { return math.Float32frombits(d.u32()) })
	case TypeBool:
		a.Values = readSlice(d, n, func() bool { return d.value(TypeBool, depth).(bool) })
	case TypeString:
		a.Values = readSlice(d, n, d.str)
	case TypeUint64:
		a.Values = readSlice(d, n, d.u64)
	case TypeInt64:
		a.Values = readSlice(d, n, func() int64 { return int64(d.u64()) })
	case TypeFloat64:
		a.Values = readSlice(d, n, func() float64 { return math.Float64frombits(d.u64()) })
	case TypeArray:
		a.Values = readSlice(d, n, func() Array { return d.array(depth + 1) })
	}
	return a
}

func readSlice[T any](d *decoder, n int, read func() T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = read()
		if d.err != nil {
			return nil
		}
	}
	return s
}
