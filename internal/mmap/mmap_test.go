package mmap

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenPrefault maps a file larger than the first prefault chunk (so the
// huge-page check and, where the cache holds it in small pages, the
// drop-and-reread path run) and checks the bytes and the progress reports.
func TestOpenPrefault(t *testing.T) {
	want := make([]byte, 70<<20+123)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(want); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(want); j++ {
			want[i+j] = byte(v >> (8 * j))
		}
	}
	m := mapBytes(t, want)
	var done int64
	m.Prefault(func(n int64) { done += n })
	if done != int64(len(want)) {
		t.Errorf("Prefault reported %d bytes, want %d", done, len(want))
	}
	if !bytes.Equal(m.Data, want) {
		t.Fatal("mapped bytes differ from the file")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("Open of a missing file: no error")
	}
	if _, err := Open(dir); err == nil {
		t.Error("Open of a directory: no error")
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(empty)
	if err != nil {
		t.Fatal(err)
	}
	m.Prefault(func(int64) { t.Error("Prefault of an empty file reported progress") })
	if len(m.Data) != 0 || m.Close() != nil {
		t.Error("empty file: want empty Data and a clean Close")
	}
}

func TestAlloc(t *testing.T) {
	for _, n := range []int{0, 1, 5<<20 + 3} {
		b, free := Alloc(n)
		if len(b) != n {
			t.Fatalf("Alloc(%d) gave %d bytes", n, len(b))
		}
		for i := range b {
			if b[i] != 0 {
				t.Fatalf("Alloc(%d): byte %d is %d, want zero", n, i, b[i])
			}
			b[i] = byte(i)
		}
		free()
	}
}

// Released pages read back the same bytes; ranges outside the mapping are
// ignored.
func TestRelease(t *testing.T) {
	want := make([]byte, 1<<20+77)
	for i := range want {
		want[i] = byte(i * 7)
	}
	m := mapBytes(t, want)
	m.Prefault(func(int64) {})
	m.Release(m.Data[5000 : 600<<10])
	m.Release(make([]byte, 10)) // not the mapping's
	m.Release(m.Data[:0])
	if !bytes.Equal(m.Data, want) {
		t.Fatal("bytes changed after Release")
	}
}

// mapBytes writes b to a file and maps it, for the rest of the test.
func mapBytes(t *testing.T, b []byte) *File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weights")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// A nil *File is a file with nothing mapped: the formats' readers call its
// methods for files parsed from memory.
func TestNilFile(t *testing.T) {
	var m *File
	m.Prefault(func(int64) { t.Error("a nil file prefaulted bytes") })
	m.Release(make([]byte, 4096))
	if m.Size() != 0 || m.Close() != nil {
		t.Errorf("nil file: size %d, close %v", m.Size(), m.Close())
	}
}
