package cas

import (
	"encoding/binary"

	"github.com/processfork/pf/manifest"
)

// marks is garbage collection's set of live digests: a Bloom filter whose
// size is fixed before marking begins, so that collecting a store of any
// size needs bounded memory. It can only err one way: a digest it never
// saw may test present (about 1 in 100 at the sizes chosen), and gc then
// keeps garbage a while longer; a live digest always tests present.
//
// Digests are SHA-256 outputs, uniformly random, so their own bits serve
// as the filter's hash functions: no hashing library is needed.
type marks struct {
	bits []uint64
	mask uint64 // len(bits)*64 - 1; the size is a power of two
}

const (
	marksHashes  = 7
	marksMinBits = 1 << 20
	marksMaxBits = 1 << 31 // 256 MiB
	bitsPerEntry = 10      // with 7 hashes: about 1% false positives
)

// newMarks sizes a filter for about n digests.
func newMarks(n int64) *marks {
	size := uint64(marksMinBits)
	for size < uint64(n)*bitsPerEntry && size < marksMaxBits {
		size <<= 1
	}
	return &marks{bits: make([]uint64, size/64), mask: size - 1}
}

func (m *marks) add(d manifest.Digest) {
	for i := 0; i < marksHashes; i++ {
		bit := m.bit(d, i)
		m.bits[bit/64] |= 1 << (bit % 64)
	}
}

func (m *marks) has(d manifest.Digest) bool {
	for i := 0; i < marksHashes; i++ {
		bit := m.bit(d, i)
		if m.bits[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// bit is the i-th position of d: its bytes 4i to 4i+3, masked to the
// filter's size (at most 2^31 bits), so the 7 positions come from
// separate stretches of d's random bits.
func (m *marks) bit(d manifest.Digest, i int) uint64 {
	return uint64(binary.LittleEndian.Uint32(d[4*i:])) & m.mask
}
