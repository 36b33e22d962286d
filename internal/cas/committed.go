package cas

import (
	"sync"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// committed remembers blobs that leases of this process committed, so
// that a later lease's look at the store (Lease.missing) need not seek
// each of them again: a warm snapshot puts the blobs of the one before,
// and those seeks were a third of what its captures did besides hashing.
//
// What it remembers holds while the store's deleted counter
// (db.CounterDeleted, bumped in the transaction of every deletion from
// blobs/) is the one read when they were committed: nothing stored can
// have gone since. A lease looks only after it holds the blob, and a
// deleter keeps the holds locked until its transaction is committed, so a
// deletion that the lease's hold did not stop is in the counter its look
// reads.
type committed struct {
	mu      sync.RWMutex
	deleted int64
	blobs   map[manifest.Digest]struct{}
}

// committedMax bounds the blobs remembered; past it the set starts over.
// A snapshot of a workspace names its files through the file caches, not
// through this set: the fixture's warm snapshot puts 140 blobs.
const committedMax = 1 << 14

// committedLeaseMax is the most blobs of one lease the set takes: a
// larger commit (the first checkpoint of a tree of files) would spend
// more on remembering them than a later lease saves.
const committedLeaseMax = 4096

// add remembers ds as committed while the deleted counter is deleted.
func (c *committed) add(deleted int64, ds []manifest.Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blobs == nil || c.deleted != deleted || len(c.blobs)+len(ds) > committedMax {
		c.blobs = make(map[manifest.Digest]struct{}, len(ds))
		c.deleted = deleted
	}
	for _, d := range ds {
		c.blobs[d] = struct{}{}
	}
}

// stored returns a function that reports whether blob d is remembered
// as committed and not deleted since, as of tx; nil when nothing is.
// The function is valid until the caller calls done: it holds the set
// for reading, beside other leases' looks.
func (c *committed) stored(tx *bolt.Tx) (has func(d manifest.Digest) bool, done func()) {
	c.mu.RLock()
	if len(c.blobs) == 0 || db.Counter(tx, db.CounterDeleted) != c.deleted {
		c.mu.RUnlock()
		return nil, func() {}
	}
	return func(d manifest.Digest) bool { _, ok := c.blobs[d]; return ok }, c.mu.RUnlock
}
