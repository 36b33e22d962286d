package worktree

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

func TestStatCache_Lookup(t *testing.T) {
	recorded := time.Date(2026, 5, 5, 14, 11, 0, 500_000_000, time.UTC).UnixNano()
	base := fileStat{size: 10, mtime: recorded - 5e9, ctime: recorded - 5e9, ino: 7, dev: 1}
	d := manifest.Sum([]byte("content"))
	for _, tc := range []struct {
		name   string
		usable bool
		change func(*fileStat)
		want   lookupResult
	}{
		{"unchanged", true, func(*fileStat) {}, cacheHit},
		{"unusable entry", false, func(*fileStat) {}, cacheMiss},
		{"size", true, func(s *fileStat) { s.size++ }, cacheMiss},
		{"mtime", true, func(s *fileStat) { s.mtime++ }, cacheMiss},
		{"ctime", true, func(s *fileStat) { s.ctime++ }, cacheMiss},
		{"inode", true, func(s *fileStat) { s.ino++ }, cacheMiss},
		{"device", true, func(s *fileStat) { s.dev++ }, cacheMiss},
		// Same stat, but the file was modified in the second the cache
		// looked, or (clock skew) after: it could have changed since.
		{"racy: same second", true, func(s *fileStat) { s.mtime = recorded - 400_000_000 }, cacheRacy},
		{"racy: later", true, func(s *fileStat) { s.mtime = recorded + 2e9 }, cacheRacy},
		{"clean: second before", true, func(s *fileStat) { s.mtime = recorded - 600_000_000 }, cacheHit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := base
			tc.change(&st)
			entry := &loadedEntry{cacheEntry: cacheEntry{stat: st, recorded: recorded, digest: d}, usable: tc.usable}
			if tc.name == "size" || tc.name == "mtime" || tc.name == "ctime" || tc.name == "inode" || tc.name == "device" {
				entry.stat = base // the cache holds the old stat, the file has st
			}
			c := &statCache{entries: map[string]*loadedEntry{"f": entry}, epoch: 1}
			got, res := c.lookup("f", st)
			if res != tc.want || (res == cacheHit) != (got == d) {
				t.Errorf("lookup: %v %v, want %v", got.Short(), res, tc.want)
			}
			if entry.seenIn.Load() != c.epoch {
				t.Error("entry not marked seen")
			}
		})
	}
}

