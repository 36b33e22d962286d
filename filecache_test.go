package pf_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// cachedWorld is a WorldCapture that keeps a file cache as package
// worktree does: it loads the cache, puts the files it does not find
// there, and saves the cache with the snapshot.
type cachedWorld struct {
	cache *pf.FileCache
	files map[string][]byte
	// loaded gets what Load passed; beforeSave runs between Load and
	// Save.
	loaded     map[string]bool
	beforeSave func()
}

func (w *cachedWorld) CaptureWorld(ctx context.Context, bw pf.BlobWriter) (manifest.World, error) {
	w.loaded = map[string]bool{}
	known := map[string]manifest.Digest{}
	if err := w.cache.Load(ctx, func(r pf.FileRecord, stored bool) error {
		w.loaded[r.Path] = stored
		if stored {
			known[r.Path] = r.Blob
		}
		return nil
	}); err != nil {
		return manifest.World{}, err
	}
	if w.beforeSave != nil {
		w.beforeSave()
	}
	var tree manifest.Tree
	var put []pf.FileRecord
	reached := map[manifest.Digest]int64{}
	for path, b := range w.files {
		d, ok := known[path]
		if ok && d == manifest.Sum(b) {
			reached[d] = int64(len(b))
		} else {
			var err error
			if d, err = bw.PutBytes(ctx, b); err != nil {
				return manifest.World{}, err
			}
			put = append(put, pf.FileRecord{Path: path, Stat: []byte("stat"), Blob: d})
		}
		tree.Entries = append(tree.Entries, manifest.Entry{Path: path, Mode: 0o644, Size: int64(len(b)), Kind: manifest.KindFile, Blob: d})
	}
	var del []string
	for path := range w.loaded {
		if _, ok := w.files[path]; !ok {
			del = append(del, path)
		}
	}
	if err := w.cache.Save(ctx, bw, put, del, reached); err != nil {
		return manifest.World{}, err
	}
	fs, err := pf.PutTree(ctx, bw, &tree)
	if err != nil {
		return manifest.World{}, err
	}
	return manifest.World{FS: fs, Env: fs, Procs: fs}, nil
}

// loadCache returns what s's cache of dir holds: path -> stored.
func loadCache(t *testing.T, s *pf.Store, dir string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	if err := s.FileCache(dir).Load(ctx, func(r pf.FileRecord, stored bool) error {
		got[r.Path] = stored
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestStore_FileCache_SavedWithTheSnapshot: a cache saved through a
// snapshot's writer changes with its commit, and not at all when the
// snapshot fails; each directory has its own.
func TestStore_FileCache_SavedWithTheSnapshot(t *testing.T) {
	s := openStore(t)
	w := &cachedWorld{cache: s.FileCache("/work/a"), files: map[string][]byte{"x": []byte("x1"), "dir/y": []byte("y1")}}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w, Trace: trace{fail: errors.New("boom")}}); err == nil {
		t.Fatal("snapshot with a failing trace committed")
	}
	if got := loadCache(t, s, "/work/a"); len(got) != 0 {
		t.Fatalf("a failed snapshot left %v in the cache", got)
	}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w}); err != nil {
		t.Fatal(err)
	}
	if got := loadCache(t, s, "/work/a"); len(got) != 2 || !got["x"] || !got["dir/y"] {
		t.Fatalf("cache after a snapshot: %v", got)
	}
	if got := loadCache(t, s, "/work/b"); len(got) != 0 {
		t.Fatalf("another directory's cache holds %v", got)
	}
	// The next capture takes x and y from the cache, changes nothing
	// else, and drops z.
	w.cache = s.FileCache("/work/a")
	w.files = map[string][]byte{"x": []byte("x1"), "z": []byte("z1")}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w}); err != nil {
		t.Fatal(err)
	}
	if !w.loaded["x"] || !w.loaded["dir/y"] {
		t.Fatalf("the second capture loaded %v", w.loaded)
	}
	if got := loadCache(t, s, "/work/a"); len(got) != 2 || !got["x"] || !got["z"] {
		t.Fatalf("cache after the second snapshot: %v", got)
	}
}

