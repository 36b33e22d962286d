package main

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/urfave/cli/v2"
)

// transferMemoryLimit is the Go heap a transfer keeps to. A transfer
// streams through buffers it reuses: a pull of large blobs holds about
// 60 MiB (the chunkers and the chunks staged and being written, the zstd
// decoders of the blobs moving at once), and bbolt's copy of each write
// is the garbage. Without a limit the collector would let the heap grow
// to twice what it holds (GOGC) and a 2 GiB blob's pull would pass the
// 128 MiB of RSS a transfer must stay under; with a limit close to what
// it holds, the collector runs without end and gives memory back to the
// system that the next write faults in again (a 32 MiB limit made a pull
// of 1 GiB four times slower). At this limit, a 2 GiB blob's pull peaks
// near 110 MiB of RSS (TestTransfer_LargeBlob_BoundedMemory).
const transferMemoryLimit = 96 << 20

// A memoryBound is the process's soft memory limit while bounded commands
// run. pf serve runs the commands of many processes side by side in one
// heap, which also holds what the server keeps between commands (the
// watched trees, the stat caches), so the limit is counted rather than
// set and put back by each command: while n bounded commands run it is
// the live heap when the first began plus n times transferMemoryLimit,
// and once the last ends it is the process's own again. A lower limit
// the process was given (GOMEMLIMIT) always wins.
type memoryBound struct {
	sync.Mutex
	held int   // bounded commands running
	base int64 // the live heap when the first of them began
	own  int64 // the process's limit before the first of them
}

// processMemory is this process's one bound.
var processMemory memoryBound

// boundMemory bounds the heap for a transfer (or a snapshot of a
// workspace, whose large files stream the same way) and returns what
// lifts the bound.
func boundMemory(*cli.Context) (release func()) {
	b := &processMemory
	b.Lock()
	defer b.Unlock()
	if b.held == 0 {
		b.own = debug.SetMemoryLimit(-1)
		b.base = liveHeap()
	}
	b.held++
	b.apply()
	return sync.OnceFunc(func() {
		b.Lock()
		defer b.Unlock()
		b.held--
		b.apply()
	})
}

// apply sets the limit for the commands held; the caller holds b.
func (b *memoryBound) apply() {
	limit := b.base + int64(b.held)*transferMemoryLimit
	if b.held == 0 || b.own <= limit {
		limit = b.own
	}
	debug.SetMemoryLimit(limit)
}

// liveHeap is the heap the last garbage collection found live: what the
// process keeps, without the garbage it has made since.
func liveHeap() int64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(sample[0].Value.Uint64())
}
