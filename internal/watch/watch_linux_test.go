//go:build linux

package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
	"golang.org/x/sys/unix"
)

var ctx = context.Background()

var agent = manifest.Agent{Kind: "test", Version: "0.1.0", Fingerprint: "f"}

// regularFiles returns the paths of the regular files under dir.
func regularFiles(t testing.TB, dir string) []string {
	var out []string
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	}))
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

func openStore(t testing.TB) *pf.Store {
	t.Helper()
	s, err := pf.Open(filepath.Join(t.TempDir(), "store.pf"), nil)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// tree is the tree a capture makes of dir, by path, and its digest.
func tree(t testing.TB, s *pf.Store, c *worktree.Capture) (map[string]manifest.Entry, manifest.Digest) {
	t.Helper()
	byPath, fs, _ := treeID(t, s, c)
	return byPath, fs
}

func treeID(t testing.TB, s *pf.Store, c *worktree.Capture) (map[string]manifest.Entry, manifest.Digest, manifest.Digest) {
	t.Helper()
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: c})
	must(t, err)
	img, err := s.Image(ctx, id)
	must(t, err)
	return entriesOf(t, s, id), img.Manifest.World.FS, id
}

// entriesOf is the tree of image id, by path.
func entriesOf(t testing.TB, s *pf.Store, id manifest.Digest) map[string]manifest.Entry {
	t.Helper()
	tr, err := worktree.LoadTree(ctx, s, id)
	must(t, err)
	byPath := map[string]manifest.Entry{}
	for _, e := range tr.Entries {
		byPath[e.Path] = e
	}
	return byPath
}

// workspace is a directory watched the way pf serve watches one, with
// the store its snapshots go to.
type workspace struct {
	t     *testing.T
	dir   string
	s     *pf.Store
	w     *Watcher
	rules []string // Capture.Ignore
	first manifest.Digest
	last  manifest.Digest // the image of the last watched capture that check made
	stats worktree.Stats  // of the last watched capture that check made
}

func newWorkspace(t *testing.T) *workspace {
	dir := t.TempDir()
	for i := range 6 {
		for j := range 4 {
			write(t, dir, fmt.Sprintf("src/p%d/q%d/f.go", i, j), fmt.Sprintf("package q%d", j))
			write(t, dir, fmt.Sprintf("src/p%d/file%d.txt", i, j), strings.Repeat("x", i+j))
		}
	}
	write(t, dir, "README", "readme")
	write(t, dir, "node_modules/dep/index.js", "ignored")
	write(t, dir, ".env", "TOKEN=secret")
	must(t, os.Symlink("src/p0/file0.txt", filepath.Join(dir, "link")))
	ws := watchWorkspace(t, dir)
	ws.check("first capture", false)
	return ws
}

// watchWorkspace is a workspace of the tree at dir, with a store and a
// watcher of its own, closed when t ends; nothing captured yet.
func watchWorkspace(t *testing.T, dir string) *workspace {
	root, err := filepath.EvalSymlinks(dir)
	must(t, err)
	w, err := newWatcher(root)
	must(t, err)
	t.Cleanup(func() { w.Close() })
	return &workspace{t: t, dir: root, s: openStore(t), w: w}
}

// check captures the workspace through the watcher and fails unless its
// tree is the one a capture without watcher or cache makes now; recalled
// says whether some files must have come from the last capture.
func (ws *workspace) check(step string, recalled bool) {
	t := ws.t
	t.Helper()
	if ws.last != (manifest.Digest{}) {
		// Against the last capture, whose memos the status replays.
		ws.checkStatus(step+", status against the last capture", ws.last)
	}
	watched := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w, Ignore: ws.rules}
	got, gotFS, id := treeID(t, ws.s, watched)
	if ws.first == (manifest.Digest{}) {
		ws.first = id
	}
	ws.last = id
	fresh := &worktree.Capture{Root: ws.dir, Ignore: ws.rules}
	want, wantFS := tree(t, openStore(t), fresh)
	if gotFS != wantFS {
		for p, e := range want {
			if g, ok := got[p]; !ok || g != e {
				t.Errorf("%s: %s: watched capture has %+v, want %+v", step, p, g, e)
			}
		}
		for p, g := range got {
			if _, ok := want[p]; !ok {
				t.Errorf("%s: %s: watched capture has %+v, which is gone", step, p, g)
			}
		}
		t.Fatalf("%s: world.fs %s, want %s", step, gotFS.Short(), wantFS.Short())
	}
	ws.stats = watched.Stats()
	if st := watched.Stats(); (st.Recalled > 0) != recalled {
		t.Errorf("%s: %d files recalled from the last capture, want some: %v", step, st.Recalled, recalled)
	}
	if secrets := watched.Secrets(); len(secrets) != 1 || secrets[0] != ".env" {
		t.Errorf("%s: secrets %q, want .env", step, secrets)
	}
	ws.checkStatus(step, ws.first)
}

// checkStatus fails unless Status through the watcher, against the
// image base, is Status without.
func (ws *workspace) checkStatus(step string, base manifest.Digest) {
	t := ws.t
	t.Helper()
	plain, err := worktree.Status(ctx, ws.s, base, ws.dir, worktree.StatusOptions{Ignore: ws.rules})
	must(t, err)
	watched, err := worktree.Status(ctx, ws.s, base, ws.dir, worktree.StatusOptions{Ignore: ws.rules, Changes: ws.w})
	must(t, err)
	if fmt.Sprint(plain) != fmt.Sprint(watched) {
		byPath := map[string]string{}
		for _, ch := range plain {
			byPath[ch.Path] = fmt.Sprint(ch)
		}
		for _, ch := range watched {
			if got := fmt.Sprint(ch); got != byPath[ch.Path] {
				t.Errorf("%s: status through the watcher has %s, want %s", step, got, byPath[ch.Path])
			}
			delete(byPath, ch.Path)
		}
		for _, want := range byPath {
			t.Errorf("%s: status through the watcher lacks %s", step, want)
		}
	}
}

