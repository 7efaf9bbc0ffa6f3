//go:build unix

package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHFRefusesNonRegularFiles: a FIFO would block the read forever, a
// device (here /dev/null, which a regression reads harmlessly) is no
// tokenizer file; a symbolic link to a regular file, as in Hugging Face's
// cache, is read.
func TestHFRefusesNonRegularFiles(t *testing.T) {
	valid := `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
		"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}}`
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"tokenizer.json a FIFO", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "tokenizer.json"), 0o644); err != nil {
				t.Skip("cannot make a FIFO here:", err)
			}
		}, "tokenizer.json is a named pipe, not a regular file"},
		{"tokenizer_config.json a device", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(valid), 0o644)
			if err := os.Symlink("/dev/null", filepath.Join(dir, "tokenizer_config.json")); err != nil {
				t.Fatal(err)
			}
		}, "tokenizer_config.json is a device, not a regular file"},
		{"generation_config.json a FIFO", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(valid), 0o644)
			if err := syscall.Mkfifo(filepath.Join(dir, "generation_config.json"), 0o644); err != nil {
				t.Skip("cannot make a FIFO here:", err)
			}
		}, "generation_config.json is a named pipe, not a regular file"},
		{"tokenizer.json over 64 MiB", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tokenizer.json")
			os.WriteFile(p, []byte(valid), 0o644)
			if err := os.Truncate(p, 64<<20+1); err != nil { // a sparse file
				t.Fatal(err)
			}
		}, "tokenizer.json is 67108865 bytes, more than the 67108864"},
		{"tokenizer.json a link to a regular file", func(t *testing.T, dir string) {
			blob := filepath.Join(dir, "blob")
			os.WriteFile(blob, []byte(valid), 0o644)
			if err := os.Symlink(blob, filepath.Join(dir, "tokenizer.json")); err != nil {
				t.Fatal(err)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			done := make(chan error, 1)
			go func() {
				_, err := FromHF(dir)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("FromHF is still blocked after 10s")
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
