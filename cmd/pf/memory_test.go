package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// pf serve runs commands side by side: the limit counts the bounded ones
// running and is the process's own again once the last ends.
func TestBoundMemory_CountsTheCommandsRunning(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	limit := func() int64 { return debug.SetMemoryLimit(-1) }

	releaseFirst := boundMemory(nil)
	one := limit()
	if one < transferMemoryLimit || one >= 2*transferMemoryLimit {
		t.Fatalf("one command: limit %d, want what the heap held plus %d", one, transferMemoryLimit)
	}
	releaseSecond := boundMemory(nil)
	if two := limit(); two != one+transferMemoryLimit {
		t.Fatalf("two commands: limit %d, want %d", two, one+transferMemoryLimit)
	}
	releaseFirst()
	releaseFirst() // a second call lifts nothing more
	if got := limit(); got != one {
		t.Fatalf("after the first ends: limit %d, want %d", got, one)
	}
	releaseSecond()
	if got := limit(); got != math.MaxInt64 {
		t.Fatalf("after the last ends: limit %d, want the process's own (%d)", got, int64(math.MaxInt64))
	}
}

func TestBoundMemory_KeepsALowerLimit(t *testing.T) {
	const own = 32 << 20 // as GOMEMLIMIT=32MiB would set it
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(own))

	release := boundMemory(nil)
	if got := debug.SetMemoryLimit(-1); got != own {
		t.Fatalf("limit %d while bounded, want the lower one the process had (%d)", got, own)
	}
	release()
	if got := debug.SetMemoryLimit(-1); got != own {
		t.Fatalf("limit %d after, want %d", got, own)
	}
}
