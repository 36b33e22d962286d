package cas

import (
	"context"
	"fmt"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// CollectOptions tune a collection.
type CollectOptions struct {
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
	// BatchSize bounds the deletions of one transaction (default 1000),
	// so that writers wait at most for one batch.
	BatchSize int
}

// CollectReport says what a collection deleted (or, dry, would delete).
type CollectReport struct {
	Blobs  int   // blobs deleted
	Chunks int   // chunks deleted
	Bytes  int64 // stored bytes of what was deleted

	// Packs that deletes, this time or before, left less than half live
	// are rewritten, so that the space of what was deleted can be used
	// again; RepackedBytes is that space.
	Repacked      int
	RepackedBytes int64
}

// Collect deletes every blob the caller does not keep, and every chunk
// that no kept blob lists, as restic's prune does: the caller says what is
// used, the store does the sweeping. mark is called once, in a read
// transaction that sees every commit made before Collect was called; it
// calls keep with every blob in use. A commit made after that transaction
// began settles what it reaches (Settle), which the collection records
// and keeps (see "tracking" in the package doc), and nothing a live lease
// holds is deleted. If mark fails, nothing is deleted.
//
// It sweeps in transactions of at most opts.BatchSize deletions, each
// looking again, under the lock of the holds, at what leases hold or
// commits settled since the mark; then, unless dry, it rewrites the packs
// that deletes left less than half live.
//
// Memory: what mark keeps is held in a Bloom filter of fixed size (at most
// 256 MiB, 10 bits per value up to that), so a rare unkept blob survives
// until a later collection, and a kept one never goes.
func (s *Bolt) Collect(ctx context.Context, opts CollectOptions, mark func(tx *bolt.Tx, keep func(manifest.Digest)) error) (CollectReport, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	s.startTracking()
	defer s.stopTracking()
	// Barrier: every commit that ran before tracking began is durable
	// once this returns, so the mark below sees it.
	if !s.db.ReadOnly() {
		if err := s.db.Update(ctx, func(*bolt.Tx) error { return nil }); err != nil {
			return CollectReport{}, err
		}
	}
	var live *marks
	err := s.db.View(func(tx *bolt.Tx) error {
		live = newMarks(db.Counter(tx, db.CounterBlobs) + db.Counter(tx, db.CounterChunks))
		return mark(tx, live.add)
	})
	if err != nil {
		return CollectReport{}, fmt.Errorf("nothing deleted: %w", err)
	}
	var rep CollectReport
	for _, chunk := range []bool{false, true} {
		if err := s.sweep(ctx, chunk, live, opts, &rep); err != nil {
			return rep, err
		}
	}
	if opts.DryRun {
		return rep, nil
	}
	rp, err := s.repackSparse(ctx)
	rep.Repacked, rep.RepackedBytes = rp.packs, rp.bytes
	if err != nil {
		return rep, fmt.Errorf("rewriting sparse packs: %w", err)
	}
	return rep, nil
}

// sweep deletes the unmarked values of blobs/ or chunks/, a batch per
// transaction. Sweeping blobs/ marks the chunks of every chunked blob it
// keeps, for the sweep of chunks/ that follows.
func (s *Bolt) sweep(ctx context.Context, chunks bool, live *marks, opts CollectOptions, rep *CollectReport) error {
	var after []byte
	for {
		var batch []valueRef
		err := s.db.View(func(tx *bolt.Tx) error {
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			b := bk.of(valueRef{chunk: chunks})
			c := b.Cursor()
			k, _ := db.SeekAfter(c, after)
			for ; k != nil && len(batch) < opts.BatchSize; k, _ = c.Next() {
				if len(k) != len(manifest.Digest{}) {
					return fmt.Errorf("%w: key of %d bytes in %s", db.ErrCorrupt, len(k), valueRef{chunk: chunks}.bucket())
				}
				d := manifest.Digest(k)
				after = append(after[:0], k...)
				if !live.has(d) {
					batch = append(batch, valueRef{chunk: chunks, digest: d})
					continue
				}
				if !chunks {
					listed, err := ChunksOfTx(tx, d)
					if err != nil {
						return err
					}
					for _, c := range listed {
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
		if err := s.deleteBatch(ctx, batch, opts.DryRun, rep); err != nil {
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

// deleteBatch deletes those of batch that no lease holds and no commit
// settled since the mark. The holds stay locked until the transaction
// has committed, so that no lease can take one of them in between.
func (s *Bolt) deleteBatch(ctx context.Context, batch []valueRef, dry bool, rep *CollectReport) error {
	if len(batch) == 0 {
		return nil
	}
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	var doomed []valueRef
	for _, ref := range batch {
		if !s.holds.held(ref.digest) && !s.touched(ref.digest) {
			doomed = append(doomed, ref)
		}
	}
	var freed int64
	count := func(bk *buckets) error {
		freed = 0
		for _, ref := range doomed {
			v, err := getValue(bk.of(ref), ref.digest)
			if err != nil {
				return err
			}
			freed += int64(len(v))
		}
		return nil
	}
	var err error
	if dry {
		err = s.db.View(func(tx *bolt.Tx) error {
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			return count(bk)
		})
	} else {
		err = s.db.Update(ctx, func(tx *bolt.Tx) error {
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			if err := count(bk); err != nil {
				return err
			}
			for _, ref := range doomed {
				if err := bk.delete(ref); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return err
	}
	for _, ref := range doomed {
		if ref.chunk {
			rep.Chunks++
		} else {
			rep.Blobs++
		}
	}
	rep.Bytes += freed
	return nil
}