func (ws *workspace) path(rel string) string { return filepath.Join(ws.dir, filepath.FromSlash(rel)) }

// TestWatcher_CaptureIsFull: after each real change of the files, a
// capture through the watcher gives the tree of a capture that walks and
// reads everything.
func TestWatcher_CaptureIsFull(t *testing.T) {
	ws := newWorkspace(t)
	ws.check("nothing changed", true)
	steps := []struct {
		name   string
		change func()
	}{
		{"file rewritten, same size", func() { write(t, ws.dir, "src/p3/q1/f.go", "package Q1") }},
		{"file created", func() { write(t, ws.dir, "src/p1/q2/new.go", "package new") }},
		{"file deleted", func() { must(t, os.Remove(ws.path("src/p1/q2/f.go"))) }},
		{"renamed within a directory", func() { must(t, os.Rename(ws.path("src/p2/file1.txt"), ws.path("src/p2/renamed.txt"))) }},
		{"renamed across directories", func() { must(t, os.Rename(ws.path("src/p2/q0/f.go"), ws.path("src/p4/q3/moved.go"))) }},
		{"new directory with files", func() {
			write(t, ws.dir, "src/new/a/b/c.go", "package b")
			write(t, ws.dir, "src/new/a/d.go", "package a")
		}},
		{"file in the new directory", func() { write(t, ws.dir, "src/new/a/b/e.go", "package e") }},
		{"names that sort around a directory's", func() {
			// "b" is a directory: "b-x" and "b.go" sort after its
			// entries, "a" before them, "b0" after all.
			write(t, ws.dir, "src/new/a/b-x/f.go", "package bx")
			write(t, ws.dir, "src/new/a/b.go", "package a")
			write(t, ws.dir, "src/new/a/a", "a")
			write(t, ws.dir, "src/new/a/b0", "b0")
		}},
		{"a file in a directory among them", func() { write(t, ws.dir, "src/new/a/b-x/g.go", "package bx") }},
		{"directory removed", func() { must(t, os.RemoveAll(ws.path("src/p5"))) }},
		{"file mode", func() { must(t, os.Chmod(ws.path("src/p0/q0/f.go"), 0o755)) }},
		{"directory mode", func() { must(t, os.Chmod(ws.path("src/p0/q1"), 0o700)) }},
		{"symbolic link retargeted", func() {
			must(t, os.Remove(ws.path("link")))
			must(t, os.Symlink("src/p0/file1.txt", ws.path("link")))
		}},
		{"ignore file made", func() { write(t, ws.dir, "src/p1/.gitignore", "*.txt\nq3/\n") }},
		{"ignore file edited", func() { write(t, ws.dir, "src/p1/.gitignore", "q3/\n") }},
		{"ignore file removed", func() { must(t, os.Remove(ws.path("src/p1/.gitignore"))) }},
		{"ignored directory's files", func() { write(t, ws.dir, "node_modules/dep/index.js", "changed, ignored") }},
		{"directory moved, then a file in it written", func() {
			must(t, os.Rename(ws.path("src/p3"), ws.path("src/p1/p3")))
		}},
		{"file of the moved directory rewritten", func() { write(t, ws.dir, "src/p1/p3/q2/f.go", "package Q2") }},
		{"directory deleted and made again", func() {
			must(t, os.RemoveAll(ws.path("src/p4/q0")))
			write(t, ws.dir, "src/p4/q0/f.go", "package again")
		}},
		{"file of the remade directory rewritten", func() { write(t, ws.dir, "src/p4/q0/f.go", "package AGAIN") }},
		{"file written through a link outside", func() {
			outside := filepath.Join(t.TempDir(), "other-link")
			must(t, os.Link(ws.path("src/p0/file2.txt"), outside))
			must(t, os.WriteFile(outside, []byte("through the other link"), 0o644))
		}},
		{"file replaced by a rename over it, as editors save", func() {
			write(t, ws.dir, "src/p4/file3.txt.tmp", "saved")
			must(t, os.Rename(ws.path("src/p4/file3.txt.tmp"), ws.path("src/p4/file3.txt")))
		}},
		{"the replaced file written through a link outside", func() {
			outside := filepath.Join(t.TempDir(), "link-to-replaced")
			must(t, os.Link(ws.path("src/p4/file3.txt"), outside))
			must(t, os.WriteFile(outside, []byte("saved, then written elsewhere"), 0o644))
		}},
		{"a second link made inside", func() {
			must(t, os.Link(ws.path("src/p1/file0.txt"), ws.path("src/p2/second-link")))
		}},
		{"written through the second link inside", func() {
			f, err := os.OpenFile(ws.path("src/p2/second-link"), os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			f.WriteString(" and through the second link")
			must(t, f.Close())
		}},
		{"the second link removed, then the first written", func() {
			must(t, os.Remove(ws.path("src/p2/second-link")))
			write(t, ws.dir, "src/p1/file0.txt", "one link again")
		}},
		{"a file made inside linked from outside, then written there", func() {
			write(t, ws.dir, "src/p5/q1/made.txt", "made")
			outside := filepath.Join(t.TempDir(), "made-link")
			must(t, os.Link(ws.path("src/p5/q1/made.txt"), outside))
			must(t, os.WriteFile(outside, []byte("made, then written elsewhere"), 0o644))
		}},
		{"written again through the link outside", func() {
			f, err := os.OpenFile(ws.path("src/p0/file2.txt"), os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			f.WriteString("!")
			must(t, f.Close())
		}},
	}
	for _, step := range steps {
		step.change()
		ws.check(step.name, true)
	}
	// A restore through the watcher: its backup is a watched capture,
	// and what it writes is what the next capture reads.
	if _, err := worktree.Restore(ctx, ws.s, ws.first, ws.dir, worktree.RestoreOptions{Changes: ws.w}); err != nil {
		t.Fatal(err)
	}
	ws.check("restored to the first capture", true)
	write(t, ws.dir, "src/p2/q1/f.go", "after the restore")
	ws.check("a file written after the restore", true)
	// Another capture's rules: nothing is taken from the last capture.
	ws.rules = []string{"*.go"}
	ws.check("rules of the capture changed", false)
	ws.check("nothing changed since, with those rules", true)
}

// TestWatcher_FileEditedDuringCapture: a file written while a capture
// runs is what the next capture reads again.
func TestWatcher_FileEditedDuringCapture(t *testing.T) {
	ws := newWorkspace(t)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			write(t, ws.dir, "src/p2/q2/f.go", fmt.Sprintf("package q2 // %d", i))
			write(t, ws.dir, fmt.Sprintf("src/p1/busy%d", i%7), strings.Repeat("b", i%100))
		}
	}()
	for i := range 5 {
		c := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}
		_, err := ws.s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: c})
		must(t, err)
		_ = i
	}
	stop.Store(true)
	wg.Wait()
	ws.check("after the writer stopped", true)
}

