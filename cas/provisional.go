package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/processfork/pf/db"
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

// The key of a provisional mark is the value's bucket, 'b' or 'c', then
// its digest.
func (r valueRef) key() []byte {
	kind := byte('b')
	if r.chunk {
		kind = 'c'
	}
	return append([]byte{kind}, r.digest[:]...)
}

func parseProvisionalKey(k []byte) (valueRef, error) {
	if len(k) != 33 || (k[0] != 'b' && k[0] != 'c') {
		return valueRef{}, fmt.Errorf("%w: provisional key %x", db.ErrCorrupt, k)
	}
	return valueRef{chunk: k[0] == 'c', digest: manifest.Digest(k[1:])}, nil
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

func settleRefs(tx *bolt.Tx, refs []valueRef) error {
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if prov.Get(ref.key()) == nil {
			continue
		}
		if err := prov.Delete(ref.key()); err != nil {
			return err
		}
		if ref.chunk {
			continue
		}
		chunks, err := ChunksTx(tx, ref.digest)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		for _, c := range chunks {
			if err := settleRefs(tx, []valueRef{{chunk: true, digest: c}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteProvisional deletes those values that are still provisional, and
// their marks.
func deleteProvisional(tx *bolt.Tx, refs []valueRef) error {
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if prov.Get(ref.key()) == nil {
			continue
		}
		if err := DeleteValueIn(tx, ref.bucket(), ref.digest); err != nil {
			return err
		}
	}
	return nil
}

// ReclaimAbandoned deletes every provisional value: run on a read-write
// open, when no lease can be live (the file lock keeps other processes
// out), it removes what snapshots cut short by a crash wrote early. It
// works in transactions of bounded size and returns how many it deleted.
func (s *Bolt) ReclaimAbandoned(ctx context.Context) (int, error) {
	const batch = 1024
	total := 0
	for {
		var refs []valueRef
		if err := s.db.View(func(tx *bolt.Tx) error {
			prov, err := db.Bucket(tx, db.BucketProvisional)
			if err != nil {
				return err
			}
			c := prov.Cursor()
			for k, _ := c.First(); k != nil && len(refs) < batch; k, _ = c.Next() {
				ref, err := parseProvisionalKey(k)
				if err != nil {
					return err
				}
				refs = append(refs, ref)
			}
			return nil
		}); err != nil || len(refs) == 0 {
			return total, err
		}
		s.holds.mu.Lock()
		var free []valueRef
		for _, ref := range refs {
			if s.holds.n[ref.digest] == 0 {
				free = append(free, ref)
			}
		}
		err := s.db.Update(ctx, func(tx *bolt.Tx) error { return deleteProvisional(tx, free) })
		s.holds.mu.Unlock()
		if err != nil || len(free) < batch {
			return total + len(free), err
		}
		total += len(free)
	}
}
