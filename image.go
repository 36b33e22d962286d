package pf

import (
	"context"
	"fmt"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Image is a committed manifest: its id, its exact bytes, and their parse.
type Image struct {
	ID       manifest.Digest
	Raw      []byte
	Manifest *manifest.Manifest
}

// Image reads image id.
func (s *Store) Image(ctx context.Context, id manifest.Digest) (*Image, error) {
	var img *Image
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		img, err = imageTx(tx, id)
		return err
	})
	return img, err
}

func imageTx(tx *bolt.Tx, id manifest.Digest) (*Image, error) {
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return nil, err
	}
	v := manifests.Get(id[:])
	if v == nil {
		return nil, fmt.Errorf("image %s: %w", id, db.ErrNotFound)
	}
	raw, err := cas.DecodeManifest(id, v)
	if err != nil {
		return nil, err
	}
	m, err := manifest.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w: %v", id, db.ErrCorrupt, err)
	}
	return &Image{ID: id, Raw: raw, Manifest: m}, nil
}

// HasImage reports whether image id is in the store.
func (s *Store) HasImage(ctx context.Context, id manifest.Digest) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		manifests, err := db.Bucket(tx, db.BucketManifests)
		ok = err == nil && manifests.Get(id[:]) != nil
		return err
	})
	return ok, err
}