// TestWatcher_FailedCapture: a capture that fails midway, after it
// walked some changed directories and made memos of them, leaves the last
// good capture's memos in force: the captures after it give the tree of a
// capture that walks and reads everything, and still recall what did not
// change.
func TestWatcher_FailedCapture(t *testing.T) {
	for failAt := 1; failAt <= 3; failAt++ {
		t.Run(fmt.Sprintf("at skipped entry %d", failAt), func(t *testing.T) {
			ws := newWorkspace(t)
			// Each changed directory also holds a named pipe, which a
			// capture skips with a warning; the failing capture is
			// cancelled at the failAt-th.
			for i, dir := range []string{"src/p1/q0", "src/p3", "src/p5/q2"} {
				write(t, ws.dir, dir+"/f.go", fmt.Sprintf("package changed%d", i))
				write(t, ws.dir, dir+"/new/g.go", "package new")
				must(t, unix.Mkfifo(ws.path(dir+"/pipe"), 0o644))
			}
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			warned := 0
			failing := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w, Warn: func(string, error) {
				if warned++; warned == failAt {
					cancel()
				}
			}}
			if _, err := ws.s.Snapshot(cctx, pf.Snapshot{Agent: agent, World: failing}); !errors.Is(err, context.Canceled) {
				t.Fatalf("capture cancelled at skipped entry %d: err %v, want context.Canceled", failAt, err)
			}
			ws.check("after the failed capture", true)
			write(t, ws.dir, "src/p1/q0/f.go", "package again")
			write(t, ws.dir, "src/p2/q3/f.go", "package untouched until now")
			must(t, os.Remove(ws.path("src/p3/new/g.go")))
			ws.check("changed again after the failed capture", true)
			ws.check("nothing changed since", true)
		})
	}
}

// changeBeforeFileWatches has the next capture's file watches wait until
// its file rel is changed through a hard link made outside the workspace
// (then removed): a write that no watch of the workspace's directories
// sees. The channel closes once the change is made. It runs on the
// watcher's goroutine, so it reports errors, not Fatal.
func changeBeforeFileWatches(t *testing.T, ws *workspace, rel string, change func(outside string) error) <-chan struct{} {
	written := make(chan struct{})
	hook := func(files []string) {
		defer close(written)
		if !slices.Contains(files, rel) {
			t.Errorf("%s not among the files to watch", rel)
		}
		outside := filepath.Join(t.TempDir(), "link")
		if err := os.Link(ws.path(rel), outside); err != nil {
			t.Error(err)
			return
		}
		err := change(outside)
		if err := errors.Join(err, os.Remove(outside)); err != nil {
			t.Error(err)
		}
	}
	beforeFileWatches.Store(&hook)
	return written
}

// TestWatcher_ChangedBeforeFileWatch: a file's watch is added once the
// capture that found it ended; a file linked from outside, written there
// and unlinked again before its watch is in place had no event, and the
// next capture reads it all the same.
func TestWatcher_ChangedBeforeFileWatch(t *testing.T) {
	ws := newWorkspace(t)
	defer beforeFileWatches.Store(nil)
	for i, rel := range []string{"src/p3/new.txt", "src/p3/q0/f.go", "README"} {
		written := changeBeforeFileWatches(t, ws, rel, func(outside string) error {
			f, err := os.OpenFile(outside, os.O_WRONLY|os.O_APPEND, 0)
			if err == nil {
				fmt.Fprintf(f, " // written outside before its watch, %d", i)
				err = f.Close()
			}
			return err
		})
		// Made anew, so that it has no watch yet; it changes again once
		// the capture ended, before its watch.
		os.Remove(ws.path(rel))
		write(t, ws.dir, rel, fmt.Sprintf("made anew %d", i))
		c := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}
		_, err := ws.s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: c})
		must(t, err)
		ws.w.StartFileWatches() // as pf serve does once the command answered
		// The watcher writes outside on its own goroutine once the
		// capture ended: wait for it, or the status without the watcher
		// in check may look before the write and the one through it
		// after.
		select {
		case <-written:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the watches of the capture's files were never added", rel)
		}
		ws.check("the file written outside before its watch: "+rel, true)
	}
}

// TestWatcher_LostEvents: once events may be lost (an overflow of the
// inotify queue, here injected), the next capture walks everything.
func TestWatcher_LostEvents(t *testing.T) {
	ws := newWorkspace(t)
	write(t, ws.dir, "src/p0/q0/f.go", "package lost")
	ws.w.lose()
	ws.check("after an overflow", false)
	ws.check("then nothing changed", true)
}

// writeMapped writes b at the start of the file at path through a shared
// memory mapping: a write inotify reports no event of. The mtime such a
// write sets is the kernel's coarse clock, so it first lets that clock
// move past the file's last write.
func writeMapped(t *testing.T, path string, b string) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	mapped, err := unix.Mmap(int(f.Fd()), 0, len(b), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	must(t, err)
	copy(mapped, b)
	must(t, unix.Munmap(mapped))
	must(t, f.Close())
}

