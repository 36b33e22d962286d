//go:build !linux

package cas

// hugePageBuffer returns an empty buffer of size bytes for a bufferList
// (hugepages_linux.go advises the large ones as huge pages).
func hugePageBuffer(size int) []byte { return make([]byte, 0, size) }

// adviseHeapAround does nothing here (hugepages_linux.go).
func adviseHeapAround([]byte) {}
