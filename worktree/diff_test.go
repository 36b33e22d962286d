package worktree

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/processfork/pf/manifest"
)

func TestDiffTrees(t *testing.T) {
	d := func(s string) manifest.Digest { return manifest.Sum([]byte(s)) }
	f := func(path, content string, mode os.FileMode) manifest.Entry {
		return manifest.Entry{Path: path, Mode: mode, Size: int64(len(content)), Kind: manifest.KindFile, Blob: d(content)}
	}
	l := func(path, target string) manifest.Entry {
		return manifest.Entry{Path: path, Mode: 0o777, Size: int64(len(target)), Kind: manifest.KindSymlink, Blob: d(target), LinkTarget: target}
	}
	a := &manifest.Tree{Entries: []manifest.Entry{
		f("same", "x", 0o644),
		f("edited", "old", 0o644),
		f("chmod", "x", 0o644),
		f("edited+chmod", "old", 0o644),
		f("gone", "bye", 0o644),
		l("link", "a"),
		f("becomes-link", "x", 0o644),
		{Path: "dir", Mode: 0o755, Kind: manifest.KindDir},
	}}
	b := &manifest.Tree{Entries: []manifest.Entry{
		f("same", "x", 0o644),
		f("edited", "new content", 0o644),
		f("chmod", "x", 0o755),
		f("edited+chmod", "new", 0o600),
		f("new", "hello", 0o644),
		l("link", "b"),
		l("becomes-link", "x"),
		{Path: "dir", Mode: 0o700, Kind: manifest.KindDir},
	}}
	got := DiffTrees(a, b)
	want := []string{
		"becomes-link changed +1 -1",
		"chmod mode-changed +0 -0",
		"dir mode-changed +0 -0",
		"edited changed +11 -3",
		"edited+chmod changed +3 -3",
		"gone removed +0 -3",
		"link changed +1 -1",
		"new added +5 -0",
	}
	var lines []string
	for _, c := range got {
		lines = append(lines, fmt.Sprintf("%s %s +%d -%d", c.Path, c.Kind, c.BytesAdded(), c.BytesRemoved()))
	}
	if !slices.Equal(lines, want) {
		t.Errorf("diff:\n%q\nwant\n%q", lines, want)
	}
	if len(DiffTrees(a, a)) != 0 || len(DiffTrees(nil, nil)) != 0 {
		t.Error("a tree differs from itself")
	}
	if all := DiffTrees(nil, b); len(all) != len(b.Entries) || all[0].Kind != Added {
		t.Errorf("from nothing: %v", all)
	}
}

// TestDiffTrees_Captured compares two captures of a workspace.
func TestDiffTrees_Captured(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, node{path: "keep", content: "k"}, node{path: "edit", content: "v1"}, node{path: "rm", content: "x"}, node{path: "run", content: "x"})
	s := openStore(t)
	c := &Capture{Root: dir, Store: s}
	first := snapshot(t, s, c)
	os.WriteFile(filepath.Join(dir, "edit"), []byte("version 2"), 0o644)
	os.Remove(filepath.Join(dir, "rm"))
	os.Chmod(filepath.Join(dir, "run"), 0o755)
	build(t, dir, node{path: "sub/new", content: "new"})
	second := snapshot(t, s, c, first)

	var got []string
	for _, ch := range DiffTrees(treeOfImage(t, s, first), treeOfImage(t, s, second)) {
		got = append(got, ch.Kind.String()+" "+ch.Path)
	}
	want := []string{"changed edit", "removed rm", "mode-changed run", "added sub", "added sub/new"}
	if !slices.Equal(got, want) {
		t.Errorf("diff %q, want %q", got, want)
	}
}

