package cas

import "unsafe"

// uninitializedBytes returns n bytes of memory from the heap, not cleared:
// for a result every byte of which is written before it is returned.
// make clears them first, which for a 4 MiB Get of a chunked blob was a
// sixth of its time, on one core, before the cores could start: the
// chunks are read into the result from the store file by several cores
// at once, so no append can stand in for the clearing. The memory is
// the runtime's, like any other, and the collector frees it.
func uninitializedBytes(n int) []byte {
	if n == 0 || n > maxUninitialized {
		// make refuses a size past what the heap can give with a panic
		// it can recover from; the allocator would end the process.
		return make([]byte, n)
	}
	return unsafe.Slice((*byte)(mallocgc(uintptr(n), nil, false)), n)
}

// maxUninitialized is below the allocator's limit on 64-bit and 32-bit
// systems alike (runtime.maxAlloc).
const maxUninitialized = 1<<31 - 1

// mallocgc is the runtime's allocator, which keeps this signature for the
// packages that reach it (go.dev/issue/67401: github.com/cockroachdb/pebble
// allocates its uncleared buffers the same way). A nil type is memory with
// no pointers, which the collector does not scan.
//
//go:linkname mallocgc runtime.mallocgc
func mallocgc(size uintptr, typ unsafe.Pointer, needzero bool) unsafe.Pointer
