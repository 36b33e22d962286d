//go:build linux

package watch

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
)

// TestWatcher_RestoreBackupIsWalk_RandomChanges: a served restore's
// backup is, round after round, the image a walk without watcher or
// stat cache makes of the directory just before the restore, whether the
// restore before left the directory as its image and nothing changed
// since (the backup is then that image, taken without a walk) or files,
// modes and directories changed just before it; and the directory is
// then the image's tree.
func TestWatcher_RestoreBackupIsWalk_RandomChanges(t *testing.T) {
	ws := newWorkspace(t)
	for i := range 8 {
		for j := range 6 {
			write(t, ws.dir, fmt.Sprintf("pad/d%02d/f%02d.txt", i, j), fmt.Sprintf("padding %d %d", i, j))
		}
	}
	rng := rand.New(rand.NewPCG(16, 5))
	files := func() []string { return regularFiles(t, ws.path("pad")) }
	// A turn of an agent: files edited, made and removed where
	// directories are; with dirs, modes and directories change too.
	turn := func(n int, dirs bool) {
		kinds := 3
		if dirs {
			kinds = 6
		}
		for range n {
			paths := files()
			f := paths[rng.IntN(len(paths))]
			switch rng.IntN(kinds) {
			case 0:
				appendTo(t, f, fmt.Sprintf("edit %d\n", rng.Int()))
			case 1:
				write(t, ws.dir, fmt.Sprintf("pad/d%02d/n%03d.txt", rng.IntN(8), rng.IntN(1000)), fmt.Sprint("new ", rng.Int()))
			case 2:
				must(t, os.Remove(f))
			case 3:
				must(t, os.Chmod(f, 0o600+os.FileMode(rng.IntN(0o200))))
			case 4:
				write(t, ws.dir, fmt.Sprintf("pad/e%02d/n.txt", rng.IntN(3)), fmt.Sprint("new dir ", rng.Int()))
			case 5:
				must(t, os.RemoveAll(filepath.Dir(f)))
			}
		}
	}
	var images []manifest.Digest
	for i := range 6 {
		turn(1+rng.IntN(6), i >= 4)
		_, _, id := treeID(t, ws.s, &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w})
		images = append(images, id)
	}
	kept, taken, checkpoints, takenCheckpoints := 0, 0, 0, 0
	for round := range 60 {
		changed := rng.IntN(3) == 0
		if changed {
			turn(1+rng.IntN(4), rng.IntN(2) == 0)
		}
		// An agent's checkpoint of its turn, a served snapshot that
		// moves the head, and sometimes changes after it.
		var checkpoint manifest.Digest
		if rng.IntN(2) == 0 {
			var err error
			checkpoint, err = ws.s.Snapshot(ctx, pf.Snapshot{
				Agent: agent, World: &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}, Head: &pf.HeadRef{Dir: ws.dir},
			})
			must(t, err)
			checkpoints++
			changed = rng.IntN(4) == 0
			if changed {
				turn(1+rng.IntN(4), rng.IntN(2) == 0)
			}
		}
		step := fmt.Sprintf("round %d (checkpoint: %v, changed just before: %v)", round, checkpoint != manifest.Digest{}, changed)
		_, want := tree(t, openStore(t), &worktree.Capture{Root: ws.dir})
		to := images[rng.IntN(len(images))]
		ws.w.mu.Lock()
		memo, wasKept := ws.w.memo, ws.w.kept != nil
		ws.w.mu.Unlock()
		res, err := worktree.Restore(ctx, ws.s, to, ws.dir, worktree.RestoreOptions{Changes: ws.w})
		must(t, err)
		// A backup taken from what the restore before kept, or from the
		// checkpoint's capture, is no capture: the watcher's memo stays.
		ws.w.mu.Lock()
		walked := ws.w.memo != memo
		ws.w.mu.Unlock()
		switch {
		case changed:
		case checkpoint != manifest.Digest{}:
			if walked {
				t.Errorf("%s: the backup walked, though nothing changed since the checkpoint", step)
			}
			if res.Backup != checkpoint {
				t.Errorf("%s: the backup is %s, not the checkpoint %s", step, res.Backup.Short(), checkpoint.Short())
			}
			takenCheckpoints++
		case wasKept:
			if walked {
				t.Errorf("%s: the backup walked, though nothing changed since the restore before", step)
			}
			taken++
		}
		img, err := ws.s.Image(ctx, res.Backup)
		must(t, err)
		if img.Manifest.World.FS != want {
			t.Fatalf("%s: the backup's tree is %s, a walk's %s", step, img.Manifest.World.FS.Short(), want.Short())
		}
		if fmt.Sprint(res.Secrets) != "[.env]" {
			t.Errorf("%s: secrets %q, want .env", step, res.Secrets)
		}
		img, err = ws.s.Image(ctx, to)
		must(t, err)
		if _, got := tree(t, openStore(t), &worktree.Capture{Root: ws.dir}); got != img.Manifest.World.FS {
			t.Fatalf("%s: restored to %s, the directory's tree is %s, want %s", step, to.Short(), got.Short(), img.Manifest.World.FS.Short())
		}
		ws.w.mu.Lock()
		if ws.w.kept != nil {
			kept++
		}
		ws.w.mu.Unlock()
	}
	// Most restores leave what the next takes; some cannot (a directory
	// made or a mode changed, which the backup walks to see).
	t.Logf("%d restores of 60 kept their state, %d took one; %d checkpoints, %d taken as the backup", kept, taken, checkpoints, takenCheckpoints)
	if kept < 10 || taken < 3 || takenCheckpoints < 10 {
		t.Errorf("%d restores of 60 left the directory as their image for the next, %d took it; %d of %d checkpoints were taken as the backup",
			kept, taken, takenCheckpoints, checkpoints)
	}
}

