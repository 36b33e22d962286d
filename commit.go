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
	entry := index.NewEntry(raw, m)
	return func(tx *bolt.Tx) error {
		if index.Has(tx, id) {
			return nil
		}
		e := entry
		for i, p := range m.Parents {
			if !index.Has(tx, p) {
				if !shallow {
					return fmt.Errorf("image %s: parent %d %s: %w", id.Short(), i, p, db.ErrNotFound)
				}
				e.Shallow = true
			}
		}
		blobs, err := s.reachedTx(context.Background(), tx, id, m, lease)
		if err != nil {
			return err
		}
		reached := make([]manifest.Digest, len(blobs))
		for i, b := range blobs {
			reached[i] = b.Digest
			e.Reached += b.Size
		}
		// What this image reaches is permanent now, even blobs another
		// snapshot still in progress wrote early, and a collection
		// running now keeps it.
		if err := s.blobs.Settle(tx, reached...); err != nil {
			return err
		}
		return index.Put(tx, e)
	}
}
