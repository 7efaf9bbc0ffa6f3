// Package safetensors reads Hugging Face safetensors checkpoints: single
// files and checkpoints sharded across several files through
// model.safetensors.index.json. Files are memory-mapped; a Tensor's Data is a
// slice of the mapping, never a copy.
//
// A file is an 8-byte little-endian header length, a JSON header mapping
// each tensor name to its dtype, row-major shape and byte range, then the
// data. Only the float types a language model's weights use are accepted.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/aha-inference/aha/internal/mmap"
	"github.com/aha-inference/aha/internal/modelfile"
	"github.com/aha-inference/aha/quant"
)

// Tensor is one tensor. Shape is row-major, as PyTorch reports it: a linear
// layer's weight is [out, in].
type Tensor struct {
	Name  string
	Type  quant.Type // F32, F16 or BF16
	Shape []int64
	Data  []byte
}

// File is one open safetensors file.
type File struct {
	Path     string
	Tensors  []*Tensor // sorted by name
	Metadata map[string]string
	m        *mmap.File
}

// maxHeader bounds the JSON header, as the reference implementation does.
const maxHeader = 100 << 20

var dtypes = map[string]quant.Type{"F32": quant.F32, "F16": quant.F16, "BF16": quant.BF16}

// Open maps and parses the safetensors file at path.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Parse(m.Data)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	f.Path, f.m = path, m
	return f, nil
}

// Close unmaps the file.
// Prefault reads the mapped file into memory (see mmap.File.Prefault).
func (f *File) Prefault(done func(bytes int64)) {
	f.m.Prefault(done)
}

// Size is the file's size in bytes.
func (f *File) Size() int64 { return f.m.Size() }

func (f *File) Close() error { return f.m.Close() }

type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// Parse parses a safetensors file held in memory; tensors alias data.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, errors.New("file is truncated: shorter than the 8-byte header length")
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeader || n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d exceeds the file (%d bytes) or the %d-byte limit", n, len(data), maxHeader)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	body := data[8+n:]
	f := &File{}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("header __metadata__: %w", err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("header entry %q: %w", name, err)
		}
		t, err := e.tensor(name, body)
		if err != nil {
			return nil, err
		}
		f.Tensors = append(f.Tensors, t)
		spans = append(spans, span{name, e.DataOffsets[0], e.DataOffsets[1]})
	}
	sort.Slice(f.Tensors, func(i, j int) bool { return f.Tensors[i].Name < f.Tensors[j].Name })
	if err := checkOverlap(spans); err != nil {
		return nil, err
	}
	return f, nil
}

func (e headerEntry) tensor(name string, body []byte) (*Tensor, error) {
	typ, ok := dtypes[e.DType]
	if !ok {
		return nil, fmt.Errorf("tensor %q has dtype %q; supported: F32, F16, BF16", name, e.DType)
	}
	if len(e.DataOffsets) != 2 {
		return nil, fmt.Errorf("tensor %q: data_offsets has %d values, want 2", name, len(e.DataOffsets))
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin || end > int64(len(body)) {
		return nil, fmt.Errorf("tensor %q: bytes [%d, %d) lie outside the %d bytes of data (file truncated?)", name, begin, end, len(body))
	}
	elements := int64(1)
	for _, d := range e.Shape {
		if d < 0 || (d > 0 && elements > (1<<62)/d) {
			return nil, fmt.Errorf("tensor %q: bad shape %v", name, e.Shape)
		}
		elements *= d
	}
	// The element count is compared with the bytes there are before it is
	// multiplied by the element size: 2^62 F32 elements are 2^64 bytes,
	// which wraps to 0.
	size, n := end-begin, int64(typ.TypeSize())
	if elements > size/n || elements*n != size {
		return nil, fmt.Errorf("tensor %q: %d bytes for shape %v of %s, want %d elements × %d bytes", name, size, e.Shape, e.DType, elements, n)
	}
	return &Tensor{Name: name, Type: typ, Shape: e.Shape, Data: body[begin:end:end]}, nil
}

type span struct {
	name       string
	begin, end int64
}

// checkOverlap rejects tensors whose byte ranges overlap: a valid file never
// has them, and aliased weights would silently corrupt each other's meaning.
func checkOverlap(spans []span) error {
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return fmt.Errorf("tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	return nil
}

// Checkpoint is the set of tensors of a model folder, from one file or many.
type Checkpoint struct {
	Files   []*File
	tensors map[string]*Tensor
	shard   map[string]string // tensor name → file name
}

// OpenDir opens the weights of a Hugging Face model folder:
// model.safetensors, or the shards model.safetensors.index.json lists.
func OpenDir(dir string) (*Checkpoint, error) {
	index := filepath.Join(dir, "model.safetensors.index.json")
	var names []string
	if data, err := modelfile.Read(index, modelfile.MaxIndex); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("read %s: %w", index, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, fmt.Errorf("read %s: weight_map is empty", index)
		}
		seen := map[string]bool{}
		for _, file := range idx.WeightMap {
			if !seen[file] {
				seen[file] = true
				names = append(names, file)
			}
		}
		sort.Strings(names)
		c, err := openFiles(dir, names)
		if err != nil {
			return nil, err
		}
		for tensor, file := range idx.WeightMap {
			if c.shard[tensor] != file {
				c.Close()
				return nil, fmt.Errorf("%s: tensor %q is mapped to %s, which does not hold it", index, tensor, file)
			}
		}
		return c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	single := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(single); err != nil {
		return nil, fmt.Errorf("%s has neither model.safetensors nor model.safetensors.index.json", dir)
	}
	return openFiles(dir, []string{"model.safetensors"})
}

func openFiles(dir string, names []string) (*Checkpoint, error) {
	c := &Checkpoint{tensors: map[string]*Tensor{}, shard: map[string]string{}}
	for _, name := range names {
		if filepath.Base(name) != name {
			c.Close()
			return nil, fmt.Errorf("shard name %q must be a file in %s", name, dir)
		}
		f, err := Open(filepath.Join(dir, name))
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Files = append(c.Files, f)
		for _, t := range f.Tensors {
			if prev, dup := c.shard[t.Name]; dup {
				c.Close()
				return nil, fmt.Errorf("tensor %q is in two shards (%s and %s)", t.Name, prev, name)
			}
			c.tensors[t.Name] = t
			c.shard[t.Name] = name
		}
	}
	return c, nil
}

// Tensor returns the named tensor, or nil.
func (c *Checkpoint) Tensor(name string) *Tensor { return c.tensors[name] }

// Names returns every tensor name, sorted.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.tensors))
	for n := range c.tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Prefault reads every file into memory.
func (c *Checkpoint) Prefault(done func(bytes int64)) {
	for _, f := range c.Files {
		f.Prefault(done)
	}
}

// Release drops b, bytes of one of its mapped files, from the process's
// resident memory (see mmap.File.Release).
func (c *Checkpoint) Release(b []byte) {
	for _, f := range c.Files {
		f.m.Release(b)
	}
}

// Size is the size of all its files in bytes.
func (c *Checkpoint) Size() int64 {
	var n int64
	for _, f := range c.Files {
		n += f.Size()
	}
	return n
}

// Close unmaps every file.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.Files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
