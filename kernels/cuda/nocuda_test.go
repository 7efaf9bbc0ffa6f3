//go:build !cuda

package cuda

import (
	"errors"
	"testing"
)

func TestNewWithoutCUDABuild(t *testing.T) {
	b, err := New()
	if b != nil || !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("New() = %v, %v; want ErrNotBuilt", b, err)
	}
}
