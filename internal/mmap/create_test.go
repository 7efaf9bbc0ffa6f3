package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCreate: bytes written through the mapping, released or not, are in
// the file after Close; an existing file is never overwritten.
func TestCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	const size = 3*4096 + 100
	w, err := Create(path, size)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	copy(w.Data, want)
	w.Release(w.Data[100 : 2*4096+10])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("file differs from what was written")
	}
	if _, err := Create(path, 10); err == nil {
		t.Fatal("Create overwrote an existing file")
	}
}
