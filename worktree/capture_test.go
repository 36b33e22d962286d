package worktree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/manifest"
)

// oddTree has names and shapes that trip up naive walkers and encoders.
func oddTree() []node {
	deep := strings.Repeat("d/", 60) + "bottom.txt"
	return []node{
		{path: "plain.txt", content: "hello\n"},
		{path: "empty", content: ""},
		{path: "with space.txt", content: "space"},
		{path: "unicodé/日本語.md", content: "ünïcödé"},
		{path: "new\nline", content: "newline in the name"},
		{path: "tab\tand\"quote\\back", content: "escapes"},
		{path: "exec.sh", content: "#!/bin/sh\n", mode: 0o755},
		{path: "private", content: "secret", mode: 0o600},
		{path: "readonly", content: "ro", mode: 0o444},
		{path: "empty-dir/"},
		{path: "locked-dir/", mode: 0o555},
		{path: deep, content: "deep"},
		{path: "links/rel", link: "../plain.txt"},
		{path: "links/abs", link: "/etc/hostname"},
		{path: "links/dangling", link: "does/not/exist"},
		{path: "links/loop-a", link: "loop-b"},
		{path: "links/loop-b", link: "loop-a"},
		{path: "links/self", link: "self"},
		{path: "links/dir", link: "../unicodé"},
	}
}

func TestCapture_OddTree(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, oddTree()...)
	s := openStore(t)
	c := &Capture{Root: dir, Store: s}
	got := treeOf(t, s, snapshot(t, s, c))

	for _, n := range oddTree() {
		path := strings.TrimSuffix(n.path, "/")
		e, ok := got[path]
		if !ok {
			t.Errorf("%q missing from the tree", path)
			continue
		}
		switch {
		case strings.HasSuffix(n.path, "/"):
			want := n.mode
			if want == 0 {
				want = 0o755
			}
			if e.Kind != manifest.KindDir || e.Mode != want {
				t.Errorf("%q: kind %s mode %v, want dir %v", path, e.Kind, e.Mode, want)
			}
		case n.link != "":
			if e.Kind != manifest.KindSymlink || e.LinkTarget != n.link || e.Size != int64(len(n.link)) || blob(t, s, e.Blob) != n.link {
				t.Errorf("%q: %+v, want a symlink to %q", path, e, n.link)
			}
		default:
			want := n.mode
			if want == 0 {
				want = 0o644
			}
			if e.Kind != manifest.KindFile || e.Mode != want || e.Size != int64(len(n.content)) {
				t.Errorf("%q: kind %s mode %v size %d, want file %v size %d", path, e.Kind, e.Mode, e.Size, want, len(n.content))
			}
			if b := blob(t, s, e.Blob); b != n.content {
				t.Errorf("%q: content %q, want %q", path, b, n.content)
			}
		}
	}
	// The deep file's parents are all there, as directories.
	for p := "d"; strings.Count(p, "/") < 60; p += "/d" {
		if got[p].Kind != manifest.KindDir {
			t.Fatalf("%q: kind %q, want dir", p, got[p].Kind)
		}
	}
	st := c.Stats()
	if st.Files != 10 || st.Symlinks != 7 || st.Skipped != 0 {
		t.Errorf("stats %+v: want 10 files, 7 symlinks, none skipped", st)
	}
}