// TestWatcher_RestoreBacksUpMappedWrite: inotify hears nothing of a
// write through a shared memory mapping, yet a restore through the
// watcher backs up the file so written before it overwrites it.
func TestWatcher_RestoreBacksUpMappedWrite(t *testing.T) {
	ws := newWorkspace(t)
	const rel = "src/p1/file1.txt"
	write(t, ws.dir, rel, "written by a write")
	ws.check("a file written", true)
	writeMapped(t, ws.path(rel), "WRITTEN")
	const want = "WRITTEN by a write"

	res, err := worktree.Restore(ctx, ws.s, ws.first, ws.dir, worktree.RestoreOptions{Changes: ws.w})
	must(t, err)
	if got := entriesOf(t, ws.s, res.Backup)[rel].Blob; got != manifest.Sum([]byte(want)) {
		t.Fatalf("the backup holds %s of %s, not the bytes the mapping wrote", got.Short(), rel)
	}
	got, err := os.ReadFile(ws.path(rel))
	must(t, err)
	if string(got) == want {
		t.Fatalf("%s was not restored", rel)
	}
}

// TestWatcher_Barrier: a change made just before a capture begins is in
// it, every time.
func TestWatcher_Barrier(t *testing.T) {
	ws := newWorkspace(t)
	for i := range 50 {
		want := fmt.Sprintf("package q%d", i)
		write(t, ws.dir, "src/p3/q3/f.go", want)
		c := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}
		got, _ := tree(t, ws.s, c)
		if got["src/p3/q3/f.go"].Blob != manifest.Sum([]byte(want)) {
			t.Fatalf("capture %d missed a change made before it began", i)
		}
	}
}

// TestRoots: workspaces past MaxRoots drop the least recently used.
func TestRoots(t *testing.T) {
	var r Roots
	defer r.Close()
	dirs := make([]string, MaxRoots+1)
	for i := range dirs {
		dirs[i] = t.TempDir()
		if r.For(dirs[i]) == nil {
			t.Fatalf("no watcher for %s", dirs[i])
		}
	}
	if len(r.used) != MaxRoots {
		t.Fatalf("%d watchers, want %d", len(r.used), MaxRoots)
	}
	first := r.For(dirs[1])
	if first != r.For(dirs[1]) {
		t.Error("a second watcher for the same directory")
	}
	time.Sleep(10 * time.Millisecond)
}

// TestWatcher_RestoreBackAndForth: restores through the watcher between
// two images, whose checked plans the process keeps, make the directory
// each image's tree every time, and warn every time of the link they
// leave out.
func TestWatcher_RestoreBackAndForth(t *testing.T) {
	ws := newWorkspace(t)
	write(t, ws.dir, "src/p1/file1.txt", "second")
	write(t, ws.dir, "src/p2/q2/new.go", "package new")
	must(t, os.Remove(ws.path("src/p3/file0.txt")))
	must(t, os.Symlink("/nonexistent/outside", ws.path("src/outside")))
	second := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}
	secondTree, _, secondID := treeID(t, ws.s, second)
	delete(secondTree, "src/outside") // restores skip it
	firstTree := entriesOf(t, ws.s, ws.first)
	last := secondID
	for round := range 3 {
		for _, to := range []struct {
			id   manifest.Digest
			tree map[string]manifest.Entry
		}{{ws.first, firstTree}, {secondID, secondTree}} {
			edited := round == 1 && to.id == secondID
			if edited {
				// The backup is not the tree the last restore wrote.
				write(t, ws.dir, "src/p0/file0.txt", "edited between restores")
			}
			var warned []string
			res, err := worktree.Restore(ctx, ws.s, to.id, ws.dir, worktree.RestoreOptions{
				Changes: ws.w, Warn: func(path string, err error) { warned = append(warned, path) },
			})
			must(t, err)
			// Restored to the first image, the directory is that image's
			// tree: its backup is that image, unless edited since (the
			// second image has a link that restores leave out).
			if to.id == secondID && (res.BackupIsNew != edited || (!edited && res.Backup != last)) {
				t.Errorf("round %d: backup %s (new: %v), want the image restored last, %s, unless edited (%v)", round, res.Backup.Short(), res.BackupIsNew, last.Short(), edited)
			}
			if backup := entriesOf(t, ws.s, res.Backup); edited && backup["src/p0/file0.txt"].Size != int64(len("edited between restores")) {
				t.Errorf("round %d: the backup holds %+v, not the edit", round, backup["src/p0/file0.txt"])
			}
			last = to.id
			got, _ := tree(t, openStore(t), &worktree.Capture{Root: ws.dir})
			if fmt.Sprint(got) != fmt.Sprint(to.tree) {
				t.Fatalf("round %d: restored to %s, the directory holds %v, want %v", round, to.id.Short(), got, to.tree)
			}
			if wantWarned := fmt.Sprint(to.id == secondID); fmt.Sprint(slices.Contains(warned, "src/outside")) != wantWarned {
				t.Errorf("round %d: restore to %s warned of %q", round, to.id.Short(), warned)
			}
		}
	}
}

