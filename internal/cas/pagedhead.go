package cas

import "encoding/binary"

// A chunk too large to pack sits alone in a bucket of its own (bucket.go),
// and bbolt gives that bucket's one leaf whole pages: the part of the last
// page the value leaves empty, 2 KiB a chunk on average, is lost. On 100
// blobs of 4 MiB of random bytes (364 chunks) that was 739 KB, most of
// what the store held beyond the values themselves. So a chunk a put
// stores raw is stored as two: its head, the bytes whose value fills its
// bucket's pages to the last byte, and its tail, the rest (under a page),
// which is small enough to be packed beside other small values (pack.go).
// The blob's chunk list names both, as it would any two chunks: the
// format does not change, and every reader, verify and gc take them as
// they take any chunk (a listing's are smaller still). A chunk a put
// compresses is left whole: its value's size is known only once
// compressed, after its digest is taken.
//
// The cut depends on the chunk's size alone, so the same chunk is always
// cut the same way and its head and tail are shared as the chunk was. It
// aims at pages of headPage bytes whatever page size a store has: a store
// of larger pages (16 KiB on some arm64 systems) loses on the last page
// what it lost before, but the cuts stay the same from one store to the
// next, as dedupe across stores needs. Like chunkAlgorithm, these
// constants must never change. (A blob stored whole by a pf before this
// cut, stored again, shares no chunk with its old copy: the chunks a put
// kept raw are heads and tails now.)
const (
	headPage = 4096
	// ownBucketOverhead is what bbolt adds to a value alone in a bucket's
	// leaf: the page header, the leaf element, the key (valueKey).
	ownBucketOverhead = 16 + 16 + 1
	// tailCost is about what a tail costs the store besides its bytes: its
	// entry in the chunk list, its key, reference and element in chunks/
	// (whose leaves are half full), its place in its pack's members list
	// and its header. A chunk whose last page is emptier than this is not
	// cut.
	tailCost = 256
)

// pagedHead returns how many of a raw chunk's n bytes its head holds:
// their raw value fills its bucket's pages whole. n if the chunk is not
// cut: its last page is nearly full already, or it or its head is small
// enough to be packed.
func pagedHead(n int) int {
	if n <= maxRawPacked {
		return n
	}
	whole := ownBucketOverhead + rawValueLen(n)
	if rem := whole % headPage; rem == 0 || headPage-rem < tailCost {
		return n
	}
	pages := whole / headPage * headPage
	// The head's header is one byte of format and its size as a uvarint,
	// whose length depends on the head's size: the one that agrees.
	for sizeLen := 1; sizeLen <= binary.MaxVarintLen64; sizeLen++ {
		head := pages - ownBucketOverhead - 1 - sizeLen
		if head > maxRawPacked && rawValueLen(head) == 1+sizeLen+head {
			return head
		}
	}
	return n
}

// rawValueLen is the length of the raw value of n bytes.
func rawValueLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return 1 + binary.PutUvarint(b[:], uint64(n)) + n
}
