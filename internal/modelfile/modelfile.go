// Package modelfile opens the files a checkpoint is made of. Their paths
// come from users, from servers' load requests and from folders anyone may
// have written, so each must be a regular file: a device such as /dev/zero
// would be read until memory runs out, and a FIFO would block the open
// forever. A symbolic link to a regular file is fine (a Hugging Face cache
// folder links every file into blobs/). What is read whole into memory is
// bounded, by a limit of the caller's choosing per kind of file.
package modelfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Limits on the files read whole into memory, far above any real one's size
// and far below what would exhaust a machine's memory.
const (
	// MaxConfig bounds config.json, generation_config.json and
	// chat_template.jinja, which are a few kilobytes.
	MaxConfig = 1 << 20
	// MaxTokenizerConfig bounds tokenizer_config.json, which can list every
	// added token (hundreds of kilobytes for large vocabularies).
	MaxTokenizerConfig = 16 << 20
	// MaxTokenizer bounds tokenizer.json: about 35 MB for the largest
	// (256k-token) vocabularies.
	MaxTokenizer = 64 << 20
	// MaxIndex bounds model.safetensors.index.json, a few megabytes for
	// checkpoints of a hundred thousand tensors.
	MaxIndex = 64 << 20
)

// Open opens the regular file at path for reading and returns it with its
// information. The type is checked before opening, since opening a FIFO
// blocks until a writer appears, and again on the open file.
func Open(path string) (*os.File, os.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := regular(path, st); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = regular(path, st)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

func regular(path string, st os.FileInfo) error {
	kind := ""
	switch m := st.Mode(); {
	case m.IsRegular():
		return nil
	case m.IsDir():
		kind = "a directory"
	case m&os.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&os.ModeDevice != 0:
		kind = "a device"
	case m&os.ModeSocket != 0:
		kind = "a socket"
	default:
		kind = fmt.Sprintf("of mode %v", m.Type())
	}
	return fmt.Errorf("%s is %s, not a regular file", path, kind)
}

// Read reads the regular file at path, refusing one of more than limit
// bytes. It reads at most limit+1 bytes even if the file grows meanwhile.
func Read(path string, limit int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d such a file may have", path, st.Size(), limit)
	}
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + 1)
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%s grew past %d bytes while being read", path, limit)
	}
	return buf.Bytes(), nil
}
