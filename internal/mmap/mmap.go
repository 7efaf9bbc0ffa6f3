// Package mmap maps model files into memory read-only, so that loading a
// checkpoint costs no copy: pages are read from disk only when a weight is
// first touched, and many processes share them through the page cache.
package mmap

import (
	"fmt"
	"unsafe"

	"github.com/aha-inference/aha/internal/modelfile"
)

// File is a read-only mapping of a whole file.
type File struct {
	Data  []byte
	path  string
	unmap func() error
}

// Open maps the file at path. An empty file maps to empty Data.
func Open(path string) (*File, error) {
	f, st, err := modelfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
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
	return &File{Data: data, path: path, unmap: unmap}, nil
}

// Close unmaps the file; Data must not be used afterwards. The methods of
// File take a nil *File as a file with nothing mapped (a format parsed from
// bytes in memory), so the formats' readers need no checks of their own.
func (m *File) Close() error {
	if m == nil || m.unmap == nil {
		return nil
	}
	err := m.unmap()
	m.Data, m.unmap = nil, nil
	return err
}

// Prefault reads one byte of every page, so the file is in memory before
// it is used instead of being faulted in during the first token; done is
// called with the bytes covered as it goes. On Linux it first asks for huge
// pages (see mapFile for why), and where the page cache holds the file in
// small pages (it was written or read earlier without the advice) the
// cache is dropped after the first chunk and the file read again, once:
// the pages it comes back in stay for later loads.
func (m *File) Prefault(done func(bytes int64)) {
	const chunk = 64 << 20
	if m == nil || len(m.Data) == 0 {
		return
	}
	adviseHuge(m.Data)
	for off := 0; off < len(m.Data); off += chunk {
		end := min(len(m.Data), off+chunk)
		touch(m.Data[off:end])
		if off == 0 && smallPages(m, end) && dropCache(m) == nil {
			touch(m.Data[:end])
		}
		done(int64(end - off))
	}
}

func touch(b []byte) {
	const page = 4096
	var sink byte
	for i := 0; i < len(b); i += page {
		sink ^= b[i]
	}
	touchSink = sink
}

// touchSink keeps the compiler from dropping touch's reads.
var touchSink byte

// Alloc returns n zeroed bytes outside the Go heap for data built from
// weights (the CPU backend's rearranged matrices) and the function that
// gives them back. Where it can, the memory is 2 MiB-aligned and advised
// into huge pages, for the same reason as mapped weights (see mapFile).
func Alloc(n int) ([]byte, func()) { return allocate(n, true) }

// AllocPages is Alloc in ordinary pages, for memory written a little at a
// time from its start, as a KV cache fills: only the pages written become
// resident, where a 2 MiB page would bring in up to 2 MiB around the first
// byte written.
func AllocPages(n int) ([]byte, func()) { return allocate(n, false) }

func allocate(n int, huge bool) ([]byte, func()) {
	if n <= 0 {
		return nil, func() {}
	}
	return alloc(n, huge)
}

// Release tells the kernel this process no longer needs the pages of b, a
// part of the mapping (whole pages inside it): they leave its resident set
// and come back from the page cache or the file if read again. The CPU
// backend releases the matrices it keeps a packed copy of.
func (m *File) Release(b []byte) {
	if m != nil {
		releaseInside(m.Data, b)
	}
}

// Size is the mapped file's size in bytes.
func (m *File) Size() int64 {
	if m == nil {
		return 0
	}
	return int64(len(m.Data))
}

// releaseInside releases the whole pages of b if b lies inside data.
func releaseInside(data, b []byte) {
	if len(b) == 0 || len(data) == 0 {
		return
	}
	start := uintptr(unsafe.Pointer(&b[0])) - uintptr(unsafe.Pointer(&data[0]))
	if start >= uintptr(len(data)) || start+uintptr(len(b)) > uintptr(len(data)) {
		return // not part of this mapping
	}
	const page = 4096
	lo := (start + page - 1) &^ (page - 1)
	hi := (start + uintptr(len(b))) &^ (page - 1)
	if lo < hi {
		release(data[lo:hi])
	}
}