func TestCapture_Ignore(t *testing.T) {
	tree := []node{
		{path: ".gitignore", content: "*.log\n# a comment\n\nbuild/\n!keep.log\n/rooted.txt\n"},
		{path: "app.log", content: "x"},
		{path: "keep.log", content: "x"},
		{path: "build/out.o", content: "x"},
		{path: "src/build", content: "a file named build is not a build/ directory"},
		{path: "rooted.txt", content: "x"},
		{path: "src/rooted.txt", content: "only the root one is ignored"},
		{path: "src/.gitignore", content: "gen/\n"},
		{path: "src/gen/x.go", content: "x"},
		{path: "gen/x.go", content: "the nested rule stays in src/"},
		{path: "pf/.pfignore", content: "*.tmp\n"},
		{path: "pf/.gitignore", content: "*.txt\n"},
		{path: "pf/a.tmp", content: ".pfignore wins over .gitignore"},
		{path: "pf/a.txt", content: "so .gitignore here is not read"},
		{path: ".git/HEAD", content: "ref: refs/heads/main\n"},
		{path: "pkg/__pycache__/m.pyc", content: "x"},
		{path: "node_modules/.cache/big", content: "x"},
		{path: "node_modules/left-pad/index.js", content: "x"},
		{path: "a/node_modules/.cache/big", content: "x"},
		{path: ".pfcid", content: "sha256:..."},
		{path: "sub/.pfcid", content: "the reference's sentinel, at any depth"},
		// The reference's defaults match whole path components.
		{path: "target/debug/app", content: "x"},
		{path: "src/targeted/keep.rs", content: "a component that only starts with target"},
		{path: "docs/target", content: "a file named target is ignored too"},
		{path: "py/.venv/bin/python", content: "x"},
		{path: "py/m.pyo", content: "x"},
		{path: ".coverage", content: "x"},
		{path: "py/.tox/log", content: "x"},
		{path: "py/venv/keep.py", content: "x"},
	}
	for _, tc := range []struct {
		name       string
		ignore     []string
		noDefaults bool
		want       []string // files in the tree
	}{
		{
			name: "defaults",
			want: []string{".gitignore", "keep.log", "src/build", "src/rooted.txt", "src/.gitignore", "gen/x.go",
				"pf/.pfignore", "pf/.gitignore", "pf/a.txt", "src/targeted/keep.rs", "py/venv/keep.py"},
		},
		{
			name:       "no default ignores",
			noDefaults: true,
			want: []string{".gitignore", "keep.log", "src/build", "src/rooted.txt", "src/.gitignore", "gen/x.go",
				"pf/.pfignore", "pf/.gitignore", "pf/a.txt", "node_modules/left-pad/index.js", "sub/.pfcid",
				".git/HEAD", "pkg/__pycache__/m.pyc", "node_modules/.cache/big", "a/node_modules/.cache/big",
				"target/debug/app", "src/targeted/keep.rs", "docs/target", "py/.venv/bin/python", "py/m.pyo",
				".coverage", "py/.tox/log", "py/venv/keep.py"},
		},
		{
			name:   "command-line patterns win",
			ignore: []string{"!app.log", "gen/", "*.py", "!node_modules/"},
			want: []string{".gitignore", "keep.log", "app.log", "src/build", "src/rooted.txt", "src/.gitignore",
				"pf/.pfignore", "pf/.gitignore", "pf/a.txt", "src/targeted/keep.rs", "node_modules/left-pad/index.js",
				"node_modules/.cache/big", "a/node_modules/.cache/big"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			build(t, dir, tree...)
			s := openStore(t)
			c := &Capture{Root: dir, Store: s, Ignore: tc.ignore, NoDefaultIgnores: tc.noDefaults}
			got := treeOf(t, s, snapshot(t, s, c))
			var files []string
			for p, e := range got {
				if e.Kind == manifest.KindFile {
					files = append(files, p)
				}
			}
			want := map[string]bool{}
			for _, p := range tc.want {
				want[p] = true
				if got[p].Kind != manifest.KindFile {
					t.Errorf("%q missing", p)
				}
			}
			for _, p := range files {
				if !want[p] {
					t.Errorf("%q captured, want it ignored", p)
				}
			}
		})
	}
}

func TestCapture_Unreadable(t *testing.T) {
	t.Run("permissions", func(t *testing.T) {
		if isRoot() {
			t.Skip("running as root, which reads files and directories of mode 0000; the simulated case below covers the code path")
		}
		dir := t.TempDir()
		build(t, dir, node{path: "ok", content: "ok"}, node{path: "secret", content: "x", mode: 0}, node{path: "closed/inside", content: "x"})
		os.Chmod(filepath.Join(dir, "secret"), 0)
		os.Chmod(filepath.Join(dir, "closed"), 0)
		t.Cleanup(func() { os.Chmod(filepath.Join(dir, "closed"), 0o755) })
		s := openStore(t)
		var warned warnings
		got := treeOf(t, s, snapshot(t, s, &Capture{Root: dir, Store: s, Warn: warned.add}))
		for _, p := range []string{"secret", "closed"} {
			if !errors.Is(warned.get(p), errUnreadable) {
				t.Errorf("%q: warning %v, want %v", p, warned.get(p), errUnreadable)
			}
			if _, ok := got[p]; ok {
				t.Errorf("%q is in the tree", p)
			}
		}
	})
	t.Run("simulated", func(t *testing.T) {
		dir := t.TempDir()
		build(t, dir, node{path: "ok", content: "ok"}, node{path: "secret", content: "x"}, node{path: "closed/inside", content: "x"})
		denied := func(path string) error { return &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES} }
		s := openStore(t)
		var warned warnings
		c := &Capture{Root: dir, Store: s, Warn: warned.add, hooks: &testHooks{
			openFile: func(path string) (*os.File, error) {
				if filepath.Base(path) == "secret" {
					return nil, denied(path)
				}
				return openForRead(path)
			},
			readDirFunc: func(path string) ([]fs.DirEntry, error) {
				if filepath.Base(path) == "closed" {
					return nil, denied(path)
				}
				return os.ReadDir(path)
			},
		}}
		got := treeOf(t, s, snapshot(t, s, c))
		for _, p := range []string{"secret", "closed"} {
			if !errors.Is(warned.get(p), errUnreadable) {
				t.Errorf("%q: warning %v, want %v", p, warned.get(p), errUnreadable)
			}
			if _, ok := got[p]; ok {
				t.Errorf("%q is in the tree", p)
			}
		}
		if _, ok := got["ok"]; !ok {
			t.Error("ok missing")
		}
	})
}

