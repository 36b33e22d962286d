// Package cas stores blobs by the SHA-256 of their bytes: put and get,
// compressed with zstd, large blobs split into content-defined chunks, every
// read verified against its digest.
//
// # Values
//
// A value in blobs/ or chunks/ is one byte of format, the blob's logical
// (uncompressed) size as a uvarint, then the payload:
//
//	0x00 raw      the bytes themselves
//	0x01 zstd     one zstd frame that decodes to exactly the logical size
//	0x02 chunks   (blobs/ only) repeated {32-byte chunk digest, uvarint size};
//	              the chunks live in chunks/ and are raw or zstd values
//
// Blobs up to InlineMax (1 MiB) are one value. Larger ones are cut by a
// Rabin fingerprint (github.com/restic/chunker) into chunks of 512 KiB to
// 4 MiB, so an edit inside a large blob stores only the chunks around it
// again. A get streams one chunk at a time; a put holds at most three,
// as the chunker, the chunks' hashes and the whole blob's hash each run on
// a goroutine of their own.
//
// # Packs
//
// A value of up to 256 KiB is packed: the small values one transaction
// writes lie side by side in a pack of about 4 MiB, one bbolt value, and
// blobs/ or chunks/ keeps a reference to where in which pack (pack.go says
// why). A pack is never changed after it is written; packlive/ counts
// what still refers to it, a pack goes with its last value, and gc
// rewrites packs that deletes left less than half live (RepackSparse).
// Larger values each have a bucket of their own (bucket.go).
//
// # Leases
//
// Writes go through a Lease: what it puts is staged in memory and written
// in the transaction that commits it, so a snapshot costs one commit. A
// lease that stages more than SpillBytes writes the excess early, marked in
// provisional/ (one mark per pack, or per value too large to pack); those
// values become permanent only when the lease commits. An early pack is
// found by no one before that: its references are written by the commit,
// once, rather than at each early write (pack.go, earlyPack, says why), so
// a lease that puts the same bytes meanwhile stores them again, and the
// second of the two to commit keeps them only as dead bytes.
// A lease that is aborted deletes what it alone wrote, and a store opened
// after a crash deletes every provisional value. While a lease holds a
// digest (it put it, or found it already stored), nothing deletes it.
package cas
