package loader

import (
	"strings"
	"testing"
)

func TestSelectBackend(t *testing.T) {
	b, err := Backend("cpu", 1)
	if err != nil || !strings.HasPrefix(b.Name(), "cpu") {
		t.Fatalf("cpu: %v, %v", b, err)
	}
	// Without a usable GPU (the CI machine) cuda falls back to the CPU; with
	// one it is the GPU. Either way it is not an error.
	if b, err := Backend("cuda", 1); err != nil || b == nil {
		t.Fatalf("cuda: %v, %v", b, err)
	}
	if _, err := Backend("tpu", 1); err == nil || !strings.Contains(err.Error(), `"tpu"`) {
		t.Fatalf("tpu: %v, want an error naming the device", err)
	}
}