func TestCapture_VanishDuringWalk(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, node{path: "stays", content: "x"}, node{path: "goes", content: "x"}, node{path: "gone-dir/f", content: "x"})
	s := openStore(t)
	var warned warnings
	c := &Capture{Root: dir, Store: s, Warn: warned.add, hooks: &testHooks{
		// Each is deleted between the directory listing and its open.
		openFile: func(path string) (*os.File, error) {
			if filepath.Base(path) == "goes" {
				os.Remove(path)
			}
			return openForRead(path)
		},
		readDirFunc: func(path string) ([]fs.DirEntry, error) {
			if filepath.Base(path) == "gone-dir" {
				os.RemoveAll(path)
			}
			return os.ReadDir(path)
		},
	}}
	got := treeOf(t, s, snapshot(t, s, c))
	for _, p := range []string{"goes", "gone-dir"} {
		if !errors.Is(warned.get(p), errVanished) {
			t.Errorf("%q: warning %v, want %v", p, warned.get(p), errVanished)
		}
	}
	if len(got) != 1 || got["stays"].Kind != manifest.KindFile {
		t.Errorf("tree %v, want stays alone", got)
	}
}

func TestCapture_FileChangesWhileRead(t *testing.T) {
	t.Run("read again", func(t *testing.T) {
		dir := t.TempDir()
		build(t, dir, node{path: "busy", content: "first version"})
		s := openStore(t)
		c := &Capture{Root: dir, Store: s, hooks: &testHooks{
			afterReadFn: func(path string, attempt int) {
				if attempt == 1 {
					os.WriteFile(path, []byte("second, longer version"), 0o644)
				}
			},
		}}
		got := treeOf(t, s, snapshot(t, s, c))
		if b := blob(t, s, got["busy"].Blob); b != "second, longer version" || got["busy"].Size != int64(len(b)) {
			t.Errorf("busy: %q (size %d), want the second version", b, got["busy"].Size)
		}
		if c.Stats().Reread != 1 {
			t.Errorf("reread %d, want 1", c.Stats().Reread)
		}
	})
	// A file that never settles (a log being appended) is stored as its
	// last read got it, bounded by its size when that read began: bytes
	// that were in the file, and their size. Strict fails instead.
	t.Run("never quiet", func(t *testing.T) {
		dir := t.TempDir()
		build(t, dir, node{path: "busy", content: "line 0\n"}, node{path: "calm", content: "calm"})
		s := openStore(t)
		var n atomic.Int64
		var warned warnings
		c := &Capture{Root: dir, Store: s, Warn: warned.add, hooks: &testHooks{
			afterReadFn: func(path string, attempt int) {
				if filepath.Base(path) == "busy" {
					f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
					fmt.Fprintf(f, "line %d\n", n.Add(1))
					f.Close()
				}
			},
		}}
		got := treeOf(t, s, snapshot(t, s, c))
		b := blob(t, s, got["busy"].Blob)
		if b != "line 0\nline 1\n" || got["busy"].Size != int64(len(b)) {
			t.Errorf("busy: %q (size %d), want what the second read saw", b, got["busy"].Size)
		}
		if err := warned.get("busy"); !errors.Is(err, ErrChangedWhileRead) || !strings.Contains(err.Error(), "stored the 14 bytes read") {
			t.Errorf("busy: warning %v", err)
		}
	})
	t.Run("never quiet, strict", func(t *testing.T) {
		dir := t.TempDir()
		build(t, dir, node{path: "busy", content: "0"}, node{path: "calm", content: "calm"})
		s := openStore(t)
		var n atomic.Int64
		c := &Capture{Root: dir, Store: s, Strict: true, hooks: &testHooks{
			afterReadFn: func(path string, attempt int) {
				if filepath.Base(path) == "busy" {
					os.WriteFile(path, fmt.Appendf(nil, "%d", n.Add(1)), 0o644)
				}
			},
		}}
		_, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: c})
		if err == nil || !strings.Contains(err.Error(), `"busy" changed while it was read`) {
			t.Fatalf("snapshot: %v, want an error naming busy", err)
		}
		if images(t, s) != 0 {
			t.Error("an image was committed")
		}
	})
}

