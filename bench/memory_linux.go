package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// PeakRSS returns this process's peak resident memory in bytes (VmHWM in
// /proc/self/status), or 0 if it cannot be read.
func PeakRSS() int64 { return vmHWM("/proc/self/status") }

// ResetPeakRSS restarts the peak from the current resident memory, so
// work done before the benchmark (writing a synthetic model) does not
// count. It is best effort: kernels before Linux 4.0 ignore it.
func ResetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// watchPeakRSS samples the peak resident memory of the running process
// pid every 50 ms until stop is closed, and returns the largest value
// seen. The rusage of a finished child would be simpler but is wrong:
// Linux starts a child's maxrss at its parent's resident size when it
// execs, so every peer would seem to use at least aha's memory. A peak
// reached and released within 50 ms of the end can be missed; the models
// and caches that make the peak stay until the process exits.
func watchPeakRSS(pid int, stop <-chan struct{}) int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	peak := vmHWM(path)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return peak
		case <-tick.C:
			peak = max(peak, vmHWM(path))
		}
	}
}

// vmHWM reads the VmHWM line of a /proc status file ("VmHWM:  1234 kB").
func vmHWM(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
