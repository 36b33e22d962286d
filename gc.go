package pf

import (
	"bytes"
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
// images, and every image is kept: remove images with Prune first. It marks from a snapshot of the store,
// then sweeps in transactions of bounded size; snapshots may commit
// meanwhile, and what they commit is kept. If any manifest or tree on the
// way cannot be read, it deletes nothing and says why. Last, it rewrites
// the packs of small values that deletes left less than half live.
//
// Memory: the marks are a Bloom filter of fixed size (at most 256 MiB, 10
// bits per blob up to that), so a rare unreached blob survives until a
// later collection, and a reached one never goes; plus one entry per
// distinct tree, cache page list and ledger, each expanded once.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	s.blobs.StartTracking()
	defer s.blobs.StopTracking()
	// Barrier: every commit that ran before tracking began is durable
	// once this returns, so the mark below sees it.
	if !s.db.ReadOnly() {
		if err := s.db.Update(ctx, func(*bolt.Tx) error { return nil }); err != nil {
			return GCReport{}, err
		}
	}
	var rep GCReport
	var live *marks
	err := s.db.View(func(tx *bolt.Tx) error {
		live = newMarks(db.Counter(tx, db.CounterBlobs) + db.Counter(tx, db.CounterChunks))
		return s.mark(ctx, tx, live, &rep)
	})
	if err != nil {
		return rep, fmt.Errorf("gc: nothing deleted: %w", err)
	}
	for _, bucket := range [][]byte{db.BucketBlobs, db.BucketChunks} {
		if err := s.sweep(ctx, bucket, live, opts, &rep); err != nil {
			return rep, fmt.Errorf("gc: %w", err)
		}
	}
	if opts.DryRun {
		return rep, nil
	}
	rp, err := s.blobs.RepackSparse(ctx)
	rep.Repacked, rep.RepackedBytes = rp.Packs, rp.Bytes
	if err != nil {
		return rep, fmt.Errorf("gc: rewriting sparse packs: %w", err)
	}
	return rep, nil
}

// mark adds to live every blob the images in tx reach, and the pinned
// blobs. Chunks are marked by the sweep of blobs/, from the chunked blobs
// it keeps.
func (s *Store) mark(ctx context.Context, tx *bolt.Tx, live *marks, rep *GCReport) error {
	if err := forEachBlobRoot(tx, func(d manifest.Digest) error {
		live.add(d)
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
				live.add(d)
				return nil
			})
	})
}

// sweep deletes the unmarked values of one bucket, a batch per
// transaction. Each batch looks again, under the lease lock, at what
// snapshots hold or have committed since the mark. Sweeping blobs/ marks
// the chunks of every chunked blob it keeps, for the sweep of chunks/
// that follows.
func (s *Store) sweep(ctx context.Context, bucket []byte, live *marks, opts GCOptions, rep *GCReport) error {
	chunked := bytes.Equal(bucket, db.BucketBlobs)
	var after []byte
	for {
		var batch []manifest.Digest
		err := s.db.View(func(tx *bolt.Tx) error {
			b, err := db.Bucket(tx, bucket)
			if err != nil {
				return err
			}
			c := b.Cursor()
			k, _ := db.SeekAfter(c, after)
			for ; k != nil && len(batch) < opts.BatchSize; k, _ = c.Next() {
				if len(k) != len(manifest.Digest{}) {
					return fmt.Errorf("%w: key of %d bytes in %s", db.ErrCorrupt, len(k), bucket)
				}
				d := manifest.Digest(k)
				after = append(after[:0], k...)
				if !live.has(d) {
					batch = append(batch, d)
					continue
				}
				if chunked {
					chunks, err := cas.ChunksTx(tx, d)
					if err != nil {
						return err
					}
					for _, c := range chunks {
						live.add(c)
					}
				}
			}
			if k == nil {
				after = nil
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := s.deleteBatch(ctx, bucket, batch, opts.DryRun, rep); err != nil {
			return err
		}
		if after == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (s *Store) deleteBatch(ctx context.Context, bucket []byte, batch []manifest.Digest, dry bool, rep *GCReport) error {
	if len(batch) == 0 {
		return nil
	}
	s.blobs.LockHolds()
	defer s.blobs.UnlockHolds()
	var doomed []manifest.Digest
	for _, d := range batch {
		if !s.blobs.Held(d) && !s.blobs.Touched(d) {
			doomed = append(doomed, d)
		}
	}
	count := func(tx *bolt.Tx) (int64, error) {
		var bytes int64
		for _, d := range doomed {
			n, err := cas.StoredTx(tx, bucket, d)
			if err != nil {
				return 0, err
			}
			bytes += n
		}
		return bytes, nil
	}
	var freed int64
	var err error
	if dry {
		err = s.db.View(func(tx *bolt.Tx) error { freed, err = count(tx); return err })
	} else {
		err = s.db.Update(ctx, func(tx *bolt.Tx) error {
			if freed, err = count(tx); err != nil {
				return err
			}
			for _, d := range doomed {
				if err := cas.DeleteValueIn(tx, bucket, d); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return err
	}
	if bytes.Equal(bucket, db.BucketBlobs) {
		rep.Blobs += len(doomed)
	} else {
		rep.Chunks += len(doomed)
	}
	rep.Bytes += freed
	return nil
}

// touchReached records, for a collection running now, what a commit
// reaches: the blobs, and the chunks of those that are chunked.
func (s *Store) touchReached(tx *bolt.Tx, reached []manifest.Digest) error {
	s.blobs.Touch(reached...)
	for _, d := range reached {
		chunks, err := cas.ChunksTx(tx, d)
		if err != nil {
			return err
		}
		s.blobs.Touch(chunks...)
	}
	return nil
}
