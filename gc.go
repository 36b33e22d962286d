package pf

import (
	"context"
	"fmt"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// GCOptions tune a garbage collection.
type GCOptions struct {
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// BatchSize bounds the deletions of one transaction (default 1000),
	// so writers wait at most for one batch.
	BatchSize int
}

// GCReport says what a collection deleted (or, dry, would delete).
type GCReport struct {
	Images int   // images marked from
	Pinned int   // pinned blobs marked from
	Blobs  int   // blobs deleted
	Chunks int   // chunks deleted
	Bytes  int64 // stored bytes of what was deleted

	// Packs that the deletions, this time or before, left less than half
	// live are rewritten, so that the space of what was deleted can be
	// used again; RepackedBytes is that space.
	Repacked      int
	RepackedBytes int64
}

// GC deletes every blob and chunk that no image reaches, that is not
// pinned (see Pin) and that no snapshot in progress holds. Tags name
// images, and every image is kept: remove images with Prune first.
//
// The store marks what its images and pins reach, from one read of it;
// its blob store then sweeps, in transactions of bounded size, keeping
// what snapshots hold and what they committed meanwhile. If any manifest
// or tree on the way cannot be read, nothing is deleted and the error says
// why. Last, the packs of small values that deletes left less than half
// live are rewritten.
//
// Memory: the marks are a Bloom filter of fixed size (at most 256 MiB, 10
// bits per blob up to that), so a rare unreached blob survives until a
// later collection, and a reached one never goes; plus one entry per
// distinct tree, cache page list and ledger, each expanded once.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	var rep GCReport
	cr, err := s.blobs.Collect(ctx, cas.CollectOptions{DryRun: opts.DryRun, BatchSize: opts.BatchSize},
		func(tx *bolt.Tx, keep func(manifest.Digest)) error {
			rep.Images, rep.Pinned = 0, 0
			return s.mark(ctx, tx, keep, &rep)
		})
	rep.Blobs, rep.Chunks, rep.Bytes = cr.Blobs, cr.Chunks, cr.Bytes
	rep.Repacked, rep.RepackedBytes = cr.Repacked, cr.RepackedBytes
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	return rep, nil
}

// mark calls keep with every blob that the images in tx reach, and the
// pinned blobs: the roots of a collection that are not images. Which
// chunks a kept blob lists is the blob store's business.
func (s *Store) mark(ctx context.Context, tx *bolt.Tx, keep func(manifest.Digest), rep *GCReport) error {
	if err := forEachBlobRoot(tx, func(d manifest.Digest) error {
		keep(d)
		rep.Pinned++
		return nil
	}); err != nil {
		return err
	}
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return err
	}
	walker := &reacher{refs: s.refs}
	return manifests.ForEach(func(k, _ []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		img, err := imageTx(tx, manifest.Digest(k))
		if err != nil {
			return err
		}
		rep.Images++
		return walker.reach(img.Manifest,
			func(d manifest.Digest) ([]byte, error) { return cas.ReadTx(tx, d) },
			func(d manifest.Digest, where string) error {
				keep(d)
				return nil
			})
	})
}
