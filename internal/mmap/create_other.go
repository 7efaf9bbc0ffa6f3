//go:build !unix

package mmap

import "os"

// Without mmap the file is built in memory and written when it is closed.
func mapWritable(f *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	return data, func() error {
		_, err := f.WriteAt(data, 0)
		return err
	}, nil
}
