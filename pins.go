package pf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A Pin keeps a blob that no image reaches from garbage collection: a
// blob a user stored by hand (pf put --pin) and means to fetch later. GC
// deletes every blob that neither an image nor a pin reaches.
type Pin struct {
	Blob     manifest.Digest
	PinnedAt time.Time
}

// PutPinned stores what r yields as one blob and pins it, in one
// transaction: no collection can come between the two.
func (s *Store) PutPinned(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	l := s.blobs.NewLease()
	d, err := l.Put(ctx, r)
	if err != nil {
		l.Abort()
		return d, err
	}
	now := time.Now()
	return d, l.Commit(ctx, func(tx *bolt.Tx) error { return putPin(tx, d, now) })
}

// Pin pins the blob d, which the store must hold (else an error wrapping
// ErrNotFound). Pinning a pinned blob changes nothing.
func (s *Store) Pin(ctx context.Context, d manifest.Digest) error {
	now := time.Now()
	return s.db.Update(ctx, func(tx *bolt.Tx) error {
		_, err := cas.SizeTx(tx, d)
		if errors.Is(err, ErrNotFound) && isImageTx(tx, d) {
			return fmt.Errorf("pin %s: an image, not a blob: images stay until pf prune removes them, and a tag keeps one from that: %w", d, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("pin: %w", err)
		}
		if err := putPin(tx, d, now); err != nil {
			return err
		}
		// A collection running now marked before this pin: it must keep d.
		return s.blobs.Settle(tx, d)
	})
}

// isImageTx reports whether d is an image's id.
func isImageTx(tx *bolt.Tx, d manifest.Digest) bool {
	manifests, err := db.Bucket(tx, db.BucketManifests)
	return err == nil && manifests.Get(d[:]) != nil
}

// putPin records the pin of d in tx, unless d is pinned already.
func putPin(tx *bolt.Tx, d manifest.Digest, at time.Time) error {
	pins, err := db.Bucket(tx, db.BucketPins)
	if err != nil {
		return err
	}
	if pins.Get(d[:]) != nil {
		return nil
	}
	return pins.Put(d[:], binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())))
}

// Unpin removes the pin of d; the blob stays until a collection finds
// nothing reaching it. A blob that is not pinned is an error wrapping
// ErrNotFound.
func (s *Store) Unpin(ctx context.Context, d manifest.Digest) error {
	return s.db.Update(ctx, func(tx *bolt.Tx) error {
		pins, err := db.Bucket(tx, db.BucketPins)
		if err != nil {
			return err
		}
		if pins.Get(d[:]) == nil {
			return fmt.Errorf("unpin: blob %s is not pinned: %w", d, ErrNotFound)
		}
		return pins.Delete(d[:])
	})
}

// Pins lists the pinned blobs, by digest.
func (s *Store) Pins(ctx context.Context) ([]Pin, error) {
	var out []Pin
	err := s.db.View(func(tx *bolt.Tx) error {
		pins, err := db.Bucket(tx, db.BucketPins)
		if err != nil {
			return err
		}
		return pins.ForEach(func(k, v []byte) error {
			p, err := pinEntry(k, v)
			out = append(out, p)
			return err
		})
	})
	return out, err
}

// pinEntry reads one entry of pins/.
func pinEntry(k, v []byte) (Pin, error) {
	if len(k) != len(manifest.Digest{}) || len(v) != 8 {
		return Pin{}, fmt.Errorf("pin %x: key of %d bytes, value of %d: %w", k, len(k), len(v), ErrCorrupt)
	}
	return Pin{Blob: manifest.Digest(k), PinnedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v)))}, nil
}
