//go:build !unix

package mmap

import (
	"io"
	"os"
)

// Without mmap the file is read into memory: correct, but loading copies.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

func adviseHuge([]byte) {}

func smallPages(*File, int) bool { return false }

func dropCache(*File) error { return nil }

func alloc(n int, _ bool) ([]byte, func()) { return make([]byte, n), func() {} }

func release([]byte) {}

// reserve does nothing: without mmap the file is written with WriteAt,
// which reports a full disk as an error.
func reserve(*os.File, int64) error { return nil }
