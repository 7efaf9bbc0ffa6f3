package main

import (
	"errors"
	"strings"
	"testing"
)

func TestSelectBackend(t *testing.T) {
	b, err := selectBackend("cpu", 1)
	if err != nil || !strings.HasPrefix(b.Name(), "cpu") {
		t.Fatalf("cpu: %v, %v", b, err)
	}
	// Without a usable GPU (the CI machine) cuda falls back to the CPU; with
	// one it is the GPU. Either way it is not an error.
	if b, err := selectBackend("cuda", 1); err != nil || b == nil {
		t.Fatalf("cuda: %v, %v", b, err)
	}
	var u usageError
	if _, err := selectBackend("tpu", 1); !errors.As(err, &u) {
		t.Fatalf("tpu: %v, want a usage error", err)
	}
}