// TestCapture_ConcurrentAppender snapshots a file while another goroutine
// appends to it: each snapshot holds bytes the file had (a prefix of what
// it ends as) and their size, with a warning when it changed as it was
// read.
func TestCapture_ConcurrentAppender(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	build(t, dir, node{path: "log", content: ""})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		// Bounded, so that a fast disk does not fill: 4,000 lines of 4 KB,
		// with a pause now and then so that snapshots overlap the writes.
		line := []byte(strings.Repeat("x", 4000) + "\n")
		for i := range 4000 {
			select {
			case <-stop:
				return
			default:
				f.Write(line)
			}
			if i%16 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	s := openStore(t)
	var versions []string
	live := 0
	for range 20 {
		var warned warnings
		id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: &Capture{Root: dir, Store: s, Warn: warned.add}})
		if err != nil {
			t.Fatal(err) // a live file never fails a capture that is not strict
		}
		if w := warned.get("log"); w != nil {
			if !errors.Is(w, ErrChangedWhileRead) {
				t.Fatalf("log: warning %v", w)
			}
			live++
		}
		e := treeOf(t, s, id)["log"]
		b := blob(t, s, e.Blob)
		if int64(len(b)) != e.Size {
			t.Fatalf("size %d, blob of %d bytes", e.Size, len(b))
		}
		versions = append(versions, b)
	}
	close(stop)
	wg.Wait()
	final, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		if !strings.HasPrefix(string(final), v) {
			t.Fatalf("a snapshot holds %d bytes that the file never had", len(v))
		}
	}
	t.Logf("%d snapshots, each a prefix of the file; %d stored as read while it changed", len(versions), live)
}

func TestCapture_LeavesOutItsOwnStore(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, node{path: "work.txt", content: "x"}, node{path: "deep/a/b/work.txt", content: "y"})
	s, err := pf.Open(filepath.Join(dir, "store.pf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A hard link to the store, in a directory of its own, is the store
	// file too; the walk lists neither with a stat, as it reads every file
	// the stat cache does not know, and must tell them from the open file.
	if err := os.Link(filepath.Join(dir, "store.pf"), filepath.Join(dir, "deep/a/b/store-link.pf")); err != nil {
		t.Fatal(err)
	}
	for _, capture := range []string{"first", "second, with the stat cache"} {
		var warned warnings
		got := treeOf(t, s, snapshot(t, s, &Capture{Root: dir, Store: s, Warn: warned.add}))
		for _, p := range []string{"store.pf", "deep/a/b/store-link.pf"} {
			if _, ok := got[p]; ok || !errors.Is(warned.get(p), errStoreFile) {
				t.Errorf("%s capture: %s captured (warning %v)", capture, p, warned.get(p))
			}
		}
		if e := got["deep/a/b/work.txt"]; string(blob(t, s, e.Blob)) != "y" {
			t.Errorf("%s capture: deep/a/b/work.txt is %v", capture, e)
		}
	}
}

// TestCapture_DeepTree captures files above and below maxHeldDepth,
// where the walk stops keeping directories open and opens files by their
// whole path, each on a first capture and on one with the stat cache.
func TestCapture_DeepTree(t *testing.T) {
	dir := t.TempDir()
	var nodes []node
	want := map[string]string{}
	for _, depth := range []int{1, maxHeldDepth - 1, maxHeldDepth, maxHeldDepth + 5} {
		p := strings.Repeat("d/", depth) + "f.txt"
		want[p] = fmt.Sprintf("at depth %d", depth)
		nodes = append(nodes, node{path: p, content: want[p]})
	}
	build(t, dir, nodes...)
	s := openStore(t)
	for _, capture := range []string{"first", "second, with the stat cache"} {
		got := treeOf(t, s, snapshot(t, s, &Capture{Root: dir, Store: s}))
		for p, content := range want {
			if e, ok := got[p]; !ok || string(blob(t, s, e.Blob)) != content {
				t.Errorf("%s capture: %s is %v", capture, p, e)
			}
		}
	}
}

func TestCapture_Root(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, node{path: "real/f", content: "x"}, node{path: "link", link: "real"}, node{path: "file", content: "x"})
	s := openStore(t)
	// A link as the root is followed.
	if got := treeOf(t, s, snapshot(t, s, &Capture{Root: filepath.Join(dir, "link"), Store: s})); got["f"].Kind != manifest.KindFile {
		t.Errorf("through a root link: %v", got)
	}
	for _, root := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "file")} {
		if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: &Capture{Root: root}}); err == nil || !strings.Contains(err.Error(), root) {
			t.Errorf("root %s: %v, want an error naming it", root, err)
		}
	}
}

