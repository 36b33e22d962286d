//go:build !unix

package cas

// preadMin is where unix systems read a value with pread instead (the
// tests make values past it on every system).
const preadMin = 64 << 10

// storeFile is empty where reads copy values out of the map.
type storeFile struct{}

// appendMapped appends v, a value inside a read transaction's memory
// map, to dst.
func (s *Bolt) appendMapped(dst, v []byte, base, mapped uintptr) []byte {
	return append(dst, v...)
}

// copyMapped copies v, a value or a part of one inside a read
// transaction's memory map, to dst, which is as long.
func (s *Bolt) copyMapped(dst, v []byte, head bool, base, mapped uintptr) {
	copy(dst, v)
}

// Close does nothing here.
func (s *Bolt) Close() error { return nil }
