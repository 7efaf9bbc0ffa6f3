package main

import (
	"fmt"
	"log"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/kernels/cuda"
)

// selectBackend returns the backend --device names: "cpu", or "cuda" for the
// first NVIDIA GPU. When the GPU cannot be used (a build without -tags cuda,
// no driver, no device, a device too old) it says why in one log line and
// runs on the CPU instead, so one command line works on every machine.
func selectBackend(device string, threads int) (kernels.Backend, error) {
	switch device {
	case "cpu":
		return kernels.Default(threads), nil
	case "cuda":
		b, err := cuda.New()
		if err != nil {
			log.Printf("%v; running on the CPU", err)
			return kernels.Default(threads), nil
		}
		return b, nil
	}
	return nil, usagef("unknown --device %q (cpu or cuda)", device)
}

// describeBackend names a backend for the load line, with the CPU
// backend's thread count and how it was chosen.
func describeBackend(b kernels.Backend) string {
	if c, ok := b.(*kernels.CPU); ok {
		return fmt.Sprintf("%s with %d threads (%s)", c.Name(), c.Threads(), c.ThreadsWhy())
	}
	return b.Name()
}
