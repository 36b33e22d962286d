package worktree

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// randomTree builds under dir a tree of about files files in directories
// up to 6 deep, with names that sort differently by byte and by path
// ("a", "a-b", "a.b"), links, empty directories, ignored files and
// secrets; the same seed builds the same tree.
func randomTree(t testing.TB, dir string, seed uint64, files int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 0))
	names := []string{"a", "a-b", "a.b", "a0", "b", "B", "node_modules", "x.log", ".env", "z", "é"}
	dirs := []string{""}
	nodes := []node{{path: ".gitignore", content: "*.log\nnode_modules/\n"}, {path: "empty/"}}
	used := map[string]bool{}
	for i := range files {
		d := dirs[r.IntN(len(dirs))]
		name := fmt.Sprintf("%s%d", names[r.IntN(len(names))], i%7)
		if r.IntN(4) == 0 {
			name = names[r.IntN(len(names))]
		}
		p := strings.TrimPrefix(d+"/"+name, "/")
		if used[p] {
			continue // built once, as it came first
		}
		used[p] = true
		switch n := r.IntN(20); {
		case n == 0 && strings.Count(p, "/") < 6:
			dirs = append(dirs, p)
			nodes = append(nodes, node{path: p + "/"})
		case n == 1:
			nodes = append(nodes, node{path: p, link: "../" + names[r.IntN(len(names))]})
		default:
			nodes = append(nodes, node{path: p, content: fmt.Sprintf("%d %s", r.Uint64(), strings.Repeat("x", r.IntN(300)))})
		}
	}
	build(t, dir, nodes...)
}

// TestCapture_WalksAgree captures a large random tree with the walk on one
// goroutine and on several, with the stat cache loaded before the walk,
// after it listed the tree, and beside it: every way gives the same tree,
// and the second capture takes every file from the stat cache.
func TestCapture_WalksAgree(t *testing.T) {
	dir := t.TempDir()
	randomTree(t, dir, 16, 4000)
	age(t, dir)
	ways := []struct {
		name  string
		procs int
		hooks testHooks
	}{
		{"serial, cache first", 1, testHooks{}},
		{"serial, cache after listing", 1, testHooks{loadCacheAfterListing: true}},
		{"serial, cache beside", 1, testHooks{loadCacheBeside: true}},
		{"parallel, cache first", 4, testHooks{}},
		{"parallel, cache after listing", 4, testHooks{loadCacheAfterListing: true}},
		{"parallel, cache beside", 4, testHooks{loadCacheBeside: true}},
	}
	type result struct {
		fs    [3]manifest.Digest
		stats [3]Stats
	}
	results := make([]result, len(ways))
	captures := make([]*Capture, len(ways))
	stores := make([]*pf.Store, len(ways))
	images := make([]manifest.Digest, len(ways))
	capture := func(i, round int) {
		w := ways[i]
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(w.procs))
		hooks := w.hooks
		c := captures[i]
		c.hooks = &hooks
		images[i] = snapshot(t, stores[i], c)
		results[i].fs[round] = worldFS(t, stores[i], images[i])
		results[i].stats[round] = c.Stats()
	}
	for i := range ways {
		stores[i] = openStore(t)
		captures[i] = &Capture{Root: dir, Store: stores[i]}
		capture(i, 0)
		capture(i, 1)
	}
	// Changed files, of the same size and not, aged so that the cache
	// may trust them; a new file and a removed one.
	old := time.Now().Add(-time.Hour)
	changed := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || d.Name() == ".gitignore" || changed > 40 {
			return err
		}
		changed++
		if changed%2 == 0 {
			return os.Remove(path)
		}
		if err := os.WriteFile(path, []byte(fmt.Sprint("changed ", changed)), 0o644); err != nil {
			return err
		}
		return os.Chtimes(path, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	build(t, dir, node{path: "new dir/new file", content: "new"})
	var statuses [][]Change
	for i := range ways {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(ways[i].procs))
			changes, err := Status(ctx, stores[i], images[i], dir, StatusOptions{})
			if err != nil {
				t.Fatal(err)
			}
			statuses = append(statuses, changes)
		}()
		capture(i, 2)
	}

	want := results[0]
	if want.fs[0] != want.fs[1] || want.fs[1] == want.fs[2] {
		t.Fatalf("%s: trees %v", ways[0].name, want.fs)
	}
	if st := want.stats[0]; st.Files < 1500 || st.Dirs < 100 || st.Symlinks < 50 || st.Ignored == 0 {
		t.Fatalf("%s: a tree too small to tell: %+v", ways[0].name, st)
	}
	for i, got := range results {
		if got.fs != want.fs {
			t.Errorf("%s: trees %v, want %v (%s)", ways[i].name, got.fs, want.fs, ways[0].name)
		}
		if st := got.stats[1]; st.Hashed != 0 || st.CacheHits != st.Files || st.Files != want.stats[1].Files {
			t.Errorf("%s: second capture %+v, want every file a cache hit", ways[i].name, st)
		}
		if st := got.stats[2]; st.CacheHits+st.Hashed != st.Files || st.Hashed > 22 || st.Hashed == 0 {
			t.Errorf("%s: capture after changes %+v", ways[i].name, st)
		}
		if len(statuses[i]) < 20 || fmt.Sprint(statuses[i]) != fmt.Sprint(statuses[0]) {
			t.Errorf("%s: status %v, want %v", ways[i].name, statuses[i], statuses[0])
		}
		if !slices.Equal(captures[i].Secrets(), captures[0].Secrets()) || len(captures[0].Secrets()) == 0 {
			t.Errorf("%s: secrets %v, want %v", ways[i].name, captures[i].Secrets(), captures[0].Secrets())
		}
	}
}
