package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/heaplimit"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// ErrLeaseDone is returned by a lease used after Commit or Abort.
var ErrLeaseDone = errors.New("lease already committed or aborted")

// A Lease groups the writes of one snapshot (or one put): they become
// permanent together when it commits, and disappear if it is aborted.
// A Lease is safe for concurrent use.
type Lease struct {
	s *Bolt

	mu     sync.Mutex
	held   map[valueRef]struct{}
	sizes  map[manifest.Digest]int64 // blobs put and found stored or staged
	pack   *pack                     // small values being gathered
	staged spillBatch                // the rest of what is not written yet
	done   bool

	// empty notes the buckets, of blobs [0] and of chunks [1],
	// that a look found empty: the lease puts into them with no look at
	// the store for each value, as a first snapshot into a new store
	// would look once a file for nothing. What another lease stores
	// there meanwhile is then staged again, and not written twice: a
	// write looks first (writeValues, commitEarly).
	empty [2]bool

	// What early writes stored, each marked provisional until the commit
	// deletes its mark; and the packs they wrote, to which the commit adds
	// the references.
	wrote []valueRef
	early []earlyPack

	// One early write at a time runs in the background while puts go
	// on hashing and compressing; a second waits for it. spillErr is the
	// first early write's failure, reported by the next put or Commit.
	spilling chan struct{}
	spillErr error

	// taken is how many of s.holds' holds are the lease's (under
	// s.holds.mu): len(held) once no put is taking one.
	taken int
}

// NewLease starts a lease. It holds nothing until something is put.
func (s *Bolt) NewLease() *Lease { return s.NewLeaseSized(0) }

// leaseSizedMax bounds NewLeaseSized's room: past it the maps grow as
// they fill, which is a small part of putting that many blobs.
const leaseSizedMax = 4096

// NewLeaseSized starts a lease with room for about n blobs, what the
// caller expects it to hold (Held of the lease of its last snapshot):
// the lease's maps are then made once, where growing them entry by entry
// was a sixth of what a warm snapshot of the fixture allocated.
func (s *Bolt) NewLeaseSized(n int) *Lease {
	n = min(max(n, 0), leaseSizedMax)
	return &Lease{
		s: s, held: make(map[valueRef]struct{}, n), sizes: make(map[manifest.Digest]int64, n),
		spilling: make(chan struct{}, 1),
	}
}

// Held is how many values the lease holds: the blobs and chunks it put or
// found stored.
func (l *Lease) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}

// PutBytes stages b under the lease and returns its digest.
func (l *Lease) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	if len(b) > InlineMax {
		// A large blob the store has (a tree that did not change) is
		// found by its digest without cutting, hashing and compressing
		// its chunks again.
		d := manifest.Sum(b)
		if stored, err := l.holdIfStored(d); err != nil || stored {
			if stored {
				l.known(d, int64(len(b)))
			}
			return d, err
		}
		return l.putChunked(ctx, bytes.NewReader(b), largeCuts, false, &d)
	}
	d := manifest.Sum(b)
	if err := l.putValue(ctx, db.BucketBlobs, pendingValue{digest: d, data: b}); err != nil {
		return d, err
	}
	l.known(d, int64(len(b)))
	return d, nil
}

// PutListing stages b, a listing that later snapshots store again with a
// few entries changed (a tree of files), cut into small chunks
// (listingCuts) so that what the next one shares with it is stored once.
// A listing of up to two such chunks is one value, as PutBytes stores it.
// The store keeps b, which the caller must not modify afterwards, as the
// base of the next listing's cut (listingBase).
func (l *Lease) PutListing(ctx context.Context, b []byte) (manifest.Digest, error) {
	return l.putListing(ctx, b, nil)
}

// PutListingSummed is PutListing of b whose digest d the caller took
// already (manifest.Tree.EncodeFromSummed hashes a listing as it
// encodes it): the put does not hash b again.
func (l *Lease) PutListingSummed(ctx context.Context, b []byte, d manifest.Digest) (manifest.Digest, error) {
	return l.putListing(ctx, b, &d)
}