// TestCapture_PathOrder: a workspace where a directory has siblings that
// extend its name (src/, src-old, src.txt) is captured in the reference's
// order, component by component; an older image of it, whose tree pf wrote
// in byte order, still reads, checks out and diffs against it as the same
// files.
func TestCapture_PathOrder(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, node{path: "src/main.rs", content: "fn main() {}"}, node{path: "src-old/x", content: "x"},
		node{path: "src.txt", content: "t"}, node{path: "src/a b", content: "s"})
	s := openStore(t)
	id := snapshot(t, s, &Capture{Root: dir, Store: s})
	raw := blob(t, s, worldFS(t, s, id))
	var paths []string
	for _, part := range strings.Split(raw, `"path":"`)[1:] {
		paths = append(paths, part[:strings.IndexByte(part, '"')])
	}
	if want := []string{"src", "src/a b", "src/main.rs", "src-old", "src-old/x", "src.txt"}; !slices.Equal(paths, want) {
		t.Fatalf("tree lists %q, want %q", paths, want)
	}

	// The same tree as pf wrote it before: entries in byte order.
	tree := treeOfImage(t, s, id)
	old := []byte(`{"kind":"fs.tree.v1","entries":[`)
	byteOrder := slices.Clone(tree.Entries)
	slices.SortFunc(byteOrder, func(a, b manifest.Entry) int { return strings.Compare(a.Path, b.Path) })
	for i, e := range byteOrder {
		one, err := (&manifest.Tree{Entries: []manifest.Entry{e}}).Encode()
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			old = append(old, ',')
		}
		old = append(old, one[len(`{"kind":"fs.tree.v1","entries":[`):len(one)-2]...)
	}
	old = append(old, "]}"...)
	if bytes.Equal(old, []byte(raw)) {
		t.Fatal("byte order is the reference's order here: the test proves nothing")
	}
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	m := *img.Manifest
	m.Parents = nil
	m.World.FS = put(t, s, string(old))
	oldID, err := s.CommitManifest(ctx, &m)
	if err != nil {
		t.Fatal(err)
	}
	if changes := DiffTrees(treeOfImage(t, s, oldID), tree); len(changes) != 0 {
		t.Errorf("the byte-order tree differs from the captured one: %v", changes)
	}
	into := filepath.Join(t.TempDir(), "old")
	if err := Checkout(ctx, s, oldID, into, CheckoutOptions{}); err != nil {
		t.Fatal(err)
	}
	again := snapshot(t, s, &Capture{Root: into, Store: s}, oldID)
	if worldFS(t, s, again) != worldFS(t, s, id) {
		t.Errorf("checkout of the byte-order tree captures as %s, want %s", worldFS(t, s, again).Short(), worldFS(t, s, id).Short())
	}
}

// TestDiffEntries_Unmet: entries of the first list that unmet passes over
// change nothing when they are ones visible would not keep and the second
// list lacks, wherever they lie between the second list's entries.
func TestDiffEntries_Unmet(t *testing.T) {
	file := func(path, content string) manifest.Entry {
		return manifest.Entry{Path: path, Mode: 0o644, Size: int64(len(content)), Kind: manifest.KindFile, Blob: manifest.Sum([]byte(content))}
	}
	dir := func(path string) manifest.Entry {
		return manifest.Entry{Path: path, Mode: os.ModeDir | 0o755, Kind: manifest.KindDir}
	}
	// In a and c, the replayed directories, only the files named "again"
	// were looked at; the others are the image's and not in the walk.
	replayed := map[string]bool{"a": true, "a/c": true}
	passedOver := func(e *manifest.Entry) bool {
		return e.Kind != manifest.KindDir && replayed[dirOfPath(e.Path)] && baseName(e.Path) != "again"
	}
	visible := func(e, met *manifest.Entry) bool { return met != nil || !passedOver(e) }
	image := []manifest.Entry{
		dir("a"), file("a/1", "1"), file("a/2", "2"), file("a/again", "old"), dir("a/c"), file("a/c/x", "x"), file("a/c/y", "y"),
		file("a/z", "z"), dir("b"), file("b/gone", "g"), file("b/kept", "k"), file("top", "t"),
	}
	for _, tc := range []struct {
		name string
		walk []manifest.Entry
	}{
		{name: "nothing changed", walk: []manifest.Entry{dir("a"), file("a/again", "old"), dir("a/c"), dir("b"), file("b/gone", "g"), file("b/kept", "k"), file("top", "t")}},
		{name: "changes around passed-over runs", walk: []manifest.Entry{dir("a"), file("a/0", "new"), file("a/again", "new"), dir("a/c"), file("a/c/w", "w"), dir("b"), file("b/kept", "K"), file("b/new", "n")}},
		{name: "a replayed directory gone", walk: []manifest.Entry{dir("b"), file("b/gone", "g"), file("b/kept", "k"), file("top", "t")}},
		{name: "empty walk", walk: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := diffEntries(image, tc.walk, visible, nil)
			got := diffEntries(image, tc.walk, visible, passedOver)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("with unmet:\n%v\nwant\n%v", got, want)
			}
		})
	}
}
