package worktree

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
