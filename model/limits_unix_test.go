//go:build unix

package model_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aha-inference/aha/model"
)

// TestLoadRefusesNonRegularFiles: every file a load reads must be a
// regular file, or a link to one (Hugging Face's cache links each file
// into blobs/): a FIFO would block the load forever, and a device such as
// /dev/zero would be read until memory runs out (/dev/null stands in for
// it here, harmless should the check regress). Files read whole are
// bounded.
func TestLoadRefusesNonRegularFiles(t *testing.T) {
	noEdit := func(map[string]any) {}
	keep := func(ts []stTensor) []stTensor { return ts }
	fifo := func(t *testing.T, path string) {
		os.Remove(path)
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Skip("cannot make a FIFO here:", err)
		}
	}
	link := func(t *testing.T, target, path string) {
		os.Remove(path)
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string
		want  string
	}{
		{"config.json a device", func(t *testing.T, dir string) string {
			link(t, "/dev/null", filepath.Join(dir, "config.json"))
			return dir
		}, "config.json is a device, not a regular file"},
		{"config.json a FIFO", func(t *testing.T, dir string) string {
			fifo(t, filepath.Join(dir, "config.json"))
			return dir
		}, "config.json is a named pipe, not a regular file"},
		{"generation_config.json a FIFO", func(t *testing.T, dir string) string {
			writeHFFolder(t, dir, noEdit, keep)
			fifo(t, filepath.Join(dir, "generation_config.json"))
			return dir
		}, "generation_config.json is a named pipe"},
		{"model.safetensors a FIFO", func(t *testing.T, dir string) string {
			writeHFFolder(t, dir, noEdit, keep)
			fifo(t, filepath.Join(dir, "model.safetensors"))
			return dir
		}, "model.safetensors is a named pipe"},
		{"model.safetensors.index.json a device", func(t *testing.T, dir string) string {
			writeHFFolder(t, dir, noEdit, keep)
			link(t, "/dev/null", filepath.Join(dir, "model.safetensors.index.json"))
			return dir
		}, "model.safetensors.index.json is a device"},
		{"a GGUF that is a FIFO", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "x.gguf")
			fifo(t, p)
			return p
		}, "x.gguf is a named pipe"},
		{"config.json over 1 MiB", func(t *testing.T, dir string) string {
			writeHFFolder(t, dir, noEdit, keep)
			if err := os.Truncate(filepath.Join(dir, "config.json"), 1<<20+1); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "config.json is 1048577 bytes, more than the 1048576"},
		{"files linked into blobs/", func(t *testing.T, dir string) string {
			writeHFFolder(t, dir, noEdit, keep)
			os.Mkdir(filepath.Join(dir, "blobs"), 0o755)
			for _, name := range []string{"config.json", "model.safetensors"} {
				blob := filepath.Join(dir, "blobs", name)
				if err := os.Rename(filepath.Join(dir, name), blob); err != nil {
					t.Fatal(err)
				}
				link(t, blob, filepath.Join(dir, name))
			}
			return dir
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setup(t, t.TempDir())
			done := make(chan error, 1)
			go func() {
				m, err := model.Load(path)
				if err == nil {
					m.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Load is still blocked after 10s")
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