func TestCacheEntry_RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    cacheEntry
	}{
		{"extremes", cacheEntry{stat: fileStat{size: 1 << 40, mtime: -5, ctime: 1e18, ino: 1<<64 - 1, dev: 3, mode: fs.ModeSetuid | 0o755}, recorded: 42, digest: manifest.Sum([]byte("x"))}},
		{"far apart", cacheEntry{stat: fileStat{size: 0, mtime: math.MaxInt64, ctime: math.MinInt64, ino: 0, dev: 1<<64 - 1, mode: fs.ModeSymlink | fs.ModeType}, recorded: math.MinInt64, digest: manifest.Sum(nil)}},
		{"racy", cacheEntry{stat: fileStat{size: 9, mtime: 1733400000123456789, ino: 7, dev: 2049, mode: 0o644}, recorded: 1733400000900000000, digest: manifest.Sum([]byte("z"))}},
		{"clock set back", cacheEntry{stat: fileStat{size: 9, mtime: 1733400000123456789, ino: 7, dev: 2049, mode: 0o644}, recorded: 1733300000000000000, digest: manifest.Sum([]byte("z"))}},
		{"typical", cacheEntry{stat: fileStat{size: 1234, mtime: 1733400000123456789, ctime: 1733400000123456789, ino: 918273, dev: 2049, mode: 0o644}, recorded: 1733400005000000000, digest: manifest.Sum([]byte("y"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			b := e.record()
			if len(b) > statRecordMaxSize {
				t.Fatalf("%d bytes, want at most %d", len(b), statRecordMaxSize)
			}
			// Format 4 keeps of the time of the record its second's
			// distance from the mtime's, and with it lookup's verdict.
			got, ok := decodeCacheEntry(pf.FileRecord{Stat: b, Blob: e.digest})
			racy := func(e cacheEntry) bool { return unixSecond(e.stat.mtime) >= unixSecond(e.recorded) }
			if want := e; !ok || racy(got) != racy(e) || func() bool { got.recorded = want.recorded; return got != want }() {
				t.Errorf("decoded %+v %v, want %+v (racy %v)", got, ok, e, racy(e))
			}
			for _, bad := range [][]byte{nil, b[:len(b)-1], append(slices.Clone(b), 0), append([]byte{1}, b[1:]...)} {
				if _, ok := decodeCacheEntry(pf.FileRecord{Stat: bad, Blob: e.digest}); ok {
					t.Errorf("decoded %x", bad)
				}
			}
			// A format 4 record's seconds past the mtime are clamped to
			// -1..1: another count is not of this format.
			for _, seconds := range []int64{-2, 2, math.MaxInt64} {
				clamped := slices.Clone(b[:len(b)-binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(e.stat.mode))-1])
				clamped = binary.AppendVarint(clamped, seconds)
				clamped = binary.AppendUvarint(clamped, uint64(e.stat.mode))
				if _, ok := decodeCacheEntry(pf.FileRecord{Stat: clamped, Blob: e.digest}); ok {
					t.Errorf("decoded a record %d seconds past the mtime", seconds)
				}
			}
			// Format 3, the time of the record in nanoseconds, reads the same.
			ns := []byte{statRecordNsFormat}
			ns = binary.AppendUvarint(ns, uint64(e.stat.size))
			ns = binary.AppendVarint(ns, e.stat.mtime)
			ns = binary.AppendVarint(ns, e.stat.ctime-e.stat.mtime)
			ns = binary.AppendUvarint(ns, e.stat.ino)
			ns = binary.AppendUvarint(ns, e.stat.dev)
			ns = binary.AppendVarint(ns, e.recorded-e.stat.mtime)
			ns = binary.AppendUvarint(ns, uint64(e.stat.mode))
			if got, ok := decodeCacheEntry(pf.FileRecord{Stat: ns, Blob: e.digest}); !ok || got != e {
				t.Errorf("format 3: decoded %+v %v, want %+v", got, ok, e)
			}
			// Format 2, each field fixed, as an older pf wrote it, reads the same.
			fixed := []byte{statRecordFixedFormat}
			for _, n := range [...]uint64{uint64(e.stat.size), uint64(e.stat.mtime), uint64(e.stat.ctime), e.stat.ino, e.stat.dev, uint64(e.recorded)} {
				fixed = binary.BigEndian.AppendUint64(fixed, n)
			}
			fixed = binary.BigEndian.AppendUint32(fixed, uint32(e.stat.mode))
			if got, ok := decodeCacheEntry(pf.FileRecord{Stat: fixed, Blob: e.digest}); !ok || got != e {
				t.Errorf("format 2: decoded %+v %v, want %+v", got, ok, e)
			}
		})
	}
}

func TestStatCache_ReadsOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	var nodes []node
	for i := range 50 {
		nodes = append(nodes, node{path: fmt.Sprintf("src/f%02d", i), content: fmt.Sprintf("file %d", i)})
	}
	build(t, dir, nodes...)
	age(t, dir)
	s := openStore(t)

	c := &Capture{Root: dir, Store: s}
	first := snapshot(t, s, c)
	if st := c.Stats(); st.Hashed != 50 || st.CacheHits != 0 {
		t.Fatalf("first snapshot: %+v, want 50 files hashed", st)
	}
	second := snapshot(t, s, c, first)
	if st := c.Stats(); st.Hashed != 0 || st.CacheHits != 50 {
		t.Fatalf("unchanged tree: %+v, want 50 cache hits", st)
	}
	if worldFS(t, s, first) != worldFS(t, s, second) {
		t.Fatal("unchanged tree, other world.fs")
	}

	// Three files change, one of them keeping its size, and are aged
	// again so that the next snapshot can trust them. (Aging the others
	// would change their ctime, which the cache compares too.)
	old := time.Now().Add(-time.Hour)
	for i, content := range map[int]string{3: "FILE 3", 17: "changed, and longer", 42: ""} {
		p := filepath.Join(dir, "src", fmt.Sprintf("f%02d", i))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	third := snapshot(t, s, c, second)
	if st := c.Stats(); st.Hashed != 3 || st.CacheHits != 47 {
		t.Fatalf("3 files changed: %+v, want 3 hashed and 47 hits", st)
	}
	got := treeOf(t, s, third)
	for p, want := range map[string]string{"src/f03": "FILE 3", "src/f17": "changed, and longer", "src/f42": "", "src/f04": "file 4"} {
		if b := blob(t, s, got[p].Blob); b != want {
			t.Errorf("%s: %q, want %q", p, b, want)
		}
	}
	snapshot(t, s, c, third)
	if st := c.Stats(); st.Hashed != 0 {
		t.Errorf("after the changes were cached: %d hashed, want 0", st.Hashed)
	}
}

