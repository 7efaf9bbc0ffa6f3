package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aha-inference/aha/internal/mmap"
	"github.com/aha-inference/aha/quant"
)

// Writer is a safetensors file being written. The header is written when
// it is created, from the names, types and shapes alone; the file is
// memory-mapped and each tensor's Data is its place in the mapping, to be
// filled by the caller. Writing a tensor therefore costs no buffer of its
// own, and Release gives back the memory of a tensor once it is written.
type Writer struct {
	Path    string
	Tensors []*Tensor // in the order given to Create, Data aliasing the file
	m       *mmap.Writable
}

// dtypeNames are the header's names of the types a file may hold.
var dtypeNames = map[quant.Type]string{quant.F32: "F32", quant.F16: "F16", quant.BF16: "BF16"}

// Create creates the file at path (which must not exist) for tensors,
// whose Name, Type and Shape it uses, laid out in the given order. Metadata,
// if not nil, becomes the header's __metadata__.
func Create(path string, tensors []Tensor, metadata map[string]string) (*Writer, error) {
	header := map[string]any{}
	if metadata != nil {
		header["__metadata__"] = metadata
	}
	var offset int64
	offsets := make([]int64, len(tensors)+1)
	for i, t := range tensors {
		name, ok := dtypeNames[t.Type]
		if !ok {
			return nil, fmt.Errorf("safetensors %s: tensor %q has type %v; supported: F32, F16, BF16", path, t.Name, t.Type)
		}
		if _, dup := header[t.Name]; dup {
			return nil, fmt.Errorf("safetensors %s: tensor %q given twice", path, t.Name)
		}
		n := int64(t.Type.TypeSize())
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors %s: tensor %q has bad shape %v", path, t.Name, t.Shape)
			}
			n *= d
		}
		header[t.Name] = headerEntry{DType: name, Shape: shapeOrEmpty(t.Shape), DataOffsets: []int64{offset, offset + n}}
		offset += n
		offsets[i+1] = offset
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	// The data starts at a multiple of 8 bytes, padded with spaces, as the
	// reference writer does, so that every tensor can be read in place.
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	start := 8 + int64(len(h))
	m, err := mmap.Create(path, start+offset)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	binary.LittleEndian.PutUint64(m.Data, uint64(len(h)))
	copy(m.Data[8:], h)
	w := &Writer{Path: path, m: m}
	for i, t := range tensors {
		w.Tensors = append(w.Tensors, &Tensor{Name: t.Name, Type: t.Type, Shape: t.Shape,
			Data: m.Data[start+offsets[i] : start+offsets[i+1] : start+offsets[i+1]]})
	}
	return w, nil
}

// shapeOrEmpty writes a scalar's shape as [], not null.
func shapeOrEmpty(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

// Release drops b, written bytes of the file, from the process's resident
// memory; they stay in the page cache and reach the disk on Close.
func (w *Writer) Release(b []byte) { w.m.Release(b) }

// Close writes the file to disk and unmaps it.
func (w *Writer) Close() error {
	if err := w.m.Close(); err != nil {
		return fmt.Errorf("safetensors %s: %w", w.Path, err)
	}
	return nil
}

// Abort unmaps the file and removes it.
func (w *Writer) Abort() {
	w.m.Close()
	os.Remove(w.Path)
}
