package pf

import (
	"context"
	"errors"
	"time"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// PruneOptions is a retention policy. An image is kept if it is among the
// KeepLast newest, or was created within KeepWithin of Now, or is tagged,
// or is the head of a workspace, or is an ancestor of a kept image:
// lineage stays whole.
type PruneOptions struct {
	KeepLast   int
	KeepWithin time.Duration
	Now        time.Time // zero means time.Now()
	DryRun     bool
	// BatchSize bounds the images removed per transaction (default 500).
	BatchSize int
}

// PruneReport lists what Prune removed (or, dry, would remove).
type PruneReport struct {
	Kept    int
	Removed []manifest.Digest
}

// Prune removes the images outside the policy, with their index entries,
// in transactions of bounded size. Blobs stay until GC. An image that
// another image names as its parent when its transaction runs is never
// removed, even one committed after Prune chose what to remove.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	if opts.KeepLast <= 0 && opts.KeepWithin <= 0 {
		return PruneReport{}, ErrNoPolicy
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	var doomed []manifest.Digest
	var rep PruneReport
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		doomed, rep.Kept, err = pruneCandidates(ctx, tx, opts)
		return err
	})
	if err != nil || opts.DryRun {
		rep.Removed = doomed
		return rep, err
	}
	for len(doomed) > 0 {
		batch := doomed[:min(opts.BatchSize, len(doomed))]
		doomed = doomed[len(batch):]
		var removed []manifest.Digest
		err := s.db.Update(ctx, func(tx *bolt.Tx) error {
			removed = removed[:0]
			for _, id := range batch {
				gone, err := s.removeImage(tx, id)
				if err != nil {
					return err
				}
				if gone {
					removed = append(removed, id)
				}
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		rep.Removed = append(rep.Removed, removed...)
	}
	return rep, nil
}

// pruneCandidates returns the images outside the policy, each before its
// parents, and how many are kept.
func pruneCandidates(ctx context.Context, tx *bolt.Tx, opts PruneOptions) ([]manifest.Digest, int, error) {
	keep := map[manifest.Digest]bool{}
	var all []manifest.Digest // newest first
	cutoff := opts.Now.Add(-opts.KeepWithin)
	err := index.ScanTime(tx, index.TimeRange{}, func(key []byte, id manifest.Digest) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		created, _, _ := index.ParseTimeKey(key)
		if len(all) < opts.KeepLast || opts.KeepWithin > 0 && !created.Before(cutoff) {
			keep[id] = true
		}
		all = append(all, id)
		return true, nil
	})
	if err != nil {
		return nil, 0, err
	}
	if err := forEachImageRoot(tx, func(_ string, id manifest.Digest) error {
		keep[id] = true
		return nil
	}); err != nil {
		return nil, 0, err
	}
	// Ancestors of kept images are kept.
	var stack []manifest.Digest
	for id := range keep {
		stack = append(stack, id)
	}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		img, err := imageTx(tx, id)
		if errors.Is(err, db.ErrNotFound) {
			continue // a tag naming a removed image keeps nothing more
		}
		if err != nil {
			return nil, 0, err
		}
		for _, p := range img.Manifest.Parents {
			if !keep[p] {
				keep[p] = true
				stack = append(stack, p)
			}
		}
	}
	// Children before parents, so each removal leaves its parent a leaf.
	var doomed []manifest.Digest
	visited := map[manifest.Digest]bool{}
	var visit func(id manifest.Digest) error
	visit = func(id manifest.Digest) error {
		if visited[id] || keep[id] {
			return nil
		}
		visited[id] = true
		children, err := index.Children(tx, id)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := visit(c); err != nil {
				return err
			}
		}
		doomed = append(doomed, id)
		return nil
	}
	for _, id := range all {
		if err := visit(id); err != nil {
			return nil, 0, err
		}
	}
	return doomed, len(all) - len(doomed), nil
}

// removeImage deletes an image's record (index.Remove), unless an image
// names it as a parent now; it reports whether it did.
func (s *Store) removeImage(tx *bolt.Tx, id manifest.Digest) (bool, error) {
	children, err := index.Children(tx, id)
	if err != nil || len(children) > 0 {
		return false, err
	}
	e, err := index.Get(tx, id)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	blobs, err := s.reachedTx(context.Background(), tx, id, e.Manifest, nil, 0)
	if err != nil {
		return false, err
	}
	for _, b := range blobs {
		e.Reached += b.Size
	}
	return index.Remove(tx, e)
}