// putListing is PutListing; summed, when not nil, is b's digest.
func (l *Lease) putListing(ctx context.Context, b []byte, summed *manifest.Digest) (manifest.Digest, error) {
	if len(b) <= 2*listingCuts.normal {
		return l.PutBytes(ctx, b)
	}
	// The listing's digest, unless summed, is taken on a core of its
	// own while the others cut the listing and hash its chunks: an
	// edited listing is rarely stored already, and each pass is about a
	// millisecond for a tree of 11,500 files.
	var d manifest.Digest
	sumDone := make(chan struct{})
	if summed != nil {
		d = *summed
		close(sumDone)
	} else {
		go func() {
			d = manifest.Sum(b)
			close(sumDone)
		}()
	}
	chunks, err := cutListing(ctx, b, l.s.listing.Load())
	<-sumDone
	if err != nil {
		return d, err
	}
	if len(chunks) > 1 {
		// A listing left whole has no chunk digests to keep.
		l.s.listing.Store(newListingBase(b, chunks))
	}
	if stored, err := l.holdIfStored(d); err != nil || stored {
		if stored {
			l.known(d, int64(len(b)))
		}
		return d, err
	}
	if len(chunks) == 1 {
		// A listing the chunker leaves whole is one value (see
		// chunkPipeline.store).
		return l.putChunked(ctx, bytes.NewReader(b), listingCuts, false, &d)
	}
	return l.putListingChunks(ctx, b, d, chunks)
}

// putListingChunks stores the listing b, whose digest is d, as chunks,
// the cuts of cutListing with their digests: one look at the store for
// all of them (putValues). An edited listing shares all but a few
// chunks with the one before: each of those costs a hash, where
// putChunked gives it a transaction, a goroutine and a copy, and hashes
// the whole listing again.
func (l *Lease) putListingChunks(ctx context.Context, b []byte, d manifest.Digest, chunks []pendingValue) (manifest.Digest, error) {
	refs := make([]chunkRef, len(chunks))
	for i, c := range chunks {
		refs[i] = chunkRef{c.digest, int64(len(c.data))}
	}
	if err := l.putValues(ctx, db.BucketChunks, chunks); err != nil {
		return d, err
	}
	if err := l.putValue(ctx, db.BucketBlobs, pendingValue{digest: d, encoded: encodeChunkList(int64(len(b)), refs)}); err != nil {
		return d, err
	}
	l.known(d, int64(len(b)))
	return d, nil
}

// Put stages what r yields. A blob over InlineMax is chunked as it is
// read, so memory stays bounded whatever its size.
func (l *Lease) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	head := getHead()
	defer headBuffers().put(head)
	n, err := io.ReadFull(r, head)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		return l.PutBytes(ctx, head[:n])
	case nil:
		return l.putChunked(ctx, io.MultiReader(bytes.NewReader(head), r), largeCuts, true, nil)
	}
	return manifest.Digest{}, fmt.Errorf("read blob: %w", err)
}

// headBuffers hold the first InlineMax+1 bytes of a streamed put: enough
// to tell an inline blob from a chunked one. Kept, because snapshots of
// many small files would otherwise allocate one per file; kept in a
// bufferList, not a sync.Pool, for the reason bufferList gives.
var headBuffers = sync.OnceValue(func() *bufferList {
	return &bufferList{max: 2 * runtime.GOMAXPROCS(0) * (InlineMax + bufferStep)}
})

// getHead returns a buffer of InlineMax+1 bytes from headBuffers.
func getHead() []byte { return headBuffers().get(InlineMax + 1)[:InlineMax+1] }

