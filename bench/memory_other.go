//go:build !linux

package bench

// PeakRSS returns 0: peak resident memory is read only on Linux.
func PeakRSS() int64 { return 0 }

// ResetPeakRSS does nothing outside Linux.
func ResetPeakRSS() {}

// watchPeakRSS waits for stop and returns 0: only Linux is watched.
func watchPeakRSS(pid int, stop <-chan struct{}) int64 {
	<-stop
	return 0
}
