package cas

import (
	"sync"

	"github.com/processfork/pf/manifest"
)

// tracker records, while a garbage collection runs, every digest that
// something commits as permanent: what its mark (a snapshot of the store
// taken when it began) cannot know about. Its sweep keeps those.
type tracker struct {
	mu      sync.Mutex
	active  int
	touched map[manifest.Digest]struct{}
}

// startTracking begins recording; the caller then takes its snapshot of
// the store after a commit barrier, so that every commit is either in the
// snapshot or recorded. Calls nest.
func (s *Bolt) startTracking() {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	if s.track.active == 0 {
		s.track.touched = map[manifest.Digest]struct{}{}
	}
	s.track.active++
}

// stopTracking ends one startTracking.
func (s *Bolt) stopTracking() {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	if s.track.active--; s.track.active == 0 {
		s.track.touched = nil
	}
}

// touch records digests as committed, when tracking.
func (s *Bolt) touch(ds ...manifest.Digest) {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	if s.track.active == 0 {
		return
	}
	for _, d := range ds {
		s.track.touched[d] = struct{}{}
	}
}

// touched reports whether d was committed since tracking began.
func (s *Bolt) touched(d manifest.Digest) bool {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	_, ok := s.track.touched[d]
	return ok
}

// tracking reports whether a collection is recording commits.
func (s *Bolt) tracking() bool {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	return s.track.active > 0
}