// TestStore_FileCache_GoneAfterGC: once gc has deleted the blob a record
// names, Load says so, though the cache was saved whole with a snapshot.
func TestStore_FileCache_GoneAfterGC(t *testing.T) {
	s := openStore(t)
	w := &cachedWorld{cache: s.FileCache("/work/a"), files: map[string][]byte{"old": []byte("old bytes"), "kept": []byte("kept")}}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w, CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Another image keeps only "kept"; the first goes, and gc with it
	// the blob of "old".
	other := world{files: map[string][]byte{"kept": []byte("kept")}}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, pf.PruneOptions{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.GC(ctx, pf.GCOptions{}); err != nil || rep.Blobs == 0 {
		t.Fatalf("gc: %+v, %v", rep, err)
	}
	got := loadCache(t, s, "/work/a")
	if got["old"] || !got["kept"] {
		t.Fatalf("cache after gc: %v, want old not stored and kept stored", got)
	}
}

// TestStore_FileCache_ReachedCheckedAgainAfterGC: a blob that Load found
// stored and that gc deleted before the commit is looked up again, and
// its absence fails the snapshot instead of committing an image with a
// hole.
func TestStore_FileCache_ReachedCheckedAgainAfterGC(t *testing.T) {
	s := openStore(t)
	first := &cachedWorld{cache: s.FileCache("/work/a"), files: map[string][]byte{"f": []byte("gone soon")}}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: first, CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: world{files: map[string][]byte{"g": []byte("g")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, pf.PruneOptions{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	w := &cachedWorld{cache: s.FileCache("/work/a"), files: first.files, beforeSave: func() {
		if _, err := s.GC(ctx, pf.GCOptions{}); err != nil {
			t.Error(err)
		}
	}}
	_, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w})
	if !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("snapshot naming a blob gc deleted after Load: %v, want ErrNotFound", err)
	}
	if !w.loaded["f"] {
		t.Fatal("Load did not find f stored before gc")
	}
	// Without gc in between, the same capture commits.
	w = &cachedWorld{cache: s.FileCache("/work/a"), files: map[string][]byte{"g": []byte("g"), "h": []byte("h")}}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w}); err != nil {
		t.Fatal(err)
	}
	w = &cachedWorld{cache: s.FileCache("/work/a"), files: map[string][]byte{"g": []byte("g"), "h": []byte("h")}}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w})
	if err != nil {
		t.Fatal(err)
	}
	if !w.loaded["g"] || !w.loaded["h"] {
		t.Fatalf("loaded %v", w.loaded)
	}
	if rep, err := s.Verify(ctx, pf.VerifyOptions{}); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	_ = id
}

