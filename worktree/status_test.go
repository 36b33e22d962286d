package worktree

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/processfork/pf/manifest"
)

// TestStatus_ChangesSinceSnapshot checks Status against the tree of the
// snapshot it compares with: a change's old entry is the tree's entry,
// whether Status took the tree from the stat cache's records (files
// changed only) or read it (a directory added).
func TestStatus_ChangesSinceSnapshot(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, ws string)
		want   map[string]ChangeKind
	}{
		{"nothing", func(t *testing.T, ws string) {}, map[string]ChangeKind{}},
		{"touched", func(t *testing.T, ws string) {
			now := time.Now()
			must(t, os.Chtimes(filepath.Join(ws, "a.txt"), now, now))
		}, map[string]ChangeKind{}},
		{"same size", func(t *testing.T, ws string) {
			must(t, os.WriteFile(filepath.Join(ws, "a.txt"), []byte("AAAA"), 0o644))
		}, map[string]ChangeKind{"a.txt": Changed}},
		{"longer", func(t *testing.T, ws string) {
			must(t, os.WriteFile(filepath.Join(ws, "dir/b.txt"), []byte("bbbbbbbb"), 0o644))
		}, map[string]ChangeKind{"dir/b.txt": Changed}},
		{"mode only", func(t *testing.T, ws string) {
			must(t, os.Chmod(filepath.Join(ws, "run.sh"), 0o644))
		}, map[string]ChangeKind{"run.sh": ModeChanged}},
		{"deleted", func(t *testing.T, ws string) {
			must(t, os.Remove(filepath.Join(ws, "dir/c.txt")))
		}, map[string]ChangeKind{"dir/c.txt": Removed}},
		{"added", func(t *testing.T, ws string) {
			must(t, os.WriteFile(filepath.Join(ws, "dir/new.txt"), []byte("new"), 0o644))
		}, map[string]ChangeKind{"dir/new.txt": Added}},
		{"file and directory added", func(t *testing.T, ws string) {
			must(t, os.WriteFile(filepath.Join(ws, "a.txt"), []byte("aaaaa"), 0o644))
			must(t, os.Mkdir(filepath.Join(ws, "sub"), 0o755))
			must(t, os.WriteFile(filepath.Join(ws, "sub/f"), []byte("f"), 0o644))
		}, map[string]ChangeKind{"a.txt": Changed, "sub": Added, "sub/f": Added}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "mode only" && runtime.GOOS == "windows" {
				tt.want = map[string]ChangeKind{} // no executable bit
			}
			s := openStore(t)
			ws := t.TempDir()
			build(t, ws,
				node{path: "a.txt", content: "aaaa"},
				node{path: "run.sh", content: "#!/bin/sh", mode: 0o755},
				node{path: "dir/b.txt", content: "bbbb"},
				node{path: "dir/c.txt", content: "cccc"},
				node{path: "link", link: "a.txt"},
			)
			age(t, ws)
			base := snapshot(t, s, &Capture{Root: ws, Store: s})
			tree := treeOf(t, s, base)
			tt.change(t, ws)

			changes, err := Status(ctx, s, base, ws, StatusOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]ChangeKind{}
			for _, ch := range changes {
				got[ch.Path] = ch.Kind
				if ch.Kind != Added && ch.Old != tree[ch.Path] {
					t.Errorf("%s: old entry %+v, the tree's %+v", ch.Path, ch.Old, tree[ch.Path])
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("changes %v, want %v", got, tt.want)
			}
			for p, k := range tt.want {
				if got[p] != k {
					t.Errorf("%s: %v, want %v (all: %v)", p, got[p], k, got)
				}
			}
		})
	}
}

// treeOfRecords gives the tree of the walk's directories and links and of
// the records' files, in tree order, whichever of the records' files the
// walk met again (changed or not), lost or found new, names that sort
// differently by bytes and by ComparePaths included.
func TestTreeOfRecords_TreeOrder(t *testing.T) {
	dirs := []string{"a", "a/b", "a-b", "a.d"}
	records := []string{"a/x", "a/b/y", "a-b/z", "a.d/w", "a.txt", "a0", "z"}
	for _, tc := range []struct {
		name  string
		gone  []string // records' files the walk did not meet
		found []string // files the walk met that no record has
	}{
		{name: "all met"},
		{name: "some gone", gone: []string{"a/b/y", "a.txt"}},
		{name: "all gone", gone: records},
		{name: "new files", found: []string{"a/b/new", "b"}},
		{name: "gone and new", gone: []string{"a-b/z", "z"}, found: []string{"a-b/n", "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var current []manifest.Entry
			for _, d := range dirs {
				current = append(current, manifest.Entry{Path: d, Kind: manifest.KindDir, Mode: fs.ModeDir | 0o755})
			}
			current = append(current, manifest.Entry{Path: "a/link", Kind: manifest.KindSymlink, LinkTarget: "x"})
			cache := &statCache{entries: map[string]*loadedEntry{}}
			var want []manifest.Entry
			for i, p := range records {
				r := &loadedEntry{cacheEntry: cacheEntry{stat: fileStat{size: int64(i), mode: 0o644}, digest: manifest.Sum([]byte(p))}}
				cache.entries[p] = r
				want = append(want, r.fileEntry(p))
				if !slices.Contains(tc.gone, p) {
					// Met again, changed: the walk's entry is not the record's.
					current = append(current, manifest.Entry{Path: p, Kind: manifest.KindFile, Size: 1000, Mode: 0o600})
				}
			}
			for _, p := range tc.found {
				current = append(current, manifest.Entry{Path: p, Kind: manifest.KindFile})
			}
			for _, e := range current {
				if e.Kind != manifest.KindFile {
					want = append(want, e)
				}
			}
			sortWalked(current)
			slices.SortFunc(want, func(a, b manifest.Entry) int { return manifest.ComparePaths(a.Path, b.Path) })
			got := treeOfRecords(&manifest.Tree{Entries: current}, cache).Entries
			if !slices.EqualFunc(got, want, func(a, b manifest.Entry) bool {
				return a.Path == b.Path && a.Kind == b.Kind && a.Size == b.Size && a.Mode == b.Mode && a.Blob == b.Blob && a.LinkTarget == b.LinkTarget
			}) {
				t.Errorf("got\n%v\nwant\n%v", got, want)
			}
		})
	}
}
