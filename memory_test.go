package pf_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
)

// A checkpoint leaves the buffers of its packs, chunkers and staged values
// kept for the next puts: ReleaseMemory drops them once they are more
// than it leaves alone, and then has nothing to drop.
func TestReleaseMemory_DropsWhatACheckpointLeft(t *testing.T) {
	s := openStore(t)
	pf.SetIdleBuffers(t, 0)
	pf.ReleaseMemory() // what other tests left
	checkpoint(t, s, 500)
	if n := pf.ReleaseMemory(); n <= 0 {
		t.Fatalf("ReleaseMemory after a checkpoint dropped %d bytes, want its buffers", n)
	}
	if n := pf.ReleaseMemory(); n != 0 {
		t.Fatalf("ReleaseMemory again dropped %d bytes, want 0", n)
	}
}

// What a checkpoint of a few small files leaves kept is less than what
// ReleaseMemory leaves alone: a turn's next turn keeps its buffers.
func TestReleaseMemory_KeepsWhatASmallCheckpointLeft(t *testing.T) {
	s := openStore(t)
	pf.SetIdleBuffers(t, 0)
	pf.ReleaseMemory()
	pf.SetIdleBuffers(t, 32<<20)
	checkpoint(t, s, 10)
	if n := pf.ReleaseMemory(); n != 0 {
		t.Fatalf("ReleaseMemory after a checkpoint of 10 files dropped %d bytes, want 0", n)
	}
}

// checkpoint snapshots a new workspace of n files of 1-64 KiB.
func checkpoint(t *testing.T, s *pf.Store, n int) {
	t.Helper()
	ws := t.TempDir()
	for i := range n {
		data := castest.Payload(uint64(i), 1<<10+i*97%(63<<10))
		if err := os.WriteFile(filepath.Join(ws, fmt.Sprintf("f%d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	capture := &worktree.Capture{Root: ws, Store: s}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: manifest.Agent{Kind: "test"}, World: capture}); err != nil {
		t.Fatal(err)
	}
}
