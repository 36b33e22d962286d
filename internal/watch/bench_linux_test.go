package watch

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
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
	root, w, s, capture := servedTree(b, dir)
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

// BenchmarkWatcher_GorootTurn: pf serve's snapshot of an agent's turn on
// a tree shaped as $GOROOT/src (11,880 files of 4 KiB in 1,320
// directories), through the watcher, as pf-bench's checkpoints-goroot
// turn: 9 files appended to and one new file, then the snapshot. Its
// bytes allocated a turn are what a server whose heap still grows faults
// in fresh.
func BenchmarkWatcher_GorootTurn(b *testing.B) {
	dir := b.TempDir()
	files := writeGorootShaped(b, dir)
	root, _, s, capture := servedTree(b, dir)
	last, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture()})
	must(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for k := range 9 {
			rel := files[(i*9+k)*7919%len(files)]
			f, err := os.OpenFile(filepath.Join(root, rel), os.O_WRONLY|os.O_APPEND, 0)
			must(b, err)
			_, err = fmt.Fprintf(f, "// turn %d: an edit of %s\n", i, rel)
			must(b, errors.Join(err, f.Close()))
		}
		added := path.Join(path.Dir(files[i*104729%len(files)]), fmt.Sprintf("turn%03d.txt", i))
		write(b, root, added, strings.Repeat("lorem ipsum dolor ", 100))
		b.StartTimer()
		last, err = s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture(), Parents: []manifest.Digest{last}})
		must(b, err)
	}
}

// BenchmarkWatcher_Restore: pf serve's restore on a tree shaped as
// $GOROOT/src (11,880 files of 4 KiB in 1,320 directories), through the
// watcher: to the image 100 files back, then (not timed) forward again,
// as pf-bench's checkpoints-goroot restore step does. On ext4 without a
// journal (this project's machines), each restore's 100 new inodes cost
// more the more inodes were freed in the last minutes (the kernel's
// recently_deleted scan in find_inode_bit), so the time per restore grows
// with b.N: compare runs of the same -benchtime only.
func BenchmarkWatcher_Restore(b *testing.B) {
	dir := b.TempDir()
	files := writeGorootShaped(b, dir)
	root, w, s, capture := servedTree(b, dir)
	back, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture()})
	must(b, err)
	for k := range 100 {
		rel := files[k*7919%len(files)]
		must(b, os.WriteFile(filepath.Join(root, rel), []byte(fmt.Sprintf("edit of %s", rel)), 0o644))
	}
	latest, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture(), Parents: []manifest.Digest{back}})
	must(b, err)
	restore := func(id manifest.Digest) {
		res, err := worktree.Restore(ctx, s, id, root, worktree.RestoreOptions{Changes: w})
		must(b, err)
		if len(res.Changes) != 100 {
			b.Fatalf("restore: %d changes, want 100", len(res.Changes))
		}
	}
	restore(back)
	restore(latest)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		restore(back)
		b.StopTimer()
		restore(latest)
		b.StartTimer()
	}
}

// BenchmarkWatcher_RestoreAfterCheckpoint: pf serve's restore as
// pf-bench's checkpoints-goroot restore step runs it, on the tree of
// BenchmarkWatcher_Restore: each restore to the image 100 files back
// follows a checkpoint of the workspace (which moves its head), and is
// followed (not timed) by the restore forward and that checkpoint. A
// restore after a restore (BenchmarkWatcher_Restore) takes another way:
// the state the one before kept, not the checkpoint's capture.
func BenchmarkWatcher_RestoreAfterCheckpoint(b *testing.B) {
	dir := b.TempDir()
	files := writeGorootShaped(b, dir)
	root, w, s, capture := servedTree(b, dir)
	head := &pf.HeadRef{Dir: root}
	checkpoint := func() manifest.Digest {
		var parents []manifest.Digest
		if h, ok, err := s.Head(ctx, head.Dir, head.Session); err != nil {
			b.Fatal(err)
		} else if ok {
			parents = []manifest.Digest{h.ID}
		}
		id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture(), Parents: parents, Head: head, SkipUnchanged: true})
		must(b, err)
		return id
	}
	back := checkpoint()
	for k := range 100 {
		rel := files[k*7919%len(files)]
		must(b, os.WriteFile(filepath.Join(root, rel), []byte(fmt.Sprintf("edit of %s", rel)), 0o644))
	}
	latest := checkpoint()
	restore := func(id manifest.Digest) {
		res, err := worktree.Restore(ctx, s, id, root, worktree.RestoreOptions{Changes: w, Head: head})
		must(b, err)
		if len(res.Changes) != 100 {
			b.Fatalf("restore: %d changes, want 100", len(res.Changes))
		}
	}
	restore(back)
	restore(latest)
	checkpoint()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		restore(back)
		b.StopTimer()
		restore(latest)
		checkpoint()
		b.StartTimer()
	}
}

