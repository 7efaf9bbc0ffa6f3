//go:build unix && !linux

package mmap

import (
	"os"
	"syscall"
)

func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

func adviseHuge([]byte) {}

func smallPages(*File, int) bool { return false }

func dropCache(*File) error { return nil }

// alloc maps ordinary pages whether or not huge ones are asked for: huge
// pages are advised on Linux only.
func alloc(n int, _ bool) ([]byte, func()) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { syscall.Munmap(b) }
}

func release([]byte) {}

// reserve does nothing where there is no portable preallocation: a full
// disk then faults (SIGBUS) when the mapping is written.
func reserve(*os.File, int64) error { return nil }
