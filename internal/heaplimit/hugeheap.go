package heaplimit

import (
	"sync"
	"sync/atomic"
)

// hugeHeap is the process's choice of SetHugeHeap.
var hugeHeap atomic.Bool

// SetHugeHeap says whether the process's stores may advise the heap
// memory they fill as huge pages (MADV_HUGEPAGE, where the kernel gives
// them only to memory that asks, as on this project's machines): off
// unless set.
//
// A process that runs one command and exits takes nearly all its memory
// fresh, and each page of 4 KiB costs the kernel about 13 us to fault in
// here; a huge page faults in 2 MiB at once: a first checkpoint of
// $GOROOT/src faulted in 9,000 pages against 20,000. A process that runs
// on (pf serve, a program that embeds pf) must not leave it on:
// khugepaged folds the pages the runtime hands back into huge pages again,
// so its resident size climbs to all it ever used: pf serve's peak on the
// tree of a 2 GiB growing file rose from 109 to 132 MiB over pf-bench's
// job, and its served first checkpoint slowed by 12%. It holds it for a
// command's span instead (HoldHugeHeap). Off takes back the advice given.
func SetHugeHeap(on bool) {
	hugeHeap.Store(on)
	if !on {
		takeBackAdvice()
	}
}

// HugeHeap reports SetHugeHeap's choice.
func HugeHeap() bool { return hugeHeap.Load() }

// holds counts the HoldHugeHeap calls not yet released.
var holds struct {
	sync.Mutex
	n int
}

// HoldHugeHeap lets a process that runs on (pf serve) take huge pages for
// the span of one command, as a process that runs one command does
// (SetHugeHeap(true)), until release; once the last hold is released, the
// heap is back in pages of 4 KiB: the advice is taken back from all the
// heap's memory (MADV_NOHUGEPAGE), so that khugepaged folds nothing the
// runtime hands back into huge pages again, and the memory the runtime
// returns between commands splits the huge pages it lies in. The advice
// starts with a store's first new buffer (AdviseHeap): a command that
// fills no memory takes none. A served first checkpoint of 100,000 small
// files faulted in about 25,000 pages against 78,000 in pages of 4 KiB,
// its peak 357 MB against 345; of the 2 GiB growing file, 27,000 against
// 37,000, its peak about 100 MB against 86; the turns after a served
// first checkpoint of $GOROOT/src, about 210 pages a turn against 310.
func HoldHugeHeap() (release func()) {
	holds.Lock()
	defer holds.Unlock()
	holds.n++
	SetHugeHeap(true)
	return sync.OnceFunc(func() {
		holds.Lock()
		defer holds.Unlock()
		if holds.n--; holds.n == 0 {
			SetHugeHeap(false)
		}
	})
}
