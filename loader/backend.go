package loader

import (
	"fmt"
	"log"
	"strings"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/kernels/cuda"
)

// Devices lists the devices Backend knows.
func Devices() []string { return []string{"cpu", "cuda"} }

// Backend returns the backend device names: "cpu", or "cuda" for the first
// NVIDIA GPU. When the GPU cannot be used (a build without -tags cuda, no
// driver, no device, a device too old) it says why in one log line and
// runs on the CPU instead, so one command line works on every machine.
// threads sizes the CPU backend (0: one per physical core).
func Backend(device string, threads int) (kernels.Backend, error) {
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
	return nil, fmt.Errorf("unknown device %q (want %s)", device, strings.Join(Devices(), " or "))
}

// DescribeBackend names a backend for the load line, with the CPU
// backend's thread count and how it was chosen.
func DescribeBackend(b kernels.Backend) string {
	if c, ok := b.(*kernels.CPU); ok {
		return fmt.Sprintf("%s with %d threads (%s)", c.Name(), c.Threads(), c.ThreadsWhy())
	}
	return b.Name()
}
