package cas

import (
	"context"
	"sync"

	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// holds counts, per digest, the live leases that hold it. A held digest is
// never deleted: not by another lease's abort, nor by garbage collection.
type holds struct {
	mu sync.Mutex
	n  map[manifest.Digest]int
}

// held reports whether any live lease holds d. A deleter calls it with
// mu locked, and keeps it locked across its whole transaction, commit
// included, so that no lease can take d in between.
func (h *holds) held(d manifest.Digest) bool { return h.n[d] > 0 }

// release lets go of a lease's values; with reclaim, it deletes those
// that are still provisional and whose digest no other lease holds, and
// the lease's early packs, which no one else can have found.
func (s *Bolt) release(held []valueRef, reclaim bool, early []earlyPack) error {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	for _, ref := range held {
		if s.holds.n[ref.digest]--; s.holds.n[ref.digest] <= 0 {
			delete(s.holds.n, ref.digest)
		}
	}
	if !reclaim {
		return nil
	}
	var free []valueRef
	for _, ref := range held {
		if s.holds.n[ref.digest] == 0 {
			free = append(free, ref)
		}
	}
	if len(free) == 0 && len(early) == 0 {
		return nil
	}
	// Not the caller's context: cleaning up must not be cancelled with
	// the work it cleans up after.
	return s.db.Update(context.Background(), func(tx *bolt.Tx) error {
		bk, err := openBuckets(tx)
		if err != nil {
			return err
		}
		for _, ep := range early {
			if _, err := bk.dropEarlyPack(packKey(ep.id)); err != nil {
				return err
			}
		}
		_, err = bk.deleteProvisional(free)
		return err
	})
}
