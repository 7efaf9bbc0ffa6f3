package mmap

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// The file must start at a 2 MiB boundary for the kernel to map its large
// folios with huge entries, and /proc/self/smaps must list the mapping
// (smallPages reads it).
func TestMappingAligned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := uintptr(unsafe.Pointer(&m.Data[0]))
	if addr%hugePage != 0 {
		t.Errorf("mapped at %#x, not 2 MiB-aligned", addr)
	}
	touch(m.Data)
	if _, err := pmdMapped(addr); err != nil {
		t.Errorf("smaps: %v", err)
	}
}
