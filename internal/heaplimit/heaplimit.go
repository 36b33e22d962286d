// Package heaplimit holds a process's Go heap near what it keeps while it
// streams large values.
//
// A put of a large value makes garbage as fast as it writes: bbolt copies
// each early write into page buffers of its own, which are garbage once
// the write commits. The collector lets garbage grow to as much as the
// live heap (GOGC=100), so a put whose buffers keep 60 MiB live peaks
// past 128 MiB of RSS. A fixed soft memory limit under that bounds the
// put, but a capture of 100,000 small files keeps trees and stat caches
// that grow the live heap past any fixed limit, and the collector then
// runs without end. So while puts stream, the limit here moves with the
// heap: after every collection it is what that collection found live
// plus a headroom for each put streaming, and once the last put ends the
// process's own limit is back. CollectAfterWrite (collect.go) collects
// at once after an early write, when that is cheaper than the fresh
// memory the next write would otherwise fault in.
package heaplimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// state is the process's: the soft memory limit is one per process.
var state struct {
	sync.Mutex
	headroom int64 // the sum of the holds' headrooms; zero when none is held
	held     int   // holds
	own      int64 // the process's limit before the first hold
	watching bool  // a sentinel waits for the next collection
}

// Hold bounds the heap to what the last collection found live plus
// headroom (beside the headroom of other holds) until release is called.
// A lower limit the process has of its own (GOMEMLIMIT, or one set
// before the first hold) always wins.
func Hold(headroom int64) (release func()) {
	state.Lock()
	defer state.Unlock()
	if state.held == 0 {
		state.own = debug.SetMemoryLimit(-1)
	}
	state.held++
	state.headroom += headroom
	apply()
	if !state.watching {
		state.watching = true
		watchNextCollection()
	}
	return sync.OnceFunc(func() {
		state.Lock()
		defer state.Unlock()
		state.held--
		state.headroom -= headroom
		apply()
	})
}

// apply sets the limit for the holds; the caller holds state.
func apply() {
	limit := state.own
	if state.held > 0 {
		if live := liveHeap() + state.headroom; live < limit {
			limit = live
		}
	}
	debug.SetMemoryLimit(limit)
}

// A sentinel is garbage from the moment it is made: its finalizer runs
// once a collection has found it so, which is how the limit learns that
// the live heap it was set from is stale. It is larger than 16 bytes, as
// the runtime may never finalize objects of the tiny allocator.
type sentinel struct{ _ [32]byte }

// watchNextCollection sets the limit again after the next collection,
// and goes on watching while holds remain.
func watchNextCollection() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		state.Lock()
		defer state.Unlock()
		if state.held == 0 {
			state.watching = false
			return
		}
		apply()
		watchNextCollection()
	})
}

// liveHeap is the heap the last collection found live: what the process
// keeps, without the garbage it has made since.
func liveHeap() int64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	if v := sample[0].Value.Uint64(); v < math.MaxInt64/2 {
		return int64(v)
	}
	return math.MaxInt64 / 2
}
