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

// StartTracking begins recording; the caller then takes its snapshot of
// the store after a commit barrier, so that every commit is either in the
// snapshot or recorded. Calls nest.
func (s *Bolt) StartTracking() {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	if s.track.active == 0 {
		s.track.touched = map[manifest.Digest]struct{}{}
	}
	s.track.active++
}

// StopTracking ends one StartTracking.
func (s *Bolt) StopTracking() {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	if s.track.active--; s.track.active == 0 {
		s.track.touched = nil
	}
}

// Touch records digests as committed, when tracking.
func (s *Bolt) Touch(ds ...manifest.Digest) {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	if s.track.active == 0 {
		return
	}
	for _, d := range ds {
		s.track.touched[d] = struct{}{}
	}
}

// Touched reports whether d was committed since tracking began.
func (s *Bolt) Touched(d manifest.Digest) bool {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	_, ok := s.track.touched[d]
	return ok
}

// Tracking reports whether a collection is recording commits.
func (s *Bolt) Tracking() bool {
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	return s.track.active > 0
}
