//go:build !unix

package cas

// minorFaults is not counted where there is no getrusage.
func minorFaults() (int64, bool) { return 0, false }
