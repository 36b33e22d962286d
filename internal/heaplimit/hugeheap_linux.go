package heaplimit

import (
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Go heap on 64-bit Linux lies in arenas of heapArena bytes, one
// after another upward from a base the runtime picks at random, mapped
// as the heap grows. heapSpan bounds the address space advised: far more
// than a pf command's heap ever takes.
const (
	heapArena = 64 << 20
	heapSpan  = 4 << 30
)

// adviseEvery is how often the heap is advised again: it grows by a few
// MiB at a time, mapped anew each time (a new mapping drops the advice of
// the address space it takes), and a first snapshot fills what it maps at
// about 200 MB/s, so memory mapped is advised before most of it is
// touched.
const adviseEvery = 5 * time.Millisecond

// adviser is whether the goroutine of AdviseHeap runs.
var adviser struct {
	sync.Mutex
	running bool
}

// AdviseHeap advises the heap's memory as huge pages (MADV_HUGEPAGE), all
// the runtime has mapped of it around near, a new buffer, and keeps
// advising it every adviseEvery until SetHugeHeap(false); in a process
// that chose it (SetHugeHeap) only, and from its first call, made by a
// store about to fill memory: a command that fills none (pf --version)
// takes no huge pages it would touch a few bytes of. Memory the runtime
// maps is advised only once it is mapped (madvise skips the address space
// not mapped yet, and a mapping made after takes none of the advice), and
// most of what a command faults in is memory the heap takes as it grows:
// bbolt's page buffers of each commit, a walk's entries, a tree's
// encoding, the stat cache's records, staged values. pf snapshot
// --fs-root of 100,000 small files faulted in about 58,000 pages with the
// heap advised once, around the first buffer, and 19,000 with this.
func AdviseHeap(near unsafe.Pointer) {
	if !HugeHeap() {
		return
	}
	adviser.Lock()
	defer adviser.Unlock()
	if adviser.running {
		return
	}
	adviser.running = true
	// From the arena before near's: the heap's first arenas, below a
	// buffer made once the heap grew past one.
	base := max(uintptr(near)&^(heapArena-1), heapArena) - heapArena
	advise := func() {
		// Advice only: a range with addresses not mapped is advised
		// where it is mapped (ENOMEM, ignored).
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, base, heapSpan, unix.MADV_HUGEPAGE)
	}
	advise()
	go func() {
		for {
			time.Sleep(adviseEvery)
			if !stillAdvising() {
				return
			}
			advise()
		}
	}()
}

// stillAdvising reports whether AdviseHeap's goroutine goes on, and notes
// that it stops once SetHugeHeap(false) is called.
func stillAdvising() bool {
	adviser.Lock()
	defer adviser.Unlock()
	if !HugeHeap() {
		adviser.running = false
	}
	return adviser.running
}