// TestWatcher_RestoredThenChanged: a change of any kind after a restore
// that left the directory as its image, even one the restore's own files
// see no event of, makes the next restore's backup walk: its backup
// holds the change.
func TestWatcher_RestoredThenChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(ws *workspace)
		// what the backup has at src/p1/file1.txt
		want string
		// again restores the image restored last, whose plan leaves the
		// file as it is: only the backup looks at it.
		again bool
	}{
		{"edited", func(ws *workspace) { write(t, ws.dir, "src/p1/file1.txt", "edited after") }, "edited after", false},
		{"edited through a mapping", func(ws *workspace) { writeMapped(t, ws.path("src/p1/file1.txt"), "mapped") }, "mapped", false},
		{"edited through a mapping, restored again", func(ws *workspace) { writeMapped(t, ws.path("src/p1/file1.txt"), "mapped") }, "mapped", true},
		{"edited through a link from outside", func(ws *workspace) {
			outside := filepath.Join(t.TempDir(), "link")
			must(t, os.Link(ws.path("src/p1/file1.txt"), outside))
			must(t, os.WriteFile(outside, []byte("linked"), 0o644))
		}, "linked", false},
		{"a new secret", func(ws *workspace) { write(t, ws.dir, "src/p1/key.pem", "k") }, "second", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWorkspace(t)
			write(t, ws.dir, "src/p1/file1.txt", "second")
			_, _, second := treeID(t, ws.s, &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w})
			_, err := worktree.Restore(ctx, ws.s, ws.first, ws.dir, worktree.RestoreOptions{Changes: ws.w})
			must(t, err)
			_, err = worktree.Restore(ctx, ws.s, second, ws.dir, worktree.RestoreOptions{Changes: ws.w})
			must(t, err)
			ws.w.mu.Lock()
			kept := ws.w.kept != nil
			ws.w.mu.Unlock()
			if !kept {
				t.Fatal("the restore kept nothing for the next")
			}
			tc.change(ws)
			_, want := tree(t, openStore(t), &worktree.Capture{Root: ws.dir})
			to := ws.first
			if tc.again {
				to = second
			}
			res, err := worktree.Restore(ctx, ws.s, to, ws.dir, worktree.RestoreOptions{Changes: ws.w})
			must(t, err)
			img, err := ws.s.Image(ctx, res.Backup)
			must(t, err)
			if img.Manifest.World.FS != want {
				t.Errorf("the backup's tree is %s, a walk's %s", img.Manifest.World.FS.Short(), want.Short())
			}
			backup := entriesOf(t, ws.s, res.Backup)
			if got := backup["src/p1/file1.txt"]; got.Size != int64(len(tc.want)) {
				t.Errorf("the backup has %+v, want %q", got, tc.want)
			}
			if strings.HasSuffix(tc.name, "secret") && !res.BackupIsNew && fmt.Sprint(res.Secrets) != "[.env src/p1/key.pem]" {
				t.Errorf("secrets %q", res.Secrets)
			}
		})
	}
}