// TestWatcher_StatCacheKept: a capture through the watcher takes the stat
// cache that the last one saved from memory while the store holds exactly
// it, and reads it from the store after a capture without the watcher
// saved the directory's cache, or gc deleted blobs; its tree is a fresh
// capture's every time.
func TestWatcher_StatCacheKept(t *testing.T) {
	ws := newWorkspace(t)
	kept := func(step string, want bool) {
		t.Helper()
		if ws.stats.CacheKept != want {
			t.Errorf("%s: stat cache kept in memory: %v, want %v", step, ws.stats.CacheKept, want)
		}
	}
	ws.check("nothing changed", true)
	kept("nothing changed", true)
	// Snapshots that give their parent back write nothing: the records
	// stay as the last one left them, and so in memory.
	_, _, parent := treeID(t, ws.s, &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w})
	for i := range 2 {
		c := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}
		id, err := ws.s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: c, Parents: []manifest.Digest{parent}, SkipUnchanged: true})
		must(t, err)
		if id != parent || !c.Stats().CacheKept || !c.Stats().TreeCached {
			t.Errorf("unchanged snapshot %d: %s, parent %s, stats %+v: want the parent, the stat cache and tree kept", i, id.Short(), parent.Short(), c.Stats())
		}
	}
	write(t, ws.dir, "src/p2/q1/f.go", "package edited")
	must(t, os.Remove(ws.path("src/p4/file2.txt")))
	ws.check("a file edited, one deleted", true)
	kept("a file edited, one deleted", true)
	ws.check("nothing changed since", true)
	kept("nothing changed since", true)

	write(t, ws.dir, "src/p3/q3/f.go", "package other")
	tree(t, ws.s, &worktree.Capture{Root: ws.dir, Store: ws.s})
	write(t, ws.dir, "src/p3/q3/f.go", "package other, again")
	ws.check("after a capture without the watcher", true)
	kept("after a capture without the watcher", false)
	ws.check("then nothing changed", true)
	kept("then nothing changed", true)

	_, err := ws.s.Blobs().PutBytes(ctx, []byte("a blob no image names"))
	must(t, err)
	rep, err := ws.s.GC(ctx, pf.GCOptions{})
	must(t, err)
	if rep.Blobs == 0 {
		t.Fatal("gc deleted nothing")
	}
	ws.check("after gc deleted a blob", true)
	kept("after gc deleted a blob", false)
	ws.check("then nothing changed, again", true)
	kept("then nothing changed, again", true)
}

// TestWatcher_ChangedEntriesAlone: in a directory where some files
// changed, a capture through the watcher looks at those alone and takes
// the others from the last capture.
func TestWatcher_ChangedEntriesAlone(t *testing.T) {
	ws := newWorkspace(t)
	write(t, ws.dir, "src/p2/file1.txt", "edited")
	write(t, ws.dir, "src/p2/new.txt", "new")
	must(t, os.Remove(ws.path("src/p2/file3.txt")))
	ws.check("files of a directory edited, added, removed", true)
	if st := ws.stats; st.Recalled != st.Files-2 || st.Hashed != 2 {
		t.Errorf("%d files recalled, %d hashed, of %d: want all but the edited and the new recalled", st.Recalled, st.Hashed, st.Files)
	}
}

