// Package mmap maps model files into memory read-only, so that loading a
// checkpoint costs no copy: pages are read from disk only when a weight is
// first touched, and many processes share them through the page cache.
package mmap

import (
	"fmt"
	"os"
)

// File is a read-only mapping of a whole file.
type File struct {
	Data  []byte
	unmap func() error
}

// Open maps the file at path. An empty file maps to empty Data.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	size := st.Size()
	if size == 0 {
		return &File{unmap: func() error { return nil }}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: %d bytes do not fit in memory", path, size)
	}
	data, unmap, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	return &File{Data: data, unmap: unmap}, nil
}

// Close unmaps the file; Data must not be used afterwards.
func (m *File) Close() error {
	if m == nil || m.unmap == nil {
		return nil
	}
	err := m.unmap()
	m.Data, m.unmap = nil, nil
	return err
}
