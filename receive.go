package pf

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A Receiver takes in one image made elsewhere (an import, a pull): its
// blobs, each put under the digest the sender names and checked against
// it, then its manifest, committed as the exact bytes it came with, so the
// image keeps its id. The image appears only when Commit finds everything
// it reaches stored; until then no one sees it.
//
// What arrives is made durable as it comes (every ReceiverFlushBytes), not
// only at the commit: an import killed half way and run again finds those
// blobs stored and fetches only the rest. They are held against garbage
// collection until Commit or Abort; if no image comes to reach them, the
// next gc collects them.
//
// A Receiver is safe for concurrent use: blobs may arrive on many
// goroutines at once.
type Receiver struct {
	s       *Store
	lease   *cas.Lease
	shallow bool

	unflushed atomic.Int64 // bytes put since the last flush
	flushing  sync.Mutex
}

// ReceiverFlushBytes is how many bytes a Receiver takes in between two
// flushes: what a kill can cost an import, against one commit (two
// fsyncs) per step.
const ReceiverFlushBytes = 32 << 20

// ReceiveOptions tune a Receiver; nil means all defaults.
type ReceiveOptions struct {
	// Shallow lets the image be committed without its parents, as a pull
	// of one image brings it: the store then lists it as shallow, and
	// history walks (pf log, Ancestry) stop at the parents it lacks. A
	// parent that arrives later joins the history. Without Shallow, a
	// parent the store lacks fails the commit.
	Shallow bool
}

// Receive starts taking in an image.
func (s *Store) Receive(opts *ReceiveOptions) *Receiver {
	if opts == nil {
		opts = &ReceiveOptions{}
	}
	return &Receiver{s: s, lease: s.blobs.NewLease(), shallow: opts.Shallow}
}

// Put stores what r yields as blob d and returns its size. Bytes that do
// not hash to d are refused with an error wrapping ErrCorrupt, and nothing
// is stored under d. r is read to its end once, streamed: a blob of any
// size takes bounded memory.
func (r *Receiver) Put(ctx context.Context, d manifest.Digest, rd io.Reader) (int64, error) {
	n, err := r.lease.PutVerified(ctx, d, rd)
	if err != nil {
		return n, err
	}
	return n, r.arrived(ctx, n)
}

// PutBytes is Put for bytes in memory.
func (r *Receiver) PutBytes(ctx context.Context, d manifest.Digest, b []byte) error {
	if got := manifest.Sum(b); got != d {
		return fmt.Errorf("blob %s: %w: its bytes hash to %s", d, ErrCorrupt, got)
	}
	if _, err := r.lease.PutBytes(ctx, b); err != nil {
		return err
	}
	return r.arrived(ctx, int64(len(b)))
}

// arrived counts n bytes in and flushes once enough have come. One
// goroutine flushes; the others go on putting meanwhile.
func (r *Receiver) arrived(ctx context.Context, n int64) error {
	if r.unflushed.Add(n) < ReceiverFlushBytes || !r.flushing.TryLock() {
		return nil
	}
	defer r.flushing.Unlock()
	r.unflushed.Store(0)
	return r.lease.Flush(ctx)
}

// Commit commits the image whose manifest is raw, as those exact bytes,
// under the digest of those bytes, which it returns. As Store.Commit, it
// checks that the manifest parses, that its parents are images of the
// store (unless Shallow), and that every blob it reaches is stored (put through this
// Receiver or there before); the first one missing is named in an error
// wrapping ErrNotFound. Committing an image the store has is a no-op. The
// Receiver is done after Commit, whatever it returns.
func (r *Receiver) Commit(ctx context.Context, raw []byte) (manifest.Digest, error) {
	m, err := manifest.Decode(raw)
	if err != nil {
		r.lease.Abort()
		return manifest.Digest{}, err
	}
	id := manifest.Sum(raw)
	r.flushing.Lock() // no flush in flight past this point
	defer r.flushing.Unlock()
	if err := r.lease.Commit(ctx, r.s.commitFn(id, raw, m, r.lease, r.shallow, nil)); err != nil {
		return manifest.Digest{}, err
	}
	return id, nil
}

// Abort ends the Receiver without an image. Blobs already flushed stay,
// for an import run again, until a gc finds nothing reaching them.
func (r *Receiver) Abort() error {
	r.flushing.Lock()
	defer r.flushing.Unlock()
	return r.lease.Abort()
}

// Reach calls visit for every blob the image m reaches, each once: its
// eight layers, then what the layers that name further blobs name (the
// files of an fs.tree.v1 tree, the K and V pages of a cache page list,
// the ledgers a merged ledger points at), in that order. read returns a
// blob's bytes; it is asked only for those layers, and only after visit
// has seen the digest. This is the walk that commit, gc, verify and every
// transfer follow, for a program that must walk an image that is not (or
// not yet) in a store.
func Reach(m *manifest.Manifest, read func(manifest.Digest) ([]byte, error), visit func(d manifest.Digest, where string) error) error {
	return reach(m, nil, read, visit)
}

// A Blob is a blob an image reaches, with its logical size.
type Blob struct {
	Digest manifest.Digest
	Size   int64
}

// Reached lists the blobs that image id reaches, each once, in the order of
// Reach, with their sizes. A blob that is missing fails it with an error
// wrapping ErrNotFound that names where the image reaches it.
func (s *Store) Reached(ctx context.Context, id manifest.Digest) ([]Blob, error) {
	var out []Blob
	err := s.db.View(func(tx *bolt.Tx) error {
		e, err := index.Get(tx, id)
		if err != nil {
			return err
		}
		out, err = s.reachedTx(ctx, tx, id, e.Manifest, nil, 0)
		return err
	})
	return out, err
}
