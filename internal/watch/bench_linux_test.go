package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
)

// BenchmarkWatcher_TenChanged: pf serve's turn on a tree of 20,000 small
// files in 4,400 directories, through the watcher: 10 files edited, then
// a status against the last snapshot, then the snapshot.
func BenchmarkWatcher_TenChanged(b *testing.B) {
	dir := b.TempDir()
	var files []string
	for i := range 400 {
		for j := range 10 {
			for k := range 5 {
				rel := fmt.Sprintf("d%03d/e%d/f%d.txt", i, j, k)
				write(b, dir, rel, fmt.Sprintf("file %s", rel))
				files = append(files, rel)
			}
		}
	}
	root, err := filepath.EvalSymlinks(dir)
	must(b, err)
	w, err := newWatcher(root)
	must(b, err)
	b.Cleanup(func() { w.Close() })
	s := openStore(b)
	capture := func() *worktree.Capture { return &worktree.Capture{Root: root, Store: s, Changes: w} }
	last, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture()})
	must(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for k := range 10 {
			rel := files[(i*10+k)*7919%len(files)]
			must(b, os.WriteFile(filepath.Join(root, rel), []byte(fmt.Sprintf("edit %d of %s", i, rel)), 0o644))
		}
		b.StartTimer()
		changes, err := worktree.Status(ctx, s, last, root, worktree.StatusOptions{Changes: w})
		must(b, err)
		if len(changes) != 10 {
			b.Fatalf("status: %d changes, want 10", len(changes))
		}
		last, err = s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture(), Parents: []manifest.Digest{last}})
		must(b, err)
	}
}