// servedTree watches the tree written in dir, as pf serve does, beside a
// new store, and returns the tree's root with the symlinks in its path
// resolved, and a capture of it through the watcher.
func servedTree(b *testing.B, dir string) (root string, w *Watcher, s *pf.Store, capture func() *worktree.Capture) {
	root, err := filepath.EvalSymlinks(dir)
	must(b, err)
	w, err = newWatcher(root)
	must(b, err)
	b.Cleanup(func() { w.Close() })
	s = openStore(b)
	return root, w, s, func() *worktree.Capture { return &worktree.Capture{Root: root, Store: s, Changes: w} }
}

// BenchmarkWatcher_FileWatches: the watches a served first checkpoint of
// a tree shaped as $GOROOT/src (11,880 files in 1,320 directories) adds
// to its files once the capture ended (watchFiles), on a watcher with
// none yet, the capture's memo checking each file once watched. They run
// beside the checkpoint's commit, on the cores its tail needs.
func BenchmarkWatcher_FileWatches(b *testing.B) {
	dir := b.TempDir()
	for i := range 40 {
		for j := range 33 {
			for k := range 9 {
				rel := fmt.Sprintf("d%02d/e%02d/f%d.go", i, j, k)
				write(b, dir, rel, "package f\n"+rel)
			}
		}
	}
	benchFileWatches(b, dir, 40*33*9)
}

// BenchmarkWatcher_FileWatchesDeep: as BenchmarkWatcher_FileWatches, on
// a tree shaped as pf-bench's 100,000 small files 20 levels deep (20
// files a directory, nested by the digits of its number), scaled to
// 20,000 files: a stat by the whole path walks 10 directories on
// average.
func BenchmarkWatcher_FileWatchesDeep(b *testing.B) {
	const files = 20_000
	dir := b.TempDir()
	writeDeepTree(b, dir, files, func(rel string, _ int) string { return "small file " + rel })
	benchFileWatches(b, dir, files)
}

// writeDeepTree writes n files into dir in the shape of pf-bench's
// 100,000 small files: 20 files a directory, nested 1 to 20 levels deep
// by the digits of the directory's number, each file's content made by
// content from its path and number.
func writeDeepTree(b *testing.B, dir string, n int, content func(rel string, f int) string) {
	const perDir, depth = 20, 20
	for i := 0; i < n; i += perDir {
		d := i / perDir
		parts := make([]string, 1+d%depth)
		for k := range parts {
			parts[k] = fmt.Sprintf("d%d", (d>>(2*k))&3)
		}
		for f := i; f < i+perDir; f++ {
			rel := path.Join(append(parts, fmt.Sprintf("f%06d.txt", f))...)
			write(b, dir, rel, content(rel, f))
		}
	}
}

// benchFileWatches times watchFiles on the n files of the tree in dir,
// as a served first checkpoint of it leaves them.
func benchFileWatches(b *testing.B, dir string, n int) {
	root, w, s, capture := servedTree(b, dir)
	var files []string
	hook := func(found []string) { files = slices.Clone(found) }
	beforeFileWatches.Store(&hook)
	defer beforeFileWatches.Store(nil)
	_, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture()})
	must(b, err)
	w.capture.Lock()
	w.StartFileWatches()
	<-w.filesWatched
	w.capture.Unlock()
	memo, ok := w.memo.(worktree.FileMemo)
	if !ok || len(files) != n {
		b.Fatalf("capture: memo %T, %d files, want %d", w.memo, len(files), n)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fresh, err := newWatcher(root)
		must(b, err)
		todo := slices.Clone(files)
		done := make(chan struct{})
		b.StartTimer()
		fresh.watchFiles(nil, todo, memo, done)
		b.StopTimer()
		if n := len(fresh.watched); n != len(files) {
			b.Fatalf("%d files watched, want %d", n, len(files))
		}
		must(b, fresh.Close())
	}
}

// writeGorootShaped writes a tree shaped as $GOROOT/src into dir (11,880
// files of 4 KiB in 1,320 directories, each file's bytes its own) and
// returns the files' paths, slash-separated, relative to dir.
func writeGorootShaped(b *testing.B, dir string) []string {
	var files []string
	body := make([]byte, 4096)
	for i := range 40 {
		for j := range 33 {
			for k := range 9 {
				rel := fmt.Sprintf("d%02d/e%02d/f%d.go", i, j, k)
				for n := range body {
					body[n] = byte('a' + (i*31+j*7+k+n)%26)
				}
				write(b, dir, rel, string(body))
				files = append(files, rel)
			}
		}
	}
	return files
}
