package cas

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/processfork/pf/internal/heaplimit"
)

// hugePage is the size of a transparent huge page on linux/amd64 and
// most arm64 kernels. On a kernel whose huge page is another size, the
// advice below covers fewer or no huge pages, and the buffers work as any
// other.
const hugePage = 2 << 20

// hugePageBuffer returns an empty buffer of size bytes for a bufferList of
// one size (bufferList.huge). One of a huge page or more starts on a huge
// page's boundary, and its whole huge pages are advised to the kernel as
// such (MADV_HUGEPAGE; the machines' default, "madvise", gives them to no
// memory unasked, and the Go runtime asks for none): the first touch of
// each then faults in 2 MiB at once, where it faulted in 512 pages of 4
// KiB, each about 13 us on this project's machines, most of it the fault's
// own cost, not the zeroing. A pack's buffer (4.5 MiB), filled to its
// target of 4 MiB and a little more, faulted in over 1,024 pages; it now
// faults in 2 huge pages and the few small ones past them.
//
// The buffer is carved from an allocation a huge page larger, so that it
// can start on a boundary: the lead and tail around it are never touched
// by pf, so they cost address space and the collector's count, not
// resident memory. The advice stays with the addresses: the heap reuses
// them once the buffer is garbage, for other large objects (bbolt's page
// buffers of a commit).
func hugePageBuffer(size int) []byte {
	if size < hugePage {
		return make([]byte, 0, size)
	}
	raw := make([]byte, size+hugePage)
	lead := int(-uintptr(unsafe.Pointer(&raw[0])) & (hugePage - 1))
	b := raw[lead : lead+size : lead+size]
	// Advice only: a kernel without huge pages refuses it, and the
	// buffer is as good.
	_ = unix.Madvise(b[:size&^(hugePage-1)], unix.MADV_HUGEPAGE)
	return b[:0]
}

// adviseHeapAround advises the heap's memory around b, a new buffer, as
// huge pages, and the memory the heap maps as it grows after
// (heaplimit.AdviseHeap): b's and what the heap places beside it, bbolt's
// page buffers of a commit, the zstd encoders' histories, the values
// staged. Most of what a first snapshot faults in is such memory, taken
// fresh as the heap grows, and the runtime asks for no huge pages. The
// advice is only that: the runtime still frees, reuses and returns the
// memory as it would (returned in pieces, a huge page is split). A pf
// snapshot --fs-root of a $GOROOT/src copy faulted in about 14,800 pages;
// with the arenas around b advised, about 9,300, its peak RSS 12 MB more.
// Only in a process that chose it (heaplimit.SetHugeHeap: one that exits
// after its command) or for a command's span (heaplimit.HoldHugeHeap: pf
// serve), as a long-running one would keep its peak resident.
func adviseHeapAround(b []byte) {
	if cap(b) == 0 {
		return
	}
	heaplimit.AdviseHeap(unsafe.Pointer(unsafe.SliceData(b)))
}
