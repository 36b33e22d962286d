//go:build unix

package cas

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

var pageSize = uintptr(unix.Getpagesize())

// dropMapped tells the kernel this process is done with the file pages
// under v, a value read from the store's memory map and already copied
// out. Without it, streaming a large blob maps every page of it into the
// process, and its resident memory grows with the blob (the pages stay in
// the page cache either way; only this process's mapping of them goes).
// It does nothing unless v lies inside the map [base, base+mapped): heap
// memory must never be handed to MADV_DONTNEED.
func dropMapped(v []byte, base, mapped uintptr) {
	if len(v) == 0 || base == 0 {
		return
	}
	p := unsafe.Pointer(&v[0])
	if start := uintptr(p); start < base || start+uintptr(len(v)) > base+mapped {
		return
	}
	lead := uintptr(p) & (pageSize - 1)
	span := (lead + uintptr(len(v)) + pageSize - 1) &^ (pageSize - 1)
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, -int(lead))), span), unix.MADV_DONTNEED)
}