// holdIfStored holds blob d for the lease if the store has it, and
// reports whether it does; a blob it lacks is left unheld, for the put
// that stores it.
func (l *Lease) holdIfStored(d manifest.Digest) (bool, error) {
	ref := refIn(db.BucketBlobs, d)
	l.mu.Lock()
	switch _, held := l.held[ref]; {
	case l.done:
		l.mu.Unlock()
		return false, ErrLeaseDone
	case held:
		l.mu.Unlock()
		return false, nil // this lease put it, or is putting it: put it again
	}
	l.held[ref] = struct{}{}
	l.mu.Unlock()
	l.s.holds.mu.Lock()
	l.s.holds.take(l, d)
	l.s.holds.mu.Unlock()
	var stored bool
	err := l.s.db.View(func(tx *bolt.Tx) error {
		b, err := db.Bucket(tx, db.BucketBlobs)
		stored = err == nil && hasValue(b, d)
		return err
	})
	if err != nil || !stored {
		l.mu.Lock()
		delete(l.held, ref)
		l.mu.Unlock()
		l.release([]valueRef{ref}, false, nil)
	}
	return stored, err
}

func (l *Lease) known(d manifest.Digest, size int64) {
	l.mu.Lock()
	l.sizes[d] = size
	l.mu.Unlock()
}

// knownAll is known for the blobs at idx of digests and blobs, under one
// lock: a capture's PutBatch of many blobs would take it for each.
func (l *Lease) knownAll(digests []manifest.Digest, blobs [][]byte, idx []int) {
	l.mu.Lock()
	for _, i := range idx {
		l.sizes[digests[i]] = int64(len(blobs[i]))
	}
	l.mu.Unlock()
}

// Size reports the logical size of blob d if this lease put it
// successfully. Such a blob needs no second look before Commit: it was
// found stored or is staged, and the lease's hold keeps it.
func (l *Lease) Size(d manifest.Digest) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	size, ok := l.sizes[d]
	return size, ok
}

