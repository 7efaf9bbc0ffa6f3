package mmap

import (
	"fmt"
	"os"
)

// Writable is a read-write mapping of a new file, for writing a model
// file in place: a writer fills the bytes of one tensor at a time straight
// into the page cache, with no buffer of the whole file in the process.
type Writable struct {
	Data  []byte
	f     *os.File
	unmap func() error
}

// Create creates the file at path (failing if it exists), makes it size
// bytes long and maps it read-write.
func Create(path string, size int64) (*Writable, error) {
	if int64(int(size)) != size || size < 0 {
		return nil, fmt.Errorf("%s: %d bytes do not fit in memory", path, size)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if err := reserve(f, size); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	w := &Writable{f: f, unmap: func() error { return nil }}
	if size > 0 {
		if w.Data, w.unmap, err = mapWritable(f, int(size)); err != nil {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("map %s: %w", path, err)
		}
	}
	return w, nil
}

// Release drops b, written bytes of the mapping, from the process's
// resident memory. Dropping a shared file mapping's dirty pages hands them
// to the page cache, which writes them back: nothing written is lost.
func (w *Writable) Release(b []byte) { releaseInside(w.Data, b) }

// Close unmaps the file, writes it to disk and closes it; Data must not be
// used afterwards.
func (w *Writable) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.unmap()
	if serr := w.f.Sync(); err == nil {
		err = serr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.Data, w.f = nil, nil
	return err
}