// TestWatcher_UnchangedTakenWhole: when nothing changed since a capture
// through the watcher that found every file as the stat cache held it,
// the next one takes that capture's tree whole, which is the tree a fresh
// capture makes; any change, a capture without the watcher that changed
// the stat cache, or gc makes it walk the memo again. (A capture without
// the watcher that found every record as it was rewrites the same seal,
// and the watcher's cache is then still the store's.)
func TestWatcher_UnchangedTakenWhole(t *testing.T) {
	ws := newWorkspace(t)
	whole := func(step string, want bool) {
		t.Helper()
		ws.check(step, true)
		if ws.stats.Whole != want {
			t.Errorf("%s: tree taken whole from the last capture: %v, want %v (stats %+v)", step, ws.stats.Whole, want, ws.stats)
		}
		if ws.stats.Whole && (ws.stats.Recalled != ws.stats.Files || ws.stats.Hashed != 0 || !ws.stats.TreeCached) {
			t.Errorf("%s: taken whole, but stats %+v: want every file recalled, none read, the tree cached", step, ws.stats)
		}
	}
	// The first capture read the files: the second checks each against
	// the stat cache, and the third may take the second's tree whole.
	whole("nothing changed", false)
	whole("nothing changed again", true)
	whole("and again", true)

	write(t, ws.dir, "src/p2/q1/f.go", "package edited")
	whole("a file edited", false)
	whole("nothing changed since the edit", false)
	whole("nothing changed since, again", true)

	// The stat cache a capture taken whole saved is the one before it:
	// a file deleted since goes from it, a file added is read.
	must(t, os.Remove(ws.path("src/p4/file2.txt")))
	write(t, ws.dir, "src/p5/new.txt", "new")
	whole("a file deleted, one added", false)
	if ws.stats.Hashed != 1 {
		t.Errorf("a file deleted, one added: %d files read, want the new one", ws.stats.Hashed)
	}
	whole("nothing changed since the deletion", false)
	whole("nothing changed since the deletion, again", true)

	must(t, os.Remove(ws.path("link")))
	must(t, os.Symlink("src/p1/file1.txt", ws.path("link")))
	whole("a link made anew", false)
	// which read no file: the next capture takes its tree whole.
	whole("nothing changed since the link", true)

	// Every file has its record (read again only if written in the
	// second it was recorded: racy). This capture also takes the secret
	// file the watcher's leave out, so it changes the stat cache.
	plain := &worktree.Capture{Root: ws.dir, Store: ws.s, IncludeSecrets: true}
	tree(t, ws.s, plain)
	if st := plain.Stats(); st.CacheHits+st.Racy+1 != st.Files || st.Hashed != st.Racy+1 {
		t.Errorf("a capture without the watcher after captures taken whole: %+v, want every file but .env from the stat cache", st)
	}
	whole("after a capture without the watcher", false)
	whole("nothing changed after that", true)

	_, err := ws.s.Blobs().PutBytes(ctx, []byte("a blob no image names"))
	must(t, err)
	if _, err := ws.s.GC(ctx, pf.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	whole("after gc", false)
}

// TestWatcher_RestoredFilesTakenUnread: the capture after a restore takes
// the files the restore wrote without reading them, unless anything
// touched them since (a write in the same tick, of the same size, an
// editor's rename over one, a chmod, a delete): each capture is the tree
// a capture that reads everything makes.
func TestWatcher_RestoredFilesTakenUnread(t *testing.T) {
	const rel = "src/p1/q1/f.go" // "package q1" in the first image
	for _, tc := range []struct {
		name   string
		change func(ws *workspace)
		unread int // files taken unread, of the restore's 3
	}{
		{"untouched", func(*workspace) {}, 3},
		{"rewritten at once, same size", func(ws *workspace) { write(t, ws.dir, rel, "package X1") }, 2},
		{"renamed over by an editor", func(ws *workspace) {
			write(t, ws.dir, rel+".swp", "package Y1")
			must(t, os.Rename(ws.path(rel+".swp"), ws.path(rel)))
		}, 2},
		{"made executable", func(ws *workspace) { must(t, os.Chmod(ws.path(rel), 0o755)) }, 2},
		{"deleted and written again", func(ws *workspace) {
			must(t, os.Remove(ws.path(rel)))
			write(t, ws.dir, rel, "package q1")
		}, 2},
		{"its directory moved away, written there, moved back", func(ws *workspace) {
			must(t, os.Rename(ws.path("src/p1/q1"), ws.path("src/q1-moved")))
			write(t, ws.dir, "src/q1-moved/f.go", "package X1")
			must(t, os.Rename(ws.path("src/q1-moved"), ws.path("src/p1/q1")))
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWorkspace(t)
			write(t, ws.dir, rel, "package second1")
			write(t, ws.dir, "src/p2/file2.txt", "second")
			write(t, ws.dir, "src/p4/q0/f.go", "package second0")
			ws.check("the second image", true)
			_, err := worktree.Restore(ctx, ws.s, ws.first, ws.dir, worktree.RestoreOptions{Changes: ws.w})
			must(t, err)
			tc.change(ws)
			ws.check("after the restore", true)
			if ws.stats.OwnWrites != tc.unread {
				t.Errorf("%d files taken unread as the restore wrote them, want %d (stats %+v)", ws.stats.OwnWrites, tc.unread, ws.stats)
			}
			// The next capture has them from the last one.
			ws.check("the capture after", true)
			if ws.stats.OwnWrites != 0 || ws.stats.Hashed != 0 {
				t.Errorf("the capture after: %d files taken as the restore wrote them, %d read, want none", ws.stats.OwnWrites, ws.stats.Hashed)
			}
		})
	}
}

// TestWatcher_RestoreKeepsWhatRulesInForceIgnore: a served restore takes
// the ignore rules of each directory from the capture it just made, and
// leaves a file that an ignore file made since the image ignores as it
// is, as a restore without the watcher does.
func TestWatcher_RestoreKeepsWhatRulesInForceIgnore(t *testing.T) {
	for _, served := range []bool{false, true} {
		t.Run(fmt.Sprint("served=", served), func(t *testing.T) {
			ws := newWorkspace(t)
			write(t, ws.dir, "src/p2/q1/.gitignore", "f.go\n")
			write(t, ws.dir, "src/p2/q1/f.go", "package mine")
			write(t, ws.dir, "src/p2/file1.txt", "changed")
			ws.check("an ignore file made", true)
			opts := worktree.RestoreOptions{}
			if served {
				opts.Changes = ws.w
			}
			_, err := worktree.Restore(ctx, ws.s, ws.first, ws.dir, opts)
			must(t, err)
			for rel, want := range map[string]string{"src/p2/q1/f.go": "package mine", "src/p2/file1.txt": "xxx"} {
				got, err := os.ReadFile(ws.path(rel))
				must(t, err)
				if string(got) != want {
					t.Errorf("%s holds %q after the restore, want %q", rel, got, want)
				}
			}
		})
	}
}

// TestWatcher_StatCacheForgetsDeletedFiles: the stat cache a watched
// capture saves drops the records of the files deleted since the last
// one, whatever the watched statuses between them met (each marks the
// records it meets, in the cache the next capture resumes).
func TestWatcher_StatCacheForgetsDeletedFiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses int // watched statuses between the deletion and the capture
	}{
		{name: "no status", statuses: 0},
		{name: "one status", statuses: 1},
		{name: "three statuses", statuses: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWorkspace(t)
			for i, gone := range []string{"src/p1/q2/f.go", "src/p3/file1.txt"} {
				for range tc.statuses {
					ws.checkStatus("before the deletion", ws.last)
				}
				must(t, os.Remove(ws.path(gone)))
				for range tc.statuses {
					ws.checkStatus("after the deletion", ws.last)
				}
				ws.check(fmt.Sprintf("deletion %d", i), true)
				var cached []string
				must(t, ws.s.FileCache(ws.dir).Load(ctx, func(r pf.FileRecord, stored bool) error {
					cached = append(cached, r.Path)
					return nil
				}))
				if slices.Contains(cached, gone) {
					t.Errorf("deletion %d: the stat cache still holds %s", i, gone)
				}
				if !slices.Contains(cached, "src/p0/q0/f.go") {
					t.Errorf("deletion %d: the stat cache lost src/p0/q0/f.go: %v", i, cached)
				}
			}
		})
	}
}

