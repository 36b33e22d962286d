package pf

import (
	"testing"

	"github.com/processfork/pf/internal/db"
)

// StoreDB is the store's file, for the black-box tests that inspect or
// damage what is in it.
func StoreDB(s *Store) *db.DB { return s.db }

// SetIdleBuffers sets what ReleaseMemory leaves alone until the test ends.
func SetIdleBuffers(t testing.TB, n int) {
	old := idleBuffers
	idleBuffers = n
	t.Cleanup(func() { idleBuffers = old })
}
