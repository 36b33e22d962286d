package heaplimit_test

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/processfork/pf/internal/heaplimit"
)

const mib = 1 << 20

// limit is the process's soft memory limit, unchanged.
func limit() int64 { return debug.SetMemoryLimit(-1) }

// withOwnLimit runs the test under a limit of its own and puts the
// process's back after.
func withOwnLimit(t *testing.T, own int64) {
	old := debug.SetMemoryLimit(own)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
}

func TestHold_ReleaseGivesTheProcessItsLimitBack(t *testing.T) {
	withOwnLimit(t, math.MaxInt64)
	release := heaplimit.Hold(48 * mib)
	if got := limit(); got == math.MaxInt64 || got < 48*mib {
		t.Fatalf("limit while held = %d, want the live heap plus 48 MiB", got)
	}
	release()
	release() // a second call does nothing
	if got := limit(); got != math.MaxInt64 {
		t.Fatalf("limit after release = %d, want the process's own", got)
	}
}

func TestHold_HoldsAddTheirHeadroom(t *testing.T) {
	withOwnLimit(t, math.MaxInt64)
	runtime.GC()
	first := heaplimit.Hold(48 * mib)
	one := limit()
	second := heaplimit.Hold(48 * mib)
	two := limit()
	if two-one < 40*mib { // the live heap may move a little between them
		t.Errorf("two holds: limit %d, one hold: %d; want 48 MiB more", two, one)
	}
	second()
	first()
	if got := limit(); got != math.MaxInt64 {
		t.Fatalf("limit after both released = %d, want the process's own", got)
	}
}

func TestHold_LowerOwnLimitWins(t *testing.T) {
	withOwnLimit(t, 8*mib)
	release := heaplimit.Hold(48 * mib)
	defer release()
	if got := limit(); got != 8*mib {
		t.Fatalf("limit = %d, want the process's own 8 MiB", got)
	}
}

// A capture of many small files grows the heap it keeps while a large
// file streams: the limit must follow it after the next collection, or
// the collector would run without end.
func TestHold_FollowsTheLiveHeapAfterACollection(t *testing.T) {
	withOwnLimit(t, math.MaxInt64)
	runtime.GC()
	release := heaplimit.Hold(48 * mib)
	defer release()
	before := limit()
	kept := make([][]byte, 64)
	for i := range kept {
		kept[i] = make([]byte, mib)
	}
	deadline := time.Now().Add(10 * time.Second)
	for limit() < before+48*mib {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d after keeping 64 MiB more, was %d: it did not follow the live heap", limit(), before)
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the finalizer runs on a goroutine of its own
	}
	runtime.KeepAlive(kept)
}