// TestWatcher_CaptureIsFull_LongListing: on a tree whose listing is cut
// into many chunks, a capture through the watcher gives the tree of a
// capture that walks and reads everything, after edits at the listing's
// start, middle and end.
func TestWatcher_CaptureIsFull_LongListing(t *testing.T) {
	ws := newWorkspace(t)
	for i := range 30 {
		for j := range 15 {
			write(t, ws.dir, fmt.Sprintf("pad/d%02d/a-file-with-a-longer-name-%02d.txt", i, j), fmt.Sprintf("padding %d %d", i, j))
		}
	}
	ws.check("padding written", true)
	steps := []struct {
		name   string
		change func()
	}{
		{"files edited at the start, middle and end", func() {
			write(t, ws.dir, ".env", "TOKEN=other")
			write(t, ws.dir, "pad/d15/a-file-with-a-longer-name-07.txt", "edited")
			write(t, ws.dir, "src/p5/q3/f.go", "package edited")
		}},
		{"files added", func() {
			write(t, ws.dir, "a-first.txt", "first")
			write(t, ws.dir, "pad/d15/added.txt", "added")
			write(t, ws.dir, "zz-last.txt", "last")
		}},
		{"files deleted", func() {
			must(t, os.Remove(ws.path("a-first.txt")))
			must(t, os.Remove(ws.path("pad/d20/a-file-with-a-longer-name-00.txt")))
		}},
		{"file renamed across the listing", func() {
			must(t, os.Rename(ws.path("pad/d01/a-file-with-a-longer-name-01.txt"), ws.path("src/p4/moved.txt")))
		}},
		{"modes changed", func() {
			must(t, os.Chmod(ws.path("pad/d10/a-file-with-a-longer-name-10.txt"), 0o755))
			must(t, os.Chmod(ws.path("pad/d11"), 0o700))
		}},
		{"directories removed", func() {
			must(t, os.RemoveAll(ws.path("pad/d05")))
			must(t, os.RemoveAll(ws.path("pad/d29")))
		}},
		{"nothing changed", func() {}},
		{"a directory made again", func() {
			write(t, ws.dir, "pad/d05/a-file-with-a-longer-name-00.txt", "made again")
		}},
	}
	for _, step := range steps {
		step.change()
		ws.check(step.name, true)
	}
}

// TestWatcher_CaptureIsFull_RandomTurns: over turns of random edits,
// adds, deletes, renames, mode changes and directories made and removed
// across a listing of some hundreds of entries, a served capture's tree
// digest, encoded from the last capture's (manifest.Tree.EncodeFrom),
// equals a fresh walk's.
func TestWatcher_CaptureIsFull_RandomTurns(t *testing.T) {
	ws := newWorkspace(t)
	for i := range 20 {
		for j := range 10 {
			write(t, ws.dir, fmt.Sprintf("pad/d%02d/f%02d.txt", i, j), fmt.Sprintf("padding %d %d", i, j))
		}
	}
	ws.check("padding written", true)
	rng := rand.New(rand.NewPCG(16, 3))
	files := func() []string { return regularFiles(t, ws.path("pad")) }
	newPath := func() string {
		return ws.path(fmt.Sprintf("pad/d%02d/n%03d.txt", rng.IntN(24), rng.IntN(1000)))
	}
	for turn := range 12 {
		for range 1 + rng.IntN(10) {
			paths := files()
			f := paths[rng.IntN(len(paths))]
			switch rng.IntN(8) {
			case 0, 1:
				appendTo(t, f, fmt.Sprintf("turn %d\n", turn))
			case 2:
				write(t, ws.dir, strings.TrimPrefix(newPath(), ws.dir+"/"), fmt.Sprint("new ", rng.Int()))
			case 3:
				must(t, os.Remove(f))
			case 4:
				to := newPath()
				must(t, os.MkdirAll(filepath.Dir(to), 0o755))
				must(t, os.Rename(f, to))
			case 5:
				must(t, os.Chmod(f, 0o600+os.FileMode(rng.IntN(0o200))))
			case 6:
				if rng.IntN(2) == 0 {
					must(t, os.RemoveAll(filepath.Dir(f)))
				} else {
					must(t, os.MkdirAll(ws.path(fmt.Sprintf("pad/e%02d", rng.IntN(5))), 0o755))
				}
			case 7:
				// Names beside a directory's that sort around its
				// entries' paths ("d03" < "d03/f" < "d03-x" <
				// "d03.lnk"), a file and a symbolic link.
				d := fmt.Sprintf("pad/d%02d", rng.IntN(24))
				if rng.IntN(2) == 0 {
					write(t, ws.dir, d+"-x", fmt.Sprint("beside ", rng.Int()))
				} else if err := os.Symlink(fmt.Sprint("target", rng.IntN(3)), ws.path(d+".lnk")); err != nil && !errors.Is(err, fs.ErrExist) {
					t.Fatal(err)
				}
			}
		}
		ws.check(fmt.Sprint("turn ", turn), true)
	}
}

func appendTo(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(s)
	must(t, errors.Join(err, f.Close()))
}

// TestWatcher_StatusKept: a status through the watcher keeps its
// changes for the next status, which any change reported since, of any
// kind, makes walk again; each status equals one without the watcher.
func TestWatcher_StatusKept(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(ws *workspace)
		hidden bool // the rules leave the change out of a status
	}{
		{"a file written, same size", func(ws *workspace) { write(t, ws.dir, "src/p2/file1.txt", "yyy") }, false},
		{"a file added", func(ws *workspace) { write(t, ws.dir, "src/p4/q1/new.go", "package new") }, false},
		{"a file removed", func(ws *workspace) { must(t, os.Remove(ws.path("src/p5/q3/f.go"))) }, false},
		{"a mode changed", func(ws *workspace) { must(t, os.Chmod(ws.path("README"), 0o755)) }, false},
		{"a directory made", func(ws *workspace) { must(t, os.Mkdir(ws.path("src/p0/q9"), 0o755)) }, false},
		{"a directory renamed", func(ws *workspace) { must(t, os.Rename(ws.path("src/p1/q2"), ws.path("src/p1/moved"))) }, false},
		{"a link retargeted", func(ws *workspace) {
			must(t, os.Remove(ws.path("link")))
			must(t, os.Symlink("README", ws.path("link")))
		}, false},
		{"an ignored file made", func(ws *workspace) { write(t, ws.dir, "node_modules/dep/more.js", "still ignored") }, true},
		{"a secret written", func(ws *workspace) { write(t, ws.dir, ".env", "TOKEN=other") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWorkspace(t)
			write(t, ws.dir, "src/p3/q0/f.go", "package changed")
			ws.checkStatus("before the change", ws.last)
			ws.checkStatus("nothing changed since the last status", ws.last)
			before, err := worktree.Status(ctx, ws.s, ws.last, ws.dir, worktree.StatusOptions{Changes: ws.w})
			must(t, err)
			tc.change(ws)
			ws.checkStatus("after the change", ws.last)
			ws.checkStatus("nothing changed since", ws.last)
			after, err := worktree.Status(ctx, ws.s, ws.last, ws.dir, worktree.StatusOptions{Changes: ws.w})
			must(t, err)
			if !tc.hidden && fmt.Sprint(before) == fmt.Sprint(after) {
				t.Errorf("the status after the change is the one before: %v", after)
			}
		})
	}
}

