package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Manifest describes what produced a rollout file, so a rerun can tell
// whether resuming it would mix records of different runs.
type Manifest struct {
	ModelSHA256    string            `json:"model_sha256"`
	AhaVersion     string            `json:"aha_version"`
	TemplateSHA256 string            `json:"template_sha256"` // of the chat template source, or "fallback"
	Args           map[string]string `json:"args"`            // every flag by name, defaults included
}

// ManifestPath is where the manifest of the rollout file out lives.
func ManifestPath(out string) string { return out + ".manifest.json" }

// mismatch names the first field in which two manifests differ, ignoring
// the arguments in mayDiffer.
func (m *Manifest) mismatch(now *Manifest, mayDiffer []string) error {
	for _, f := range []struct{ name, was, now string }{
		{"the model (sha256)", m.ModelSHA256, now.ModelSHA256},
		{"aha's version", m.AhaVersion, now.AhaVersion},
		{"the chat template (sha256)", m.TemplateSHA256, now.TemplateSHA256},
	} {
		if f.was != f.now {
			return fmt.Errorf("%s differs: it was %s, now %s", f.name, f.was, f.now)
		}
	}
	names := slices.Sorted(maps.Keys(m.Args))
	for name := range now.Args {
		if _, ok := m.Args[name]; !ok {
			names = append(names, name)
		}
	}
	for _, name := range names {
		was, wasSet := m.Args[name]
		cur, curSet := now.Args[name]
		if slices.Contains(mayDiffer, name) || (was == cur && wasSet == curSet) {
			continue
		}
		if !wasSet {
			return fmt.Errorf("--%s is new (%q)", name, cur)
		}
		if !curSet {
			return fmt.Errorf("--%s is gone (it was %q)", name, was)
		}
		return fmt.Errorf("--%s differs: it was %q, now %q", name, was, cur)
	}
	return nil
}

// Output is a rollout file open for appending records. Each record is one
// line written with one write call and synced to disk before Append
// returns, so a run killed at any moment leaves every appended record
// intact and at most one half-written line at the end, which Open drops.
type Output struct {
	mu   sync.Mutex
	f    *os.File
	done map[Key]bool
	// Dropped is the size in bytes of the damaged last line Open removed
	// (0 if none).
	Dropped int64
}

// Open opens the rollout file path for a run described by m. A new file
// gets m as its manifest. An existing one is resumed if its manifest
// matches m (the arguments in mayDiffer, which do not change the records,
// may differ); otherwise the error names the first field that differs.
// With force any existing file and manifest are replaced.
func Open(path string, m Manifest, force bool, mayDiffer []string) (*Output, error) {
	mpath := ManifestPath(path)
	if force {
		for _, p := range []string{path, mpath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	old, err := os.ReadFile(mpath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(path); err == nil {
			return nil, fmt.Errorf("%s exists but has no manifest (%s): not resuming a file of unknown origin; use --force to start over", path, mpath)
		}
		if err := writeManifest(mpath, &m); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		var was Manifest
		if err := json.Unmarshal(old, &was); err != nil {
			return nil, fmt.Errorf("%s: %w", mpath, err)
		}
		if err := was.mismatch(&m, mayDiffer); err != nil {
			return nil, fmt.Errorf("%s was written by a different run: %w; rerun with the same arguments to resume, or --force to start over", path, err)
		}
	}

	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	recs, good, err := readRecords(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := &Output{f: f, done: map[Key]bool{}}
	for i := range recs {
		out.done[recs[i].Key()] = true
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() > good {
		out.Dropped = st.Size() - good
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: dropping the half-written last line: %w", path, err)
		}
	}
	if _, err := f.Seek(good, 0); err != nil {
		f.Close()
		return nil, err
	}
	return out, f.Sync()
}

// writeManifest writes the manifest atomically: a crash leaves either no
// manifest or a whole one.
func writeManifest(path string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".manifest-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Done reports whether the file already holds the record k.
func (o *Output) Done(k Key) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.done[k]
}

// Len is the number of records in the file.
func (o *Output) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.done)
}

// Append writes rec as one line and syncs it. A record already in the
// file is not written again.
func (o *Output) Append(rec *Record) error {
	line, err := encodeRecord(rec)
	if err != nil {
		return fmt.Errorf("encoding record %v: %w", rec.Key(), err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done[rec.Key()] {
		return nil
	}
	if _, err := o.f.Write(line); err != nil {
		return err
	}
	if err := o.f.Sync(); err != nil {
		return err
	}
	o.done[rec.Key()] = true
	return nil
}

// Close closes the file.
func (o *Output) Close() error { return o.f.Close() }
