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

// provisionalRef reports whether ref's value is stored and provisional;
// packed, whether it lies in a pack, whose reference is then returned.
func provisionalRef(b, prov *bolt.Bucket, ref valueRef) (provisional bool, packed []byte, err error) {
	if packed = b.Get(ref.digest[:]); packed != nil {
		r, err := parsePackedRef(ref.digest, packed)
		if err != nil {
			return false, nil, err
		}
		return prov.Get(packMark(r.pack)) != nil, packed, nil
	}
	return prov.Get(ref.key()) != nil, nil, nil
}

// SettledTx returns a check, good for the life of tx, of whether a blob is
// stored for good: present, and not written early by a snapshot that may
// still fail. Made once for many blobs, it looks up its buckets once.
func SettledTx(tx *bolt.Tx) (func(manifest.Digest) (bool, error), error) {
	b, err := db.Bucket(tx, db.BucketBlobs)
	if err != nil {
		return nil, err
	}
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return nil, err
	}
	none, _ := prov.Cursor().First()
	return func(d manifest.Digest) (bool, error) {
		if !hasValue(b, d) {
			return false, nil
		}
		if none == nil {
			return true, nil
		}
		provisional, _, err := provisionalRef(b, prov, valueRef{digest: d})
		return !provisional, err
	}, nil
}

// Settle makes the blobs named permanent: whatever an image reaches must
// no longer be reclaimed with a lease that wrote it early, and a chunked
// blob brings its chunks. It is cheap for blobs that were never
// provisional.
func Settle(tx *bolt.Tx, ds ...manifest.Digest) error {
	refs := make([]valueRef, len(ds))
	for i, d := range ds {
		refs[i] = valueRef{digest: d}
	}
	return settleRefs(tx, refs)
}

// settleRefs makes refs permanent: a value in a bucket of its own that an
// early write left marked loses its mark, and a chunked blob's chunks
// theirs. A packed value needs nothing: its reference is written only by
// the commit that makes its pack permanent (earlyPack). A chunk that no
// one can find (it lies in another lease's early pack) fails the settle,
// as a blob without it would not be whole.
func settleRefs(tx *bolt.Tx, refs []valueRef) error {
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return err
	}
	if k, _ := prov.Cursor().First(); k == nil {
		return nil // no early write in flight: the common case, one seek
	}
	chunks, err := db.Bucket(tx, db.BucketChunks)
	if err != nil {
		return err
	}
	for len(refs) > 0 {
		ref := refs[0]
		refs = refs[1:]
		if prov.Get(ref.key()) == nil {
			continue
		}
		if !ref.chunk {
			cs, err := ChunksTx(tx, ref.digest)
			if err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
			for _, c := range cs {
				if !hasValue(chunks, c) {
					return fmt.Errorf("blob %s: chunk %s: %w", ref.digest, c, db.ErrNotFound)
				}
				refs = append(refs, valueRef{chunk: true, digest: c})
			}
		}
		if err := prov.Delete(ref.key()); err != nil {
			return err
		}
	}
	return nil
}

// deleteProvisional deletes those of refs that are still provisional and
// returns how many it deleted.
func deleteProvisional(tx *bolt.Tx, refs []valueRef) (int, error) {
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ref := range refs {
		b, err := db.Bucket(tx, ref.bucket())
		if err != nil {
			return n, err
		}
		provisional, _, err := provisionalRef(b, prov, ref)
		if err != nil {
			return n, err
		}
		if !provisional {
			continue
		}
		if err := DeleteValueIn(tx, ref.bucket(), ref.digest); err != nil {
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
			prov, err := db.Bucket(tx, db.BucketProvisional)
			if err != nil {
				return err
			}
			packs, err := db.Bucket(tx, db.BucketPacks)
			if err != nil {
				return err
			}
			live, err := db.Bucket(tx, db.BucketPackLive)
			if err != nil {
				return err
			}
			c := prov.Cursor()
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
				pb := packs.Bucket(key)
				if pb == nil || live.Get(key) == nil {
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
			for _, key := range early {
				n, err := dropEarlyPack(tx, key)
				if err != nil {
					return err
				}
				deleted += n
			}
			n, err := deleteProvisional(tx, free)
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
