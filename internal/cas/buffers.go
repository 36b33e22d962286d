package cas

import (
	"runtime"
	"sync"
)

// A bufferList keeps the large buffers that chunked puts go through, for
// the next ones, up to a bound. Not a sync.Pool: a transfer runs under a
// small memory limit (cmd/pf), whose frequent collections empty a pool,
// and each new buffer is then memory the process faults in again. On this
// project's machines a first touch costs more than ten times the copy
// into the buffer: a pull of 1 GiB faulted in three times its size, the
// chunk buffers, the staged values and bbolt's own copy of them, and spent
// half its time doing so.
type bufferList struct {
	mu   sync.Mutex
	free [][]byte
	held int // bytes in free
	max  int // bytes free may hold
}

// bufferStep is the granularity of buffer sizes: a buffer is reused only
// for a request of its own size class, so that what a lease stages (which
// it counts by length) takes little more memory than its length.
const bufferStep = 256 << 10

// get returns an empty buffer with room for n bytes.
func (l *bufferList) get(n int) []byte {
	size := (n + bufferStep - 1) / bufferStep * bufferStep
	l.mu.Lock()
	for i, b := range l.free {
		if cap(b) == size {
			last := len(l.free) - 1
			l.free[i], l.free[last] = l.free[last], nil
			l.free = l.free[:last]
			l.held -= cap(b)
			l.mu.Unlock()
			return b[:0]
		}
	}
	l.mu.Unlock()
	return make([]byte, 0, size)
}

// put gives b back, once nothing refers to its bytes. Past the bound, the
// buffers given back longest ago are left to the collector.
func (l *bufferList) put(b []byte) {
	if cap(b) > l.max {
		return
	}
	l.mu.Lock()
	l.free = append(l.free, b[:0])
	l.held += cap(b)
	for l.held > l.max {
		l.held -= cap(l.free[0])
		l.free[0] = nil
		l.free = l.free[1:]
	}
	l.mu.Unlock()
}

// chunkBuffers hold the chunks of chunked puts: each put takes one for its
// chunker and pipelineBuffers for its pipeline, and chunkedPuts lets one
// run a core.
var chunkBuffers = sync.OnceValue(func() *bufferList {
	return &bufferList{max: runtime.GOMAXPROCS(0) * (1 + pipelineBuffers) * chunkMax}
})

// valueBuffers hold the staged values of chunks stored raw, from their
// put until the transaction that writes them commits: the buffers of the
// batch a lease has written serve the batch it stages next. One batch,
// not two: what the list keeps is live memory, which the collector lets
// the heap double (GOGC) before it runs.
var valueBuffers = sync.OnceValue(func() *bufferList {
	return &bufferList{max: DefaultSpillBytes + chunkMax}
})

// chunkedPuts holds a place for each chunked put that runs, one a core:
// each keeps a core busy, so more at once add only memory (16 MiB each).
var chunkedPuts = sync.OnceValue(func() chan struct{} { return make(chan struct{}, runtime.GOMAXPROCS(0)) })
