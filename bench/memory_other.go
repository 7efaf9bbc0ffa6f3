//go:build !linux

package bench

import "os"

// PeakRSS returns 0: peak resident memory is read only on Linux.
func PeakRSS() int64 { return 0 }

// ResetPeakRSS does nothing outside Linux.
func ResetPeakRSS() {}

func childPeakRSS(*os.ProcessState) int64 { return 0 }
