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
	// total is the sum of n's counts, and each lease's taken its own
	// part of it: a lease whose part is all of it releases its holds
	// without a look at each.
	total int
}

// take adds l's hold of d; mu must be locked.
func (h *holds) take(l *Lease, d manifest.Digest) {
	h.n[d]++
	h.total++
	l.taken++
}

// held reports whether any live lease holds d. A deleter calls it with
// mu locked, and keeps it locked across its whole transaction, commit
// included, so that no lease can take d in between.
func (h *holds) held(d manifest.Digest) bool { return h.n[d] > 0 }

// release lets go of a lease's values; with reclaim, it deletes those
// that are still provisional and whose digest no other lease holds, and
// the lease's early packs, which no one else can have found.
func (l *Lease) release(held []valueRef, reclaim bool, early []earlyPack) error {
	s := l.s
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	if l.taken == len(held) && s.holds.total == l.taken {
		// Every hold there is is one of held (a pf process's one
		// snapshot): all counts drop to zero. Decremented and deleted
		// one by one, the 100,000 holds of a first checkpoint of as
		// many small files took 30 ms after its commit.
		s.holds.n = map[manifest.Digest]int{}
	} else {
		for _, ref := range held {
			if n := s.holds.n[ref.digest] - 1; n > 0 {
				s.holds.n[ref.digest] = n
			} else {
				delete(s.holds.n, ref.digest)
			}
		}
	}
	s.holds.total -= len(held)
	l.taken -= len(held)
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