// TestWatcher_CheckpointThenChanged: a change after a served checkpoint,
// even one with no event (a write through a mapping), makes the next
// restore's backup hold it when the restore overwrites the file; with
// nothing changed, the backup is the checkpoint, taken without a walk.
func TestWatcher_CheckpointThenChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(ws *workspace)
		// what the backup has at src/p1/file1.txt
		want string
	}{
		{"unchanged", func(ws *workspace) {}, "second"},
		{"edited", func(ws *workspace) { write(t, ws.dir, "src/p1/file1.txt", "edited after") }, "edited after"},
		{"edited through a mapping", func(ws *workspace) { writeMapped(t, ws.path("src/p1/file1.txt"), "mapped") }, "mapped"},
		{"edited through a link from outside", func(ws *workspace) {
			outside := filepath.Join(t.TempDir(), "link")
			must(t, os.Link(ws.path("src/p1/file1.txt"), outside))
			must(t, os.WriteFile(outside, []byte("linked"), 0o644))
		}, "linked"},
		{"a file made", func(ws *workspace) { write(t, ws.dir, "src/p2/new.txt", "new") }, "second"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWorkspace(t)
			write(t, ws.dir, "src/p1/file1.txt", "second")
			checkpoint, err := ws.s.Snapshot(ctx, pf.Snapshot{
				Agent: agent, World: &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}, Head: &pf.HeadRef{Dir: ws.dir},
			})
			must(t, err)
			tc.change(ws)
			_, want := tree(t, openStore(t), &worktree.Capture{Root: ws.dir})
			ws.w.mu.Lock()
			memo := ws.w.memo
			ws.w.mu.Unlock()
			res, err := worktree.Restore(ctx, ws.s, ws.first, ws.dir, worktree.RestoreOptions{Changes: ws.w})
			must(t, err)
			ws.w.mu.Lock()
			walked := ws.w.memo != memo
			ws.w.mu.Unlock()
			if tc.name == "unchanged" && (walked || res.Backup != checkpoint) {
				t.Errorf("the backup walked (%v) or is %s, not the checkpoint %s", walked, res.Backup.Short(), checkpoint.Short())
			}
			img, err := ws.s.Image(ctx, res.Backup)
			must(t, err)
			if img.Manifest.World.FS != want {
				t.Errorf("the backup's tree is %s, a walk's %s", img.Manifest.World.FS.Short(), want.Short())
			}
			if got := entriesOf(t, ws.s, res.Backup)["src/p1/file1.txt"]; got.Size != int64(len(tc.want)) {
				t.Errorf("the backup has %+v, want %q", got, tc.want)
			}
			if fmt.Sprint(res.Secrets) != "[.env]" {
				t.Errorf("secrets %q, want .env", res.Secrets)
			}
		})
	}
}

// TestWatcher_RestoresForgetTheirTemporaryFiles: restores one after
// another, with no capture between, leave none of their temporary files'
// names among the watcher's changes (each restore's grew them by a name a
// file, all of which the next restore's check walked), and the
// directory's next capture through the watcher is still a full walk's.
func TestWatcher_RestoresForgetTheirTemporaryFiles(t *testing.T) {
	ws := newWorkspace(t)
	first := ws.last
	for i := range 6 {
		write(t, ws.dir, fmt.Sprintf("src/p%d/file%d.txt", i, i%4), fmt.Sprint("second ", i))
	}
	write(t, ws.dir, "src/p5/new.txt", "new")
	second := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}
	_, _, secondID := treeID(t, ws.s, second)
	for round := range 4 {
		for _, to := range []manifest.Digest{first, secondID} {
			res, err := worktree.Restore(ctx, ws.s, to, ws.dir, worktree.RestoreOptions{Changes: ws.w})
			must(t, err)
			if len(res.Changes) != 7 {
				t.Fatalf("round %d: restore to %s made %d changes, want 7", round, to.Short(), len(res.Changes))
			}
			// Every event of the restore has been noted once a barrier
			// passed (the next Begin's); End(nil) hands them back.
			cs, err := ws.w.Begin(ctx)
			must(t, err)
			cs.End(nil)
			ws.w.mu.Lock()
			var temps []string
			for dir, names := range ws.w.names {
				for name := range names {
					if worktree.IsRestoreTemp(name) {
						temps = append(temps, dir+"/"+name)
					}
				}
			}
			for path := range ws.w.subtrees {
				if worktree.IsRestoreTemp(filepath.Base(path)) {
					temps = append(temps, path)
				}
			}
			for path := range ws.w.dirty {
				if worktree.IsRestoreTemp(filepath.Base(path)) {
					temps = append(temps, path)
				}
			}
			ws.w.mu.Unlock()
			if len(temps) > 0 {
				t.Errorf("round %d: the watcher's changes hold restores' temporary files: %q", round, temps)
			}
		}
	}
	ws.check("after the restores", true)
}
