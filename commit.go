package pf

import (
	"context"
	"fmt"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// CommitManifest encodes m and commits it: see Commit.
func (s *Store) CommitManifest(ctx context.Context, m *manifest.Manifest) (manifest.Digest, error) {
	b, err := m.Encode()
	if err != nil {
		return manifest.Digest{}, err
	}
	return s.Commit(ctx, b)
}

// Commit stores a manifest as the exact bytes given, under the digest of
// those bytes, after checking that it parses, that its parents are images
// of this store and that every blob it reaches is stored. The first missing
// blob or parent is named in an error wrapping ErrNotFound. Committing an
// image the store has is a no-op.
func (s *Store) Commit(ctx context.Context, raw []byte) (manifest.Digest, error) {
	m, err := manifest.Decode(raw)
	if err != nil {
		return manifest.Digest{}, err
	}
	id := manifest.Sum(raw)
	return id, s.db.Update(ctx, s.commitFn(id, raw, m, nil, false))
}

// commitFn is the part of a commit that runs in the store's transaction.
// It must be repeatable: a group commit may run it twice. lease, when not
// nil, is the lease that put the image's blobs: what it put needs no
// lookup. With shallow, parents the store lacks are allowed, and the image
// is listed in shallow/ if it has any.
func (s *Store) commitFn(id manifest.Digest, raw []byte, m *manifest.Manifest, lease *cas.Lease, shallow bool) func(tx *bolt.Tx) error {
	value := cas.EncodeManifest(raw)
	return func(tx *bolt.Tx) error {
		manifests, err := db.Bucket(tx, db.BucketManifests)
		if err != nil {
			return err
		}
		if manifests.Get(id[:]) != nil {
			return nil
		}
		lacksParent := false
		for i, p := range m.Parents {
			if manifests.Get(p[:]) == nil {
				if !shallow {
					return fmt.Errorf("image %s: parent %d %s: %w", id.Short(), i, p, db.ErrNotFound)
				}
				lacksParent = true
			}
		}
		if lacksParent {
			b, err := db.Bucket(tx, db.BucketShallow)
			if err != nil {
				return err
			}
			if err := b.Put(id[:], []byte{}); err != nil {
				return err
			}
		}
		var logical int64
		var reached []manifest.Digest
		err = reach(m, s.refs,
			func(d manifest.Digest) ([]byte, error) { return cas.ReadTx(tx, d) },
			func(d manifest.Digest, where string) error {
				size, ok := int64(0), false
				if lease != nil {
					size, ok = lease.Size(d)
				}
				var err error
				if !ok {
					size, err = cas.SizeTx(tx, d)
				}
				if err != nil {
					return fmt.Errorf("image %s: %s: %w", id.Short(), where, err)
				}
				logical += size
				reached = append(reached, d)
				return nil
			})
		if err != nil {
			return err
		}
		// What this image reaches is permanent now, even blobs another
		// snapshot still in progress wrote early.
		if err := cas.Settle(tx, reached...); err != nil {
			return err
		}
		if s.blobs.Tracking() {
			if err := s.touchReached(tx, reached); err != nil {
				return err
			}
		}
		if err := manifests.Put(id[:], value); err != nil {
			return err
		}
		if err := index.Add(tx, id, m.CreatedAt, m.Parents); err != nil {
			return err
		}
		for name, delta := range map[string]int64{
			db.CounterImages:       1,
			db.CounterImageLogical: logical + int64(len(raw)),
			db.CounterLogical:      int64(len(raw)),
			db.CounterStored:       int64(len(value)),
		} {
			if err := db.AddCounter(tx, name, delta); err != nil {
				return err
			}
		}
		return nil
	}
}