// TestStore_FileCache_SaveWithoutSnapshot: through any other writer, Save
// writes at once.
func TestStore_FileCache_SaveWithoutSnapshot(t *testing.T) {
	s := openStore(t)
	stored, err := s.Blobs().PutBytes(ctx, []byte("stored bytes"))
	if err != nil {
		t.Fatal(err)
	}
	missing := manifest.Sum([]byte("never stored"))
	c := s.FileCache("/work/a")
	if err := c.Load(ctx, func(pf.FileRecord, bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
	err = c.Save(ctx, s.Blobs(), []pf.FileRecord{
		{Path: "z", Stat: []byte("stat z"), Blob: stored},
		{Path: "dir/x", Stat: []byte("stat x"), Blob: missing},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	if err := s.FileCache("/work/a").Load(ctx, func(r pf.FileRecord, ok bool) error {
		if !ok || string(r.Stat) != "stat "+r.Path[len(r.Path)-1:] {
			t.Errorf("loaded %s %q stored=%v", r.Path, r.Stat, ok)
		}
		paths = append(paths, r.Path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The record of a blob the store lacks is not kept.
	if !slices.Equal(paths, []string{"z"}) {
		t.Errorf("loaded %v, want [z]", paths)
	}
}

// TestStore_FileCache_Tree: the tree a Save sealed comes back from the
// next Load while the records are as that Save left them and its blob is
// stored; a save of other records without it, a deletion from the store,
// or a tree whose blob the store lacks leave none.
func TestStore_FileCache_Tree(t *testing.T) {
	s := openStore(t)
	stored, err := s.Blobs().PutBytes(ctx, []byte("a tree"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := s.Blobs().PutBytes(ctx, []byte("a file"))
	if err != nil {
		t.Fatal(err)
	}
	tree := pf.CacheTree{Blob: stored, Rest: manifest.Sum([]byte("dirs"))}
	save := func(tree *pf.CacheTree, records ...pf.FileRecord) {
		t.Helper()
		c := s.FileCache("/work/a")
		if err := c.Load(ctx, func(pf.FileRecord, bool) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if tree != nil {
			c.SetTree(*tree)
		}
		if err := c.Save(ctx, s.Blobs(), records, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	loaded := func() (pf.CacheTree, bool) {
		t.Helper()
		c := s.FileCache("/work/a")
		if err := c.Load(ctx, func(pf.FileRecord, bool) error { return nil }); err != nil {
			t.Fatal(err)
		}
		return c.Tree()
	}
	if _, ok := loaded(); ok {
		t.Fatal("a tree in an empty cache")
	}
	save(&tree, pf.FileRecord{Path: "f", Stat: []byte("stat"), Blob: file})
	if got, ok := loaded(); !ok || got != tree {
		t.Fatalf("Tree() = %v %v, want the tree saved", got, ok)
	}
	if _, ok := s.FileCache("/work/b").Tree(); ok {
		t.Error("a tree in another directory's cache")
	}

	// Records saved without a tree: the seal no longer holds one.
	save(nil, pf.FileRecord{Path: "g", Stat: []byte("stat"), Blob: file})
	if _, ok := loaded(); ok {
		t.Error("a tree after a save without one")
	}

	// A tree whose blob the store lacks is not sealed.
	missing := pf.CacheTree{Blob: manifest.Sum([]byte("never stored"))}
	save(&missing)
	if _, ok := loaded(); ok {
		t.Error("a tree whose blob is not stored")
	}

	// Anything deleted from the store since: no tree.
	save(&tree)
	if _, ok := loaded(); !ok {
		t.Fatal("tree not saved")
	}
	other, err := s.Blobs().PutBytes(ctx, []byte("collected"))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := s.GC(ctx, pf.GCOptions{}); err != nil || rep.Blobs == 0 {
		t.Fatalf("gc: %+v %v (%s)", rep, err, other.Short())
	}
	if _, ok := loaded(); ok {
		t.Error("a tree after gc deleted blobs")
	}
}

// TestStore_FileCache_Groups: records kept a group per subdirectory come
// back as saved, after a save that adds to, replaces in and empties
// groups.
func TestStore_FileCache_Groups(t *testing.T) {
	s := openStore(t)
	digests, err := pf.PutAll(ctx, s.Blobs(), [][]byte{[]byte("one"), []byte("two")})
	if err != nil {
		t.Fatal(err)
	}
	one, two := digests[0], digests[1]
	load := func() (map[string]string, *pf.FileCache) {
		c := s.FileCache("/work/g")
		got := map[string]string{}
		if err := c.Load(ctx, func(r pf.FileRecord, stored bool) error {
			if !stored {
				t.Errorf("%s not stored", r.Path)
			}
			name := "one"
			if r.Blob == two {
				name = "two"
			}
			got[r.Path] = string(r.Stat) + " " + name
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got, c
	}
	_, c := load()
	first := []pf.FileRecord{
		{Path: "a/b/z", Stat: []byte("z1"), Blob: one},
		{Path: "a/x", Stat: []byte("x1"), Blob: one},
		{Path: "a/y", Stat: []byte("y1"), Blob: one},
		{Path: "top", Stat: []byte("t1"), Blob: two},
	}
	if err := c.Save(ctx, s.Blobs(), first, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, c := load()
	if want := map[string]string{"a/b/z": "z1 one", "a/x": "x1 one", "a/y": "y1 one", "top": "t1 two"}; !maps.Equal(got, want) {
		t.Fatalf("after the first save: %v, want %v", got, want)
	}
	c = s.FileCache("/work/g")
	if err := c.Load(ctx, func(pf.FileRecord, bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
	second := []pf.FileRecord{{Path: "a/w", Stat: []byte("w2"), Blob: two}, {Path: "a/y", Stat: []byte("y2"), Blob: two}}
	if err := c.Save(ctx, s.Blobs(), second, []string{"a/b/z"}, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = load()
	if want := map[string]string{"a/w": "w2 two", "a/x": "x1 one", "a/y": "y2 two", "top": "t1 two"}; !maps.Equal(got, want) {
		t.Fatalf("after the second save: %v, want %v", got, want)
	}
}
