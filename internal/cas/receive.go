package cas

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// This file holds what a lease does for blobs that arrive from elsewhere
// (an import, a pull): a put checked against the digest the sender named,
// and a flush that makes what arrived so far durable, so that an import cut
// short by a kill does not fetch it again.

// PutVerified stages what r yields as blob want and returns its size, if
// the bytes hash to want. If they do not, it stages nothing under any
// blob's digest and returns an error wrapping db.ErrCorrupt that names both
// digests; the chunks of a large blob staged on the way are left for gc.
// The bytes are hashed once, by the put itself.
func (l *Lease) PutVerified(ctx context.Context, want manifest.Digest, r io.Reader) (int64, error) {
	head := getHead()
	defer headBuffers().put(head)
	n, err := io.ReadFull(r, head)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		b := head[:n]
		if got := manifest.Sum(b); got != want {
			return 0, mismatch(want, got)
		}
		if _, err := l.PutBytes(ctx, b); err != nil {
			return 0, err
		}
		return int64(n), nil
	case nil:
	default:
		return 0, fmt.Errorf("read blob %s: %w", want, err)
	}
	got, value, total, err := l.chunk(ctx, io.MultiReader(bytes.NewReader(head), r), largeCuts, true, nil)
	if err != nil {
		return 0, err
	}
	if got != want {
		return 0, mismatch(want, got)
	}
	if err := l.putValue(ctx, db.BucketBlobs, pendingValue{digest: got, encoded: value}); err != nil {
		return 0, err
	}
	l.known(got, total)
	return total, nil
}

func mismatch(want, got manifest.Digest) error {
	return fmt.Errorf("blob %s: %w: its bytes hash to %s", want, db.ErrCorrupt, got)
}

// Flush writes what the lease has staged and makes everything it wrote so
// far permanent, as a Commit without a function would, and the lease goes
// on. It still holds what it put, so no collection deletes it before
// Commit or Abort; an Abort no longer deletes what a Flush made permanent,
// which gc collects if no image comes to reach it. A flush that fails
// fails the lease: every later put and Commit returns its error.
func (l *Lease) Flush(ctx context.Context) error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return ErrLeaseDone
	}
	batch := l.takeStaged()
	l.mu.Unlock()
	defer batch.recycle()
	if err := l.waitSpill(); err != nil {
		return err
	}
	l.mu.Lock()
	wrote, early := l.wrote, l.early
	l.wrote, l.early = nil, nil
	l.mu.Unlock()
	err := l.s.db.Update(ctx, func(tx *bolt.Tx) error {
		bk, err := openBuckets(tx)
		if err != nil {
			return err
		}
		if _, _, err := bk.writeValues(batch, false); err != nil {
			return err
		}
		var t tally
		if _, err := bk.commitEarly(early, &t); err != nil {
			return err
		}
		if err := t.flush(tx); err != nil {
			return err
		}
		for _, ref := range wrote {
			if err := bk.provisional.Delete(ref.key()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// What was written early is still provisional: hand it back, so
		// that Abort reclaims it. What was staged is lost with the lease.
		l.mu.Lock()
		l.wrote = append(wrote, l.wrote...)
		l.early = append(early, l.early...)
		if l.spillErr == nil {
			l.spillErr = fmt.Errorf("flush: %w", err)
		}
		l.mu.Unlock()
	}
	return err
}
