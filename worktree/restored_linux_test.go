//go:build linux

package worktree_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/watch"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
)

// TestRestore_Served_ChangedDuringRestore: a file changed by someone
// else while a served restore writes its files, in a directory the
// restore writes to or in another, is in the next restore's backup: the
// restore, which left the directory otherwise as its image, does not
// vouch for it, and the backup is the walk's.
func TestRestore_Served_ChangedDuringRestore(t *testing.T) {
	ctx := context.Background()
	for _, other := range []string{"a/other.txt", "b/other.txt", "a/new.txt", "a/f0.txt"} {
		t.Run(other, func(t *testing.T) {
			dir, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			write := func(rel, content string) {
				t.Helper()
				p := filepath.Join(dir, filepath.FromSlash(rel))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				write(fmt.Sprintf("a/f%d.txt", i), "first")
				write(fmt.Sprintf("b/f%d.txt", i), "first")
			}
			write("a/other.txt", "first")
			write("b/other.txt", "first")
			s, err := pf.Open(filepath.Join(t.TempDir(), "store.pf"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			roots := &watch.Roots{}
			defer roots.Close()
			changes := roots.For(dir)
			if changes == nil {
				t.Skip("not watchable here")
			}
			snapshot := func() manifest.Digest {
				t.Helper()
				id, err := s.Snapshot(ctx, pf.Snapshot{Agent: manifest.Agent{Kind: "test"}, World: &worktree.Capture{Root: dir, Store: s, Changes: changes}})
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			first := snapshot()
			write("a/f0.txt", "second")
			write("b/f1.txt", "second")
			second := snapshot()
			if _, err := worktree.Restore(ctx, s, first, dir, worktree.RestoreOptions{Changes: changes}); err != nil {
				t.Fatal(err)
			}
			// The hook runs on the restore's workers: the change is made
			// once, before the first rename.
			var once sync.Once
			var changeErr error
			opts := worktree.WithBeforeRename(worktree.RestoreOptions{Changes: changes}, func(string) {
				once.Do(func() {
					changeErr = os.WriteFile(filepath.Join(dir, filepath.FromSlash(other)), []byte("changed during the restore"), 0o644)
				})
			})
			if _, err := worktree.Restore(ctx, s, second, dir, opts); err != nil {
				t.Fatal(err)
			}
			if changeErr != nil {
				t.Fatal(changeErr)
			}
			want, err := s.Snapshot(ctx, pf.Snapshot{Agent: manifest.Agent{Kind: "test"}, World: &worktree.Capture{Root: dir}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := worktree.Restore(ctx, s, first, dir, worktree.RestoreOptions{Changes: changes})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Image(ctx, res.Backup)
			if err != nil {
				t.Fatal(err)
			}
			wantImg, err := s.Image(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			if got.Manifest.World.FS != wantImg.Manifest.World.FS {
				t.Errorf("the backup's tree is %s, a walk's %s", got.Manifest.World.FS.Short(), wantImg.Manifest.World.FS.Short())
			}
		})
	}
}
