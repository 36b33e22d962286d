package pf

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

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
	return id, s.db.Update(ctx, s.commitFn(id, raw, m, nil, false, nil))
}

// commitFn is the part of a commit that runs in the store's transaction.
// It must be repeatable: a group commit may run it twice. lease, when not
// nil, is the lease that put the image's blobs: what it put needs no
// lookup. With shallow, parents the store lacks are allowed, and the image
// is listed in shallow/ if it has any. pc, when not nil, is what the
// snapshot's captures attach to the commit.
func (s *Store) commitFn(id manifest.Digest, raw []byte, m *manifest.Manifest, lease *cas.Lease, shallow bool, pc *pendingCommit) func(tx *bolt.Tx) error {
	// The entry's value (the manifest compressed against the dictionary,
	// about a tenth of a warm snapshot) is built on another core while
	// the commit waits for its turn and checks every blob the image
	// reaches, instead of before it; the transaction waits for it only
	// to file the entry. Whichever comes first builds it: a core that
	// was idle takes tens of microseconds to wake, and a transaction that
	// gets there before the goroutine has started builds the entry
	// itself rather than wait for that and the build too.
	var (
		entry   index.Entry
		claimed atomic.Bool
	)
	encoded := make(chan struct{})
	encode := func() bool {
		if !claimed.CompareAndSwap(false, true) {
			return false
		}
		entry = index.NewEntry(raw, m)
		close(encoded)
		return true
	}
	go encode()
	// The image reaches at least what its lease put: a warm snapshot's
	// lease holds all of it.
	hint := pc.reachedHint()
	if lease != nil {
		hint = max(hint, lease.Held())
	}
	return func(tx *bolt.Tx) error {
		if index.Has(tx, id) {
			return nil
		}
		missingParent := false
		for i, p := range m.Parents {
			if !index.Has(tx, p) {
				if !shallow {
					return fmt.Errorf("image %s: parent %d %s: %w", id.Short(), i, p, db.ErrNotFound)
				}
				missingParent = true
			}
		}
		known := pc.knownIn(tx, lease)
		blobs, err := s.reachedTx(context.Background(), tx, id, m, known, hint)
		if err != nil {
			return err
		}
		reached := make([]manifest.Digest, len(blobs))
		var reachedSize int64
		for i, b := range blobs {
			reached[i] = b.Digest
			reachedSize += b.Size
		}
		// What this image reaches is permanent now, even blobs another
		// snapshot still in progress wrote early, and a collection
		// running now keeps it.
		if err := s.blobs.Settle(tx, reached...); err != nil {
			return err
		}
		if err := pc.apply(tx, known); err != nil {
			return err
		}
		if !encode() {
			<-encoded
		}
		e := entry
		e.Shallow, e.Reached = missingParent, reachedSize
		return index.Put(tx, e)
	}
}

// pendingCommit is what a snapshot's captures attach to its commit
// besides their blobs: the saves of file caches (FileCache.Save).
type pendingCommit struct {
	mu    sync.Mutex
	saves []*fileCacheSave
}

func (pc *pendingCommit) addSave(sv *fileCacheSave) {
	pc.mu.Lock()
	pc.saves = append(pc.saves, sv)
	pc.mu.Unlock()
}

// knownIn returns what the commit in tx knows to be stored without
// looking: the blobs the lease put or found, and the blobs the file
// caches' records name (FileCache.Save's reached), while nothing has been
// deleted from the store since those were loaded. It returns each blob's
// size. The function it returns is safe for concurrent use: the commit
// looks up the blobs of a large tree on every core (knownSizes).
func (pc *pendingCommit) knownIn(tx *bolt.Tx, lease *cas.Lease) func(manifest.Digest) (int64, bool) {
	var reached []map[manifest.Digest]int64
	if pc != nil {
		deleted := db.Counter(tx, db.CounterDeleted)
		pc.mu.Lock()
		for _, sv := range pc.saves {
			if sv.loaded != nil && sv.loaded.deleted == deleted && len(sv.reached) > 0 {
				reached = append(reached, sv.reached)
			}
		}
		pc.mu.Unlock()
	}
	// The file caches' records first: on a turn that changed a few of
	// 100,000 files, they name all but those, which the lease put.
	return func(d manifest.Digest) (int64, bool) {
		for _, r := range reached {
			if size, ok := r[d]; ok {
				return size, true
			}
		}
		if lease != nil {
			if size, ok := lease.Size(d); ok {
				return size, true
			}
		}
		return 0, false
	}
}

// reachedHint is how many blobs the commit's image may reach: what the
// file caches' records name, and some, so that the list of a tree of
// 100,000 files is not grown step by step.
func (pc *pendingCommit) reachedHint() int {
	if pc == nil {
		return 0
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	n := 0
	for _, sv := range pc.saves {
		n += len(sv.reached)
	}
	if n == 0 {
		return 0
	}
	return n + n/8 + 64
}

// writes reports whether the saves attached change anything: records to
// put or delete, or a tree to seal. A save that would write the same
// records and seal again need not be written.
func (pc *pendingCommit) writes() bool {
	if pc == nil {
		return false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, sv := range pc.saves {
		if len(sv.put) > 0 || len(sv.del) > 0 {
			return true
		}
		if sv.tree != nil && (sv.loaded == nil || sv.loaded.tree == nil || *sv.loaded.tree != *sv.tree) {
			return true // a tree to seal that the seal lacks
		}
	}
	return false
}

// unwritten tells the file caches whose saves had nothing to write that
// their records stay as they were loaded, under the same seal.
func (pc *pendingCommit) unwritten() {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	saves := pc.saves
	pc.mu.Unlock()
	for _, sv := range saves {
		if sv.loaded != nil && sv.loaded.trusted {
			sv.c.setSealed(sv.loaded.seal)
		} else {
			sv.c.setSealed(nil)
		}
	}
}

// apply writes what the captures attached, in the commit's transaction.
func (pc *pendingCommit) apply(tx *bolt.Tx, known func(manifest.Digest) (int64, bool)) error {
	if pc == nil {
		return nil
	}
	pc.mu.Lock()
	saves := pc.saves
	pc.mu.Unlock()
	for _, sv := range saves {
		if err := sv.apply(tx, func(d manifest.Digest) bool { _, ok := known(d); return ok }); err != nil {
			return err
		}
	}
	return nil
}
