package cas

import (
	"runtime"
	"sync"
)

// A bufferList keeps the large buffers that puts go through, for the
// next ones, up to a bound. Not a sync.Pool: a transfer runs under a
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
	// huge lists buffers of one size, kept as long as the process runs:
	// those of a huge page or more are made on huge pages
	// (hugePageBuffer). A list of many sizes (valueBuffers) makes and
	// drops buffers as sizes change, and each made on huge pages costs a
	// huge page more of heap, which the runtime zeroes, faulting it in
	// again, when it reuses that memory.
	huge bool
}

// bufferStep is the granularity of buffer sizes. A request takes the
// smallest free buffer with room for it, if that buffer is less than
// twice the size asked for: staging counts a buffer by its capacity, so a
// larger buffer only makes a lease write a little sooner, while a miss
// costs a new buffer that the process faults in.
const bufferStep = 256 << 10

// get returns an empty buffer with room for n bytes.
func (l *bufferList) get(n int) []byte {
	size := (n + bufferStep - 1) / bufferStep * bufferStep
	l.mu.Lock()
	best := -1
	for i, b := range l.free {
		if c := cap(b); c >= size && c < 2*size && (best < 0 || c < cap(l.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := l.free[best]
		last := len(l.free) - 1
		l.free[best], l.free[last] = l.free[last], nil
		l.free = l.free[:last]
		l.held -= cap(b)
		l.mu.Unlock()
		return b[:0]
	}
	l.mu.Unlock()
	if l.huge {
		return hugePageBuffer(size)
	}
	b := make([]byte, 0, size)
	adviseHeapAround(b)
	return b
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

// chunkBuffers hold the chunkers' buffers of chunked puts: chunkedPuts
// lets one run a core.
var chunkBuffers = sync.OnceValue(func() *bufferList {
	return &bufferList{max: runtime.GOMAXPROCS(0) * chunkerBuffer, huge: true}
})

// valueBuffers hold the raw values of chunks, from the chunk's cut until
// the transaction that writes its value commits: the buffers of the batch
// a lease has written serve the chunks it cuts next. One batch, not two:
// what the list keeps is live memory.
var valueBuffers = sync.OnceValue(func() *bufferList {
	return &bufferList{max: DefaultSpillBytes + chunkMax}
})

// chunkedPuts holds a place for each chunked put that runs, one a core:
// each keeps a core busy, so more at once add only memory (20 MiB each).
var chunkedPuts = sync.OnceValue(func() chan struct{} { return make(chan struct{}, runtime.GOMAXPROCS(0)) })

// readBuffers hold the chunk buffers of streaming reads (chunkReader), a
// chunk each: a push or an export reads several blobs at once.
var readBuffers = sync.OnceValue(func() *bufferList {
	return &bufferList{max: 2 * runtime.GOMAXPROCS(0) * chunkMax}
})

// bufferLists are every list of buffers kept for the next puts and reads.
func bufferLists() []*bufferList {
	return []*bufferList{chunkBuffers(), valueBuffers(), readBuffers(), headBuffers(), packBuffers()}
}

// ReleaseBuffers drops the buffers every list keeps, to the collector, if
// they hold more than keep bytes in all, and returns how many bytes it
// dropped (0 if none).
func ReleaseBuffers(keep int) int {
	held := 0
	for _, l := range bufferLists() {
		l.mu.Lock()
		held += l.held
		l.mu.Unlock()
	}
	if held <= keep {
		return 0
	}
	dropped := 0
	for _, l := range bufferLists() {
		l.mu.Lock()
		dropped += l.held
		clear(l.free)
		l.free, l.held = l.free[:0], 0
		l.mu.Unlock()
	}
	return dropped
}
