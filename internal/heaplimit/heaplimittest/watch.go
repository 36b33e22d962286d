// Package heaplimittest helps tests see whether code under test bounds the
// heap through package heaplimit.
package heaplimittest

import (
	"math"
	"runtime"
	"runtime/debug"
)

// Lowered runs fn while a goroutine reads the soft memory limit over and
// over, and says whether it ever saw it below MaxInt64. The caller lifts
// the process's limit to MaxInt64 first, so that any hold shows.
func Lowered(fn func()) bool {
	done := make(chan struct{})
	seen := make(chan bool)
	go func() {
		lowered := false
		for {
			if debug.SetMemoryLimit(-1) != math.MaxInt64 {
				lowered = true
			}
			select {
			case <-done:
				seen <- lowered
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	fn()
	close(done)
	return <-seen
}
