//go:build unix

package cas

import "syscall"

// minorFaults is how many page faults this process has taken that read
// nothing from disk (a page of the heap or of the store's map mapped in),
// and whether the system told it: on this project's machines each costs
// about 13 µs, so a benchmark of large reads counts them.
func minorFaults() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return int64(ru.Minflt), true
}
