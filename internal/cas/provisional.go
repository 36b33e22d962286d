package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A valueRef names one stored value: a digest can be both a blob (in
// blobs/) and a chunk (in chunks/), when a small blob's bytes are also the
// last chunk of a large one, and the two values live and die apart.
type valueRef struct {
	chunk  bool
	digest manifest.Digest
}

func refIn(bucket []byte, d manifest.Digest) valueRef {
	return valueRef{chunk: bytes.Equal(bucket, db.BucketChunks), digest: d}
}

func (r valueRef) bucket() []byte {
	if r.chunk {
		return db.BucketChunks
	}
	return db.BucketBlobs
}

// Marks in provisional/: 'b' or 'c' then the digest, for a value in a
// bucket of its own (in blobs/ or chunks/); 'p' then the pack id, for a
// pack, every value of which is provisional while it still lies there. A
// pack takes one mark where its values would take hundreds: the marks of
// an early write, and their deletion at the commit, were a tenth of a
// bulk load's time.
func (r valueRef) key() []byte {
	kind := byte('b')
	if r.chunk {
		kind = 'c'
	}
	return append([]byte{kind}, r.digest[:]...)
}

func packMark(id uint64) []byte { return packMarkOf(packKey(id)) }

// packMarkOf is the mark of the pack whose key in packs/ is key.
func packMarkOf(key []byte) []byte { return append([]byte{'p'}, key...) }

// parsePackMark returns the packs/ key that a pack's mark names.
func parsePackMark(k []byte) ([]byte, bool) {
	if len(k) != 1+8 || k[0] != 'p' {
		return nil, false
	}
	return k[1:], true
}

func parseValueRefKey(k []byte) (valueRef, bool) {
	if len(k) != 33 || (k[0] != 'b' && k[0] != 'c') {
		return valueRef{}, false
	}
	return valueRef{chunk: k[0] == 'c', digest: manifest.Digest(k[1:])}, true
}

// isProvisional reports whether ref's value is stored and provisional.
func (bk *buckets) isProvisional(ref valueRef) (bool, error) {
	if packed := bk.of(ref).Get(ref.digest[:]); packed != nil {
		r, err := parsePackedRef(ref.digest, packed)
		if err != nil {
			return false, err
		}
		return bk.provisional.Get(packMark(r.pack)) != nil, nil
	}
	return bk.provisional.Get(ref.key()) != nil, nil
}

// SettledTx returns a check, good for the life of tx, of whether a blob is
// settled. Made once for many blobs, it looks up its buckets once.
func SettledTx(tx *bolt.Tx) (func(manifest.Digest) (bool, error), error) {
	bk, err := openBuckets(tx)
	if err != nil {
		return nil, err
	}
	none, _ := bk.provisional.Cursor().First()
	return func(d manifest.Digest) (bool, error) {
		if !hasValue(bk.blobs, d) {
			return false, nil
		}
		if none == nil {
			return true, nil
		}
		provisional, err := bk.isProvisional(valueRef{digest: d})
		return !provisional, err
	}, nil
}

// Settle settles the blobs named, in tx, which makes them reachable
// (the commit of an image that reaches them, a pin): none may be
// reclaimed any more with a lease that wrote it early, and a chunked blob
// brings its chunks. While a collection runs, it records them, chunks
// included, as touched, so that the collection keeps them though its mark
// did not see them. It is cheap for blobs that were never provisional.
func (s *Bolt) Settle(tx *bolt.Tx, ds ...manifest.Digest) error {
	bk, err := openBuckets(tx)
	if err != nil {
		return err
	}
	if bk.anyProvisional() {
		refs := make([]valueRef, len(ds))
		for i, d := range ds {
			refs[i] = valueRef{digest: d}
		}
		if err := bk.settle(refs); err != nil {
			return err
		}
	}
	if !s.tracking() {
		return nil
	}
	s.touch(ds...)
	for _, d := range ds {
		chunks, err := ChunksOfTx(tx, d)
		if err != nil {
			return err
		}
		s.touch(chunks...)
	}
	return nil
}

// settle settles refs: a value in a bucket of its own that an early write
// left marked loses its mark, and a chunked blob's chunks theirs. A packed
// value needs nothing: its reference is written only by the commit that
// makes its pack permanent (earlyPack). A chunk that no one can find (it
// lies in another lease's early pack) fails the settle, as a blob without
// it would not be whole. With nothing provisional (anyProvisional),
// there is nothing to do: its callers look first.
func (bk *buckets) settle(refs []valueRef) error {
	for len(refs) > 0 {
		ref := refs[0]
		refs = refs[1:]
		if bk.provisional.Get(ref.key()) == nil {
			continue
		}
		if !ref.chunk {
			cs, err := ChunksOfTx(bk.tx, ref.digest)
			if err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
			for _, c := range cs {
				if !hasValue(bk.chunks, c) {
					return fmt.Errorf("blob %s: chunk %s: %w", ref.digest, c, db.ErrNotFound)
				}
				refs = append(refs, valueRef{chunk: true, digest: c})
			}
		}
		if err := bk.provisional.Delete(ref.key()); err != nil {
			return err
		}
	}
	return nil
}

// anyProvisional reports whether any value is marked provisional: an
// early write in flight. Without one, the common case, there is nothing
// to settle, and a caller need not list what it would settle (a warm
// snapshot's commit listed its 140 blobs twice to find that out, with
// one seek).
func (bk *buckets) anyProvisional() bool {
	k, _ := bk.provisional.Cursor().First()
	return k != nil
}

// deleteProvisional deletes those of refs that are still provisional and
// returns how many it deleted.
func (bk *buckets) deleteProvisional(refs []valueRef) (int, error) {
	n := 0
	for _, ref := range refs {
		provisional, err := bk.isProvisional(ref)
		if err != nil {
			return n, err
		}
		if !provisional {
			continue
		}
		if err := bk.delete(ref); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ReclaimAbandoned deletes every provisional value: run on a read-write
// open, when no lease can be live (the file lock keeps other processes
// out), it removes what snapshots cut short by a crash wrote early. It
// works in transactions of bounded size and returns how many it deleted.
func (s *Bolt) ReclaimAbandoned(ctx context.Context) (int, error) {
	const batch = 4096
	total := 0
	var after []byte // the last mark looked at: marks of held values stay
	for {
		var (
			refs  []valueRef
			early [][]byte // early packs, and marks of packs that are gone
			more  bool
		)
		if err := s.db.View(func(tx *bolt.Tx) error {
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			c := bk.provisional.Cursor()
			for k, _ := db.SeekAfter(c, after); k != nil; k, _ = c.Next() {
				if len(refs)+len(early) >= batch {
					more = true
					break
				}
				after = append(after[:0], k...)
				if ref, ok := parseValueRefKey(k); ok {
					refs = append(refs, ref)
					continue
				}
				key, ok := parsePackMark(k)
				if !ok {
					return fmt.Errorf("%w: provisional key %x", db.ErrCorrupt, k)
				}
				pb := bk.packs.Bucket(key)
				if pb == nil || bk.packLive.Get(key) == nil {
					early = append(early, bytes.Clone(key))
					continue
				}
				// A pack that a store of an earlier version wrote early
				// with its references.
				members, err := packMembers(key, pb.Get(packMembersKey))
				if err != nil {
					return err
				}
				refs = append(refs, members...)
			}
			return nil
		}); err != nil {
			return total, err
		}
		s.holds.mu.Lock()
		var free []valueRef
		for _, ref := range refs {
			if s.holds.n[ref.digest] == 0 {
				free = append(free, ref)
			}
		}
		if len(free) == 0 && len(early) == 0 {
			s.holds.mu.Unlock()
			if !more {
				return total, nil
			}
			continue
		}
		var deleted int
		err := s.db.Update(ctx, func(tx *bolt.Tx) error {
			deleted = 0
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			for _, key := range early {
				n, err := bk.dropEarlyPack(key)
				if err != nil {
					return err
				}
				deleted += n
			}
			n, err := bk.deleteProvisional(free)
			deleted += n
			return err
		})
		s.holds.mu.Unlock()
		total += deleted
		if err != nil || !more {
			return total, err
		}
	}
}