func TestCapture_Env(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t)
	c := &Capture{Root: dir, Cwd: "/work", Environ: []string{"HOME=/root", "GITHUB_TOKEN=ghp_x"}}
	id := snapshot(t, s, c)
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := blob(t, s, img.Manifest.World.Env); got != `{"kind":"env.v1","cwd":"/work","vars":{"GITHUB_TOKEN":"<redacted>","HOME":"/root"}}` {
		t.Errorf("env %s", got)
	}
	// As the reference's CLI writes it (pf-cli/src/commands/snapshot.rs).
	os := map[string]string{"darwin": "macos"}[runtime.GOOS]
	if os == "" {
		os = runtime.GOOS
	}
	want := `{"kind":"procs.unsupported.v1","note":"pf snapshot does not capture in-flight subprocesses without the CRIU adapter","unsupported_on":"` + os + `"}`
	if got := blob(t, s, img.Manifest.World.Procs); got != want {
		t.Errorf("procs %s, want %s", got, want)
	}
}

// TestCapture_MemoryBounded captures a 1 GiB file (sparse, so the test
// is cheap on disk): the heap stays far below the file's size, because
// files are streamed into the store a chunk at a time. What is live is
// cas's budgets (a chunk buffer a core, the bytes a lease stages before
// it spills), about 30 MiB; the heap in use also counts the garbage of
// bbolt's copy of each write until the collector runs.
func TestCapture_MemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 256 MiB")
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "huge"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 30
	if err := f.Truncate(size); err != nil {
		t.Skipf("no sparse file here: %v", err)
	}
	f.Close()
	s := openStore(t)
	// The heap in use counts garbage until the collector runs, which
	// other packages' tests on the same cores can delay: a collector that
	// runs at a quarter more than what is live keeps the figure near the
	// live set this test is about.
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	got := treeOf(t, s, snapshot(t, s, &Capture{Root: dir, Store: s}))
	close(done)
	if got["huge"].Size != size {
		t.Fatalf("huge: %+v", got["huge"])
	}
	if p := peak.Load(); p > 96<<20 {
		t.Errorf("heap peaked at %d MiB capturing a %d MiB file", p>>20, size>>20)
	} else {
		t.Logf("heap peaked at %d MiB", p>>20)
	}
}

// TestForksOfAWorkspace: forks of a captured workspace name its layers and
// add only their manifests: twelve add well under 1% to the store.
func TestForksOfAWorkspace(t *testing.T) {
	dir := t.TempDir()
	var nodes []node
	for i := range 40 {
		nodes = append(nodes, node{path: fmt.Sprintf("src/f%02d.bin", i), content: string(castest.Payload(uint64(i), 50_000))})
	}
	build(t, dir, nodes...)
	s := openStore(t)
	id := snapshot(t, s, &Capture{Root: dir, Store: s})
	before, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 12 {
		m := *img.Manifest
		m.Parents = []manifest.Digest{id}
		m.Agent.Fingerprint = fmt.Sprintf("f+fork.%d", k+1)
		if _, err := s.CommitManifest(ctx, &m); err != nil {
			t.Fatal(err)
		}
	}
	after, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if grew := float64(after.Stored-before.Stored) / float64(before.Stored); grew >= 0.01 {
		t.Errorf("12 forks grew the store by %.2f%% (%d bytes)", 100*grew, after.Stored-before.Stored)
	} else {
		t.Logf("12 forks grew the store by %.3f%%", 100*grew)
	}
}