func TestStatCache_RacyCleanIsHashedAgain(t *testing.T) {
	s := openStore(t)
	var c *Capture
	// "fresh" must be written and first captured in the same second: a
	// first capture in the next second would trust it, rightly. Each try
	// starts early in a second, and one that ends in another is made
	// again in a new directory.
	for try := 1; ; try++ {
		if ns := time.Now().Nanosecond(); ns < 50e6 || ns > 400e6 {
			time.Sleep(time.Duration(1e9-ns) + 50*time.Millisecond)
		}
		second := time.Now().Unix()
		dir := t.TempDir()
		build(t, dir, node{path: "fresh", content: "written just now"}, node{path: "old", content: "old"})
		os.Chtimes(filepath.Join(dir, "old"), time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
		c = &Capture{Root: dir, Store: s}
		snapshot(t, s, c)
		if time.Now().Unix() == second {
			break
		}
		if try == 5 {
			t.Fatal("no write and capture in one second after 5 tries: the machine is too slow for this test")
		}
	}
	// "fresh" was modified in the second the cache saw it: not trusted,
	// however equal its stat.
	snapshot(t, s, c)
	if st := c.Stats(); st.Racy != 1 || st.Hashed != 1 || st.CacheHits != 1 {
		t.Errorf("%+v: want fresh hashed again as racy, old from the cache", st)
	}
}

// TestStatCache_FailedSnapshot: a snapshot that fails after its world was
// captured leaves cache entries whose blobs were never kept; the next
// snapshot must read those files again, not commit an image that names
// missing blobs.
func TestStatCache_FailedSnapshot(t *testing.T) {
	dir := t.TempDir()
	var nodes []node
	for i := range 20 {
		nodes = append(nodes, node{path: fmt.Sprintf("f%02d", i), content: fmt.Sprintf("file %d", i)})
	}
	build(t, dir, nodes...)
	age(t, dir)
	s := openStore(t)
	c := &Capture{Root: dir, Store: s}
	worldDone := make(chan struct{})
	_, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: signalWhenDone{c, worldDone}, Trace: failAfter{worldDone}})
	if !errors.Is(err, errTraceFailed) {
		t.Fatalf("snapshot: %v, want the trace's failure", err)
	}
	if c.Stats().Hashed != 20 {
		t.Fatalf("the world was not captured whole: %+v", c.Stats())
	}
	id := snapshot(t, s, c)
	if st := c.Stats(); st.Hashed != 20 {
		t.Errorf("after a failed snapshot: %+v, want every file hashed again", st)
	}
	if got := treeOf(t, s, id); blob(t, s, got["f07"].Blob) != "file 7" {
		t.Error("wrong content")
	}
}

type signalWhenDone struct {
	c    *Capture
	done chan struct{}
}

func (w signalWhenDone) CaptureWorld(ctx context.Context, bw pf.BlobWriter) (manifest.World, error) {
	defer close(w.done)
	return w.c.CaptureWorld(ctx, bw)
}

var errTraceFailed = errors.New("trace failed on purpose")

type failAfter struct{ done chan struct{} }

func (f failAfter) CaptureTrace(ctx context.Context, bw pf.BlobWriter) (manifest.Trace, error) {
	<-f.done
	return manifest.Trace{}, errTraceFailed
}

func TestStatCache_ForgetsVanishedFiles(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, node{path: "a", content: "a"}, node{path: "b", content: "b"}, node{path: "c", content: "c"})
	age(t, dir)
	s := openStore(t)
	c := &Capture{Root: dir, Store: s}
	snapshot(t, s, c)
	root, _ := filepath.EvalSymlinks(dir)
	if got := cachedPaths(t, s, root); len(got) != 3 {
		t.Fatalf("cached %v, want a, b, c", got)
	}
	os.Remove(filepath.Join(dir, "b"))
	snapshot(t, s, c)
	if got := cachedPaths(t, s, root); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("cached %v, want a and c", got)
	}
	// Another directory's entries are its own.
	other := t.TempDir()
	build(t, other, node{path: "a", content: "a"})
	snapshot(t, s, &Capture{Root: other, Store: s})
	if got := cachedPaths(t, s, root); len(got) != 2 {
		t.Errorf("cached %v after capturing another directory", got)
	}
}

func cachedPaths(t *testing.T, s *pf.Store, root string) []string {
	t.Helper()
	var paths []string
	err := s.FileCache(root).Load(ctx, func(r pf.FileRecord, stored bool) error {
		paths = append(paths, r.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}