// TestWatcher_StatusKept_Invalidated: the changes a status keeps are
// given to the next capture only when nothing at all happened since
// that status began.
func TestWatcher_StatusKept_Invalidated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between func(ws *workspace)
		kept    bool
	}{
		{"nothing", func(ws *workspace) {}, true},
		{"a write", func(ws *workspace) { write(t, ws.dir, "README", "new") }, false},
		{"events lost", func(ws *workspace) { ws.w.lose() }, false},
		{"a capture", func(ws *workspace) {
			c := &worktree.Capture{Root: ws.dir, Store: ws.s, Changes: ws.w}
			_, err := ws.s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: c})
			must(t, err)
		}, false},
		{"a restore's expected rename", func(ws *workspace) { ws.w.Expect("README") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWorkspace(t)
			set, err := ws.w.Begin(ctx)
			must(t, err)
			set.End(nil)
			set.(worktree.KeptResult).Keep("changes")
			tc.between(ws)
			next, err := ws.w.Begin(ctx)
			must(t, err)
			defer next.End(nil)
			if got := next.(worktree.KeptResult).Kept(); (got == "changes") != tc.kept {
				t.Errorf("kept %v, want it given: %v", got, tc.kept)
			}
		})
	}
}

// TestWatcher_StatusKept_LateKeep: a status that keeps its changes once
// another capture began keeps nothing: that capture judged what changed
// since without them.
func TestWatcher_StatusKept_LateKeep(t *testing.T) {
	ws := newWorkspace(t)
	first, err := ws.w.Begin(ctx)
	must(t, err)
	first.End(nil)
	second, err := ws.w.Begin(ctx)
	must(t, err)
	second.End(nil)
	first.(worktree.KeptResult).Keep("late")
	third, err := ws.w.Begin(ctx)
	must(t, err)
	defer third.End(nil)
	if got := third.(worktree.KeptResult).Kept(); got != nil {
		t.Errorf("kept %v from a status another capture began after", got)
	}
}

// TestWatcher_StatusKept_Overflow: after events may have been lost, a
// status walks again, and sees a change that had no event (a write
// through a shared mapping) which the kept changes do not hold.
func TestWatcher_StatusKept_Overflow(t *testing.T) {
	ws := newWorkspace(t)
	const rel = "src/p1/file1.txt"
	write(t, ws.dir, rel, "written by a write")
	ws.checkStatus("a file written", ws.last)
	writeMapped(t, ws.path(rel), "WRITTEN")
	ws.w.lose()
	ws.checkStatus("after an overflow", ws.last)
}

// TestWatcher_StatusKept_ChangedBeforeFileWatch: a file a status met
// before it had a watch, changed before its watch was added, is looked
// at again by the next status.
func TestWatcher_StatusKept_ChangedBeforeFileWatch(t *testing.T) {
	ws := newWorkspace(t)
	defer beforeFileWatches.Store(nil)
	const rel = "src/p3/new.txt"
	write(t, ws.dir, rel, "made anew")
	written := changeBeforeFileWatches(t, ws, rel, func(outside string) error {
		return os.WriteFile(outside, []byte("written outside, longer"), 0o644)
	})
	_, err := worktree.Status(ctx, ws.s, ws.last, ws.dir, worktree.StatusOptions{Changes: ws.w})
	must(t, err)
	ws.w.StartFileWatches() // as pf serve does once the command answered
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the watches of the status's files were never added")
	}
	ws.checkStatus("the file written outside before its watch", ws.last)
}

// TestWatcher_ChangedBeforeDirWatch: a capture of a tree whose
// directories are older than the second it began in adds their watches
// once it ended (worktree.LaterDirWatches), as it does its files'; an
// entry made, removed or renamed, and a directory's mode changed, before
// those watches are in place had no event, and the next capture finds
// them all the same.
func TestWatcher_ChangedBeforeDirWatch(t *testing.T) {
	dir := t.TempDir()
	for i := range 4 {
		for j := range 4 {
			write(t, dir, fmt.Sprintf("src/p%d/q%d/f.go", i, j), fmt.Sprintf("package q%d", j))
		}
	}
	write(t, dir, "README", "readme")
	write(t, dir, ".env", "TOKEN=secret") // as newWorkspace's: check asks for it
	// Into the next second, past the kernel's coarse clock's tick.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	ws := watchWorkspace(t, dir)
	root, w := ws.dir, ws.w
	changed := make(chan struct{})
	hook := func([]string) {
		defer close(changed)
		w.mu.Lock()
		watched := len(w.watched)
		w.mu.Unlock()
		if watched != 0 {
			t.Errorf("%d paths watched before the capture's watches were added, want none", watched)
		}
		if err := errors.Join(
			os.WriteFile(filepath.Join(root, "src/p1/q2/new.go"), []byte("package new"), 0o644),
			os.RemoveAll(filepath.Join(root, "src/p2/q3")),
			os.Chmod(filepath.Join(root, "src/p3"), 0o700),
			os.Rename(filepath.Join(root, "README"), filepath.Join(root, "README.md")),
		); err != nil {
			t.Error(err)
		}
	}
	beforeFileWatches.Store(&hook)
	defer beforeFileWatches.Store(nil)
	// Not check, whose statuses would add the watches first.
	_, _, ws.first = treeID(t, ws.s, &worktree.Capture{Root: root, Store: ws.s, Changes: w})
	ws.last = ws.first
	w.StartFileWatches() // as pf serve does once the command answered
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("the watches of the capture's directories were never added")
	}
	ws.check("entries changed before their directories' watches", true)
}
