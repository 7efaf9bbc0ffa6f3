package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// PeakRSS returns this process's peak resident memory in bytes (VmHWM in
// /proc/self/status), or 0 if it cannot be read.
func PeakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			// "VmHWM:	  123456 kB"
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

// ResetPeakRSS restarts the peak from the current resident memory, so
// work done before the benchmark (writing a synthetic model) does not
// count. It is best effort: kernels before Linux 4.0 ignore it.
func ResetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// childPeakRSS is the peak resident memory of a finished child process.
func childPeakRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10 // kilobytes on Linux
	}
	return 0
}
