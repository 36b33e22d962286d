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
//	0x01 zstd     one zstd frame that decodes to exactly the logical size;
//	              since schema 12 the frame may name a dictionary in
//	              dicts/, which compaction trains on the store (dict.go)
//	0x02 chunks   (blobs/ only) repeated {32-byte chunk digest, uvarint size};
//	              the chunks live in chunks/ and are raw or zstd values
//	0x03 manifest (manifests/ only, since schema 8) one zstd frame,
//	              compressed against the manifest dictionary, of the
//	              manifest with each "sha256:<64 hex>" packed into a zero
//	              byte and the digest's 32 bytes (manifest.go)
//
// A put keeps a value raw when zstd would not pay: bytes that look random,
// and, at zstd's fastest level (the default), values under 2 KiB, whose
// cost is mostly zstd's per-value tables (compress.go); compaction
// compresses those later, against the store's dictionary.
//
// The root package keeps manifests in manifests/ in the same value format
// (EncodeManifest, DecodeManifest).
//
// Blobs up to InlineMax (1 MiB) are one value. Larger ones are cut by
// FastCDC (github.com/PlakarKorp/go-cdc-chunkers, its fastcdc-v1.0.0) into
// chunks of 512 KiB to 4 MiB, so an edit inside a large blob stores only
// the chunks around it again. (Blobs an earlier pf stored were cut by a
// Rabin fingerprint: their chunks read as any others.) A chunk a put
// keeps raw is stored as two (in schema 13 as it was: a chunk list names
// chunks of any size up to 4 MiB, and every pf reads them): its head,
// whose value fills the pages of its bucket to the last byte, and its
// tail, under 4 KiB, packed with the small values (pagedhead.go says
// why). A listing that later snapshots store again with a few entries
// changed, a tree of files, is cut smaller (PutListing: 4 to 64 KiB, from
// 16 KiB up), so that each snapshot stores again only the chunks around
// its changes.
//
// A read proves a chunked blob by its chunks, each against its own
// digest: a get reads them on every core at once, a stream's WriteTo
// reads ahead on every core and hands them over in order. The chunk list
// binding them to the blob's digest is trusted: only a put writes one,
// cut from the bytes it hashed, and a flipped byte in it names a chunk
// that is not there or sizes that do not add up. Verify (pf verify
// --deep) hashes every blob whole. A put holds at most three chunks, as
// the chunker, the chunks' hashes and the whole blob's hash each run on a
// goroutine of their own.
//
// # Packs
//
// A value of up to 256 KiB is packed: the small values one transaction
// writes lie side by side in a pack of about 4 MiB, one bbolt value, and
// blobs/ or chunks/ keeps a reference to where in which pack (pack.go says
// why). A pack is never changed after it is written; packlive/ counts
// what still refers to it, a pack goes with its last value, and gc
// rewrites packs that deletes left less than half live (RepackSparse).
// Larger values each have a bucket of their own (bucket.go); a raw
// chunk's head fills its bucket's pages whole.
//
// # Files
//
// lease.go is a lease's life (put, commit, abort); stage.go keeps what it
// puts in memory and writes the excess early; chunked.go cuts a large
// blob into chunks as it is read, and pagedhead.go where a raw chunk's
// head ends; holds.go keeps held digests from being deleted; write.go
// writes values and keeps the counters; pack.go is the pack format and
// earlypack.go the packs written before their commit; provisional.go the
// marks of early writes and settling; store.go, read.go, getchunked.go
// and tx.go read values back; collect.go deletes what the caller no
// longer uses, with marks.go its set of what is kept, and track.go what
// commits settle meanwhile; repack.go rewrites sparse packs; check.go and
// packcheck.go check values and packs for verify.
//
// # Leases
//
// Writes go through a Lease: what it puts is staged in memory and written
// in the transaction that commits it, so a snapshot costs one commit. A
// lease that stages more than SpillBytes writes the excess early, marked in
// provisional/ (one mark per pack, or per value too large to pack); those
// values become permanent only when the lease commits. An early pack is
// found by no one before that: its references are written by the commit,
// once, rather than at each early write (earlypack.go says why), so
// a lease that puts the same bytes meanwhile stores them again, and the
// second of the two to commit keeps them only as dead bytes.
// A lease that is aborted deletes what it alone wrote, and a store opened
// after a crash deletes every provisional value. While a lease holds a
// digest (it put it, or found it already stored), nothing deletes it.
//
// # Words
//
// Provisional: a value that a lease wrote early and has not committed,
// marked in provisional/ (by its own mark, or its pack's). A lease that
// fails deletes it; so does the next read-write open after a crash.
//
// Settled: stored for good. A blob is settled when it is in blobs/ and
// is not provisional; a commit settles every blob its image reaches
// (Settle), with their chunks, even a blob another lease wrote early and
// may still abort. Only a collection deletes a settled value, and only
// one that no image reaches.
//
// Held: named by a live lease, which put the digest or found it stored
// (holds.go). Nothing deletes a held digest: not another lease's abort,
// not a collection.
//
// Tracking: the state of the store while a collection runs (Collect). A
// collection decides what is live from one read of the store; a commit
// after that read is not in it. So from before that read until the sweep
// ends, every digest that a commit settles (Settle, and a lease's commit
// for what it holds) is recorded as touched (track.go), and the sweep
// keeps whatever is touched or held.
//
// # Collection
//
// The caller decides what is in use, cas what that means for its values,
// as restic's prune does: Collect takes the blobs the caller's images and
// pins reach, marks the chunks those blobs list, and deletes the rest in
// bounded batches, then rewrites sparse packs. CheckTx is the other half
// of verify: it checks cas's own values and packs, and returns their
// totals for the stats counters.
package cas