// PutBatch puts many blobs at once and returns their digests in order: it
// hashes and compresses on every core and looks at the store once, where a
// loop of PutBytes would do each blob in turn.
func (l *Lease) PutBatch(ctx context.Context, blobs [][]byte) ([]manifest.Digest, error) {
	digests := make([]manifest.Digest, len(blobs))
	small := make([]pendingValue, 0, len(blobs))
	smallIdx := make([]int, 0, len(blobs))
	err := parallel(ctx, len(blobs), func(i int) error {
		if len(blobs[i]) <= InlineMax {
			digests[i] = manifest.Sum(blobs[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, b := range blobs {
		if len(b) > InlineMax {
			d, err := l.putChunked(ctx, bytes.NewReader(b), largeCuts, false, nil)
			if err != nil {
				return nil, err
			}
			digests[i] = d
			continue
		}
		small = append(small, pendingValue{digest: digests[i], data: b})
		smallIdx = append(smallIdx, i)
	}
	if err := l.putValues(ctx, db.BucketBlobs, small); err != nil {
		return nil, err
	}
	l.knownAll(digests, blobs, smallIdx)
	return digests, nil
}

// Commit writes what the lease staged, makes everything it holds
// permanent, and runs fn, all in one transaction: either all of it is
// durable when Commit returns nil, or none of it is kept and what only this
// lease wrote is deleted.
func (l *Lease) Commit(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return ErrLeaseDone
	}
	l.done = true
	batch, held := l.takeStaged(), l.heldList()
	l.mu.Unlock()
	defer batch.recycle()

	spillErr := l.waitSpill()
	l.mu.Lock()
	wrote, early := l.wrote, l.early
	l.mu.Unlock()
	if spillErr != nil {
		l.release(held, true, early)
		return spillErr
	}
	var deleted int64 // the deleted counter once the commit is done
	err := l.s.db.Update(ctx, func(tx *bolt.Tx) error {
		bk, err := openBuckets(tx)
		if err != nil {
			return err
		}
		stored, _, err := bk.writeValues(spillBatch{values: batch.values}, false)
		if err != nil {
			return err
		}
		// The packs staged last go in as the early ones did, so that
		// commitEarly puts the references of all in one pass in key
		// order: written first, pack by pack, theirs lay all over
		// blobs/, and every reference commitEarly put after them moved
		// those above it in bbolt's node (a first snapshot of 100,000
		// small files spent 0.1 to 1 s of its commit in that memmove).
		last := slices.Clip(early)
		for _, p := range batch.packs {
			ep, err := bk.writeEarlyPack(p)
			if err != nil {
				return err
			}
			last = append(last, ep)
		}
		var t tally
		packed, err := bk.commitEarly(last, &t)
		if err != nil {
			return err
		}
		if err := t.flush(tx); err != nil {
			return err
		}
		stored = append(stored, packed...)
		for _, ref := range wrote {
			if err := bk.provisional.Delete(ref.key()); err != nil {
				return err
			}
		}
		// What the lease holds but did not write may be another lease's
		// early write, which that lease's failure would take away.
		if bk.anyProvisional() {
			written := make(map[valueRef]struct{}, len(stored)+len(wrote))
			for _, ref := range slices.Concat(stored, wrote) {
				written[ref] = struct{}{}
			}
			others := make([]valueRef, 0, len(held))
			for _, ref := range held {
				if _, ok := written[ref]; !ok {
					others = append(others, ref)
				}
			}
			if err := bk.settle(others); err != nil {
				return err
			}
		}
		if fn != nil {
			if err := fn(tx); err != nil {
				return err
			}
		}
		deleted = db.Counter(tx, db.CounterDeleted)
		return nil
	})
	if err == nil {
		// The blobs the lease put or found are stored now, and stay
		// so until a deletion bumps the counter past deleted (what
		// another function of the same group commit deletes after
		// this one only makes the set start over sooner).
		if blobs := l.putBlobs(); blobs != nil {
			l.s.committed.add(deleted, blobs)
		}
		// Recorded before the holds go, so a collection running now
		// never sees these unheld and unrecorded.
		for _, ref := range held {
			l.s.touch(ref.digest)
		}
		if batch.bytes > 0 {
			// The commit left bbolt's page buffers, a copy of all it
			// wrote, as garbage, as an early write does (spill), and the
			// process's next commit asks for as many again: uncollected,
			// those are pages new to the process, each a page fault. A
			// process's cold fixture snapshots, each into a new store as
			// pf-bench times them, faulted in 400 pages (1.6 MiB, about
			// 5 ms) in half of their first 15 rounds. Collected here, off
			// the caller's path (it needs nothing of it), the next
			// commit's buffers reuse that memory.
			go heaplimit.CollectAfterWrite(int64(batch.bytes))
		}
	}
	if rerr := l.release(held, err != nil, early); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// Abort drops the lease: what it staged is forgotten, and what it wrote
// early that no other lease or image holds is deleted.
func (l *Lease) Abort() error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return nil
	}
	l.done = true
	held := l.heldList()
	batch := l.takeStaged()
	l.mu.Unlock()
	batch.recycle()
	l.waitSpill() // what it writes is reclaimed below with the rest
	l.mu.Lock()
	wrote, early := l.wrote, l.early
	l.mu.Unlock()
	// A lease that wrote nothing (a snapshot that found every blob
	// stored) has nothing of its own to reclaim, and drops its holds
	// without a write transaction: what another lease wrote, that lease
	// reclaims.
	return l.release(held, len(wrote) > 0 || len(early) > 0, early)
}

// putBlobs lists the blobs the lease put successfully (Size knows
// them): stored once it commits. It returns nil for more than
// committedLeaseMax.
func (l *Lease) putBlobs() []manifest.Digest {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sizes) > committedLeaseMax {
		return nil
	}
	out := make([]manifest.Digest, 0, len(l.sizes))
	for d := range l.sizes {
		out = append(out, d)
	}
	return out
}

func (l *Lease) heldList() []valueRef {
	out := make([]valueRef, 0, len(l.held))
	for ref := range l.held {
		out = append(out, ref)
	}
	return out
}
