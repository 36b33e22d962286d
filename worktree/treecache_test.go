package worktree

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// uncachedFS is the world.fs digest of dir captured now with no stat
// cache: every file read.
func uncachedFS(t *testing.T, dir string, c Capture) manifest.Digest {
	t.Helper()
	s := openStore(t)
	c.Store = nil
	return worldFS(t, s, snapshot(t, s, &c))
}

// TestCapture_TreeFromCache: a capture that finds every file, directory
// and link as the last capture left them takes the tree's digest from the
// stat cache instead of encoding the tree; any change, however small,
// gives the tree a capture without a cache would give.
func TestCapture_TreeFromCache(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Capture // Ignore, IncludeSecrets: of the capture after the change
		change func(t *testing.T, dir string)
	}{
		{"nothing", Capture{}, func(*testing.T, string) {}},
		{"empty directory added", Capture{}, func(t *testing.T, dir string) { build(t, dir, node{path: "new/"}) }},
		{"empty directory removed", Capture{}, func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "empty"))) }},
		{"directory mode", Capture{}, func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, "src"), 0o700)) }},
		{"file mode", Capture{}, func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, "src/a.go"), 0o755)) }},
		{"link target", Capture{}, func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "link")))
			must(t, os.Symlink("src/b.go", filepath.Join(dir, "link")))
		}},
		{"file replaced by a link", Capture{}, func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "src/b.go")))
			must(t, os.Symlink("a.go", filepath.Join(dir, "src/b.go")))
		}},
		{"file added", Capture{}, func(t *testing.T, dir string) { build(t, dir, node{path: "src/c.go", content: "c"}) }},
		{"file removed", Capture{}, func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "src/b.go"))) }},
		{"file rewritten, same size", Capture{}, func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "src/a.go"), []byte("package A"), 0o644))
		}},
		{"ignore rule", Capture{Ignore: []string{"*.go"}}, func(*testing.T, string) {}},
		{"secrets included", Capture{IncludeSecrets: true}, func(*testing.T, string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			build(t, dir,
				node{path: "src/a.go", content: "package a"},
				node{path: "src/b.go", content: "package b"},
				node{path: "empty/"},
				node{path: "link", link: "src/a.go"},
				node{path: ".env", content: "TOKEN=x"},
			)
			age(t, dir)
			s := openStore(t)
			c := &Capture{Root: dir, Store: s}
			first := snapshot(t, s, c)
			if c.Stats().TreeCached {
				t.Fatal("first capture: tree from a cache that held none")
			}
			tc.change(t, dir)
			next := &Capture{Root: dir, Store: s, Ignore: tc.opts.Ignore, IncludeSecrets: tc.opts.IncludeSecrets}
			second := snapshot(t, s, next, first)
			got, want := worldFS(t, s, second), uncachedFS(t, dir, *next)
			if got != want {
				t.Fatalf("world.fs %s, want %s (the tree captured without a cache)", got.Short(), want.Short())
			}
			unchanged := tc.name == "nothing"
			if st := next.Stats(); st.TreeCached != unchanged {
				t.Errorf("TreeCached %v, want %v (%+v)", st.TreeCached, unchanged, st)
			}
			if unchanged && got != worldFS(t, s, first) {
				t.Error("unchanged directory, another tree")
			}
		})
	}
}

// TestCapture_TreeFromCache_Racy: a file rewritten in the second the
// cache saw it, its stat the same as the cache's (as on a file system
// with coarse times), is read again, and its new bytes make a new tree
// rather than the cached one.
func TestCapture_TreeFromCache_Racy(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, node{path: "a", content: "aaaa"}, node{path: "b", content: "b"})
	age(t, dir)
	s := openStore(t)
	c := &Capture{Root: dir, Store: s}
	first := snapshot(t, s, c)

	// The file changes; the cache is made to hold its new stat with its
	// old digest: what a cache holds when the file changed within the
	// time granularity after it was hashed. Its mtime is ahead of the
	// clock (skewed), so that every capture finds it racy.
	p := filepath.Join(dir, "a")
	must(t, os.WriteFile(p, []byte("AAAA"), 0o644))
	ahead := time.Now().Add(time.Hour)
	must(t, os.Chtimes(p, ahead, ahead))
	fi, err := os.Lstat(p)
	must(t, err)
	root, err := filepath.EvalSymlinks(dir)
	must(t, err)
	forgeRecord(t, s, root, "a", cacheEntry{stat: statOf(fi), recorded: time.Now().UnixNano(), digest: manifest.Sum([]byte("aaaa"))})

	second := snapshot(t, s, c, first)
	st := c.Stats()
	if st.Racy != 1 || st.TreeCached {
		t.Errorf("%+v: want a read again as racy, and no tree from the cache", st)
	}
	if got := treeOf(t, s, second)["a"]; blob(t, s, got.Blob) != "AAAA" {
		t.Errorf("a holds %q, want the new bytes", blob(t, s, got.Blob))
	}

	// Read again and found the same, a racy file leaves the tree cached.
	third := snapshot(t, s, c, second)
	if st := c.Stats(); st.Racy != 1 || !st.TreeCached || worldFS(t, s, third) != worldFS(t, s, second) {
		t.Errorf("%+v: a racy file read again and found the same, want the tree from the cache", st)
	}
}

// forgeRecord replaces path's record in root's stat cache, keeping the
// cache's tree sealed, as a capture that recorded e would have.
func forgeRecord(t *testing.T, s *pf.Store, root, path string, e cacheEntry) {
	t.Helper()
	fc := s.FileCache(root)
	must(t, fc.Load(ctx, func(pf.FileRecord, bool) error { return nil }))
	tree, ok := fc.Tree()
	if !ok {
		t.Fatal("the cache holds no tree")
	}
	fc.SetTree(tree)
	must(t, fc.Save(ctx, nil, []pf.FileRecord{{Path: path, Stat: e.record(), Blob: e.digest}}, nil, nil))
	fc = s.FileCache(root)
	must(t, fc.Load(ctx, func(pf.FileRecord, bool) error { return nil }))
	if _, ok := fc.Tree(); !ok {
		t.Fatal("forging the record broke the cache's seal")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
