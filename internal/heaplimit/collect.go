package heaplimit

import (
	"runtime"
	"runtime/metrics"
)

// CollectAfterWrite runs a collection now, on the caller's goroutine, if
// the garbage a write has just left is worth more than the collection
// costs, and reports whether it ran one.
//
// A lease's early write leaves as garbage bbolt's page buffers, a copy of
// all it wrote, and the next write asks for as many again. Left to the
// collector's pacing (GOGC=100), the heap grows to twice what it keeps
// before anything is collected, so each write's buffers are memory the
// process has never touched, and on this project's machines each page of
// it costs the kernel about 13 us to fault in: 27 ms for a write of
// 8 MiB. Collected at once, the next write's buffers reuse them. The
// collection's cost is mostly marking the scannable heap (the objects
// with pointers): 1 to 10 ms of CPU after the early writes of a first
// checkpoint of $GOROOT/src (2 to 13 MiB scannable). So it runs only
// while the scannable heap is at most twice the garbage; a process that
// keeps large trees of pointers (pf serve, the 100,000 small files'
// capture past its first write) is left to the pacing. A first
// checkpoint of $GOROOT/src faulted in 23,000 pages against 26,100, of a
// 2 GiB log 32,600 against 70,400.
//
// A process whose collector is off (GOGC=off) is left alone.
func CollectAfterWrite(garbage int64) bool {
	sample := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}, {Name: "/gc/gogc:percent"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 || sample[1].Value.Kind() != metrics.KindUint64 {
		return false
	}
	// GOGC=off reads as -1.
	if gogc := int64(sample[1].Value.Uint64()); gogc <= 0 || sample[0].Value.Uint64() > 2*uint64(max(garbage, 0)) {
		return false
	}
	runtime.GC()
	return true
}
