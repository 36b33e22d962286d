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

// adviser is the advice AdviseHeap gives.
var adviser struct {
	sync.Mutex
	running bool    // its goroutine runs
	gen     uint64  // counts the goroutines started: a stale one stops
	base    uintptr // the start of the span advised
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
	adviser.Lock()
	defer adviser.Unlock()
	// Under the lock: SetHugeHeap(false) takes the advice back under it,
	// and no advice may follow.
	if !HugeHeap() || adviser.running {
		return
	}
	adviser.running = true
	adviser.gen++
	gen := adviser.gen
	// From the arena before near's: the heap's first arenas, below a
	// buffer made once the heap grew past one.
	adviser.base = max(uintptr(near)&^(heapArena-1), heapArena) - heapArena
	adviseSpan(unix.MADV_HUGEPAGE)
	go func() {
		for {
			time.Sleep(adviseEvery)
			adviser.Lock()
			if !adviser.running || adviser.gen != gen {
				adviser.Unlock()
				return
			}
			adviseSpan(unix.MADV_HUGEPAGE)
			adviser.Unlock()
		}
	}()
}

// takeBackAdvice advises the span AdviseHeap advised as pages of 4 KiB
// (MADV_NOHUGEPAGE), if it advised any, and stops its goroutine: called
// once HugeHeap() is false.
func takeBackAdvice() {
	adviser.Lock()
	defer adviser.Unlock()
	if adviser.running {
		adviser.running = false
		adviseSpan(unix.MADV_NOHUGEPAGE)
	}
}

// adviseSpan gives advice to the span of the heap from adviser.base;
// under adviser's lock.
func adviseSpan(advice uintptr) {
	// Advice only: a range with addresses not mapped is advised where it
	// is mapped (ENOMEM, ignored).
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, adviser.base, heapSpan, advice)
}
