package modelfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, []byte(`{"a": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A Hugging Face cache folder links each file into blobs/.
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, link} {
		if data, err := Read(p, 8); err != nil || string(data) != `{"a": 1}` {
			t.Errorf("Read(%s) = %q, %v", p, data, err)
		}
	}
	if _, err := Read(file, 7); err == nil || !strings.Contains(err.Error(), "8 bytes, more than the 7") {
		t.Errorf("a file over the limit: error %v", err)
	}
	if _, err := Read(dir, 1<<20); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: error %v", err)
	}
	if _, err := Read(filepath.Join(dir, "none"), 1<<20); !os.IsNotExist(err) {
		t.Errorf("a missing file: error %v, want one os.IsNotExist accepts", err)
	}
}

// TestReadDevice: a config.json linked to /dev/zero would be read until
// memory runs out.
func TestReadDevice(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero here")
	}
	link := filepath.Join(t.TempDir(), "config.json")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	_, err := Read(link, 1<<20) // a regression reads a megabyte, not all memory
	if err == nil || !strings.Contains(err.Error(), "config.json is a device, not a regular file") {
		t.Errorf("error %v", err)
	}
	if f, _, err := Open(link); err == nil {
		f.Close()
		t.Error("Open accepted a device")
	}
}
