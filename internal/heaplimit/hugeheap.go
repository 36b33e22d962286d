package heaplimit

import "sync/atomic"

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
// on (pf serve, a program that embeds pf) must leave it off: khugepaged
// folds the pages the runtime hands back into huge pages again, so its
// resident size climbs to all it ever used: pf serve's peak on the tree of
// a 2 GiB growing file rose from 109 to 132 MiB over pf-bench's job, and
// its served first checkpoint slowed by 12%.
func SetHugeHeap(on bool) { hugeHeap.Store(on) }

// HugeHeap reports SetHugeHeap's choice.
func HugeHeap() bool { return hugeHeap.Load() }
