package pf_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

func TestStore_SetHead_SessionsApart(t *testing.T) {
	s := openStore(t)
	dir := filepath.Join(t.TempDir(), "ws")
	a := commitAt(t, s, 0)
	b := commitAt(t, s, 1, a)
	c := commitAt(t, s, 2)
	if prev, err := s.SetHead(ctx, dir, "", a); err != nil || prev != (manifest.Digest{}) {
		t.Fatalf("first SetHead: previous %v, %v", prev, err)
	}
	if prev, err := s.SetHead(ctx, dir, "", b); err != nil || prev != a {
		t.Fatalf("second SetHead: previous %v, %v; want %v", prev, err, a)
	}
	if _, err := s.SetHead(ctx, dir, "task 7", c); err != nil {
		t.Fatal(err)
	}
	for session, want := range map[string]manifest.Digest{"": b, "task 7": c} {
		h, ok, err := s.Head(ctx, dir, session)
		if err != nil || !ok || h.ID != want || h.Dir != dir || h.Session != session || h.Updated.IsZero() {
			t.Errorf("Head(%q) = %+v, %v, %v; want %v", session, h, ok, err, want)
		}
	}
	if _, ok, err := s.Head(ctx, dir, "other"); ok || err != nil {
		t.Errorf("Head of an unknown session: %v, %v", ok, err)
	}
	heads, err := s.Heads(ctx)
	if err != nil || len(heads) != 2 || heads[0].Session != "" || heads[1].Session != "task 7" {
		t.Fatalf("Heads = %+v, %v", heads, err)
	}
	if id, err := s.DeleteHead(ctx, dir, "task 7"); err != nil || id != c {
		t.Fatalf("DeleteHead = %v, %v", id, err)
	}
	if _, err := s.DeleteHead(ctx, dir, "task 7"); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("DeleteHead of a missing head: %v", err)
	}
}

func TestStore_SetHead_Refuses(t *testing.T) {
	s := openStore(t)
	a := commitAt(t, s, 0)
	dir := t.TempDir()
	if _, err := s.SetHead(ctx, "relative/dir", "", a); err == nil {
		t.Error("a relative directory was taken")
	}
	if _, err := s.SetHead(ctx, dir, "bad\nsession", a); !errors.Is(err, pf.ErrInvalidSession) {
		t.Errorf("a session with a newline: %v", err)
	}
	if _, err := s.SetHead(ctx, dir, "", manifest.Sum([]byte("no such image"))); !errors.Is(err, pf.ErrNotFound) {
		t.Errorf("a head naming a missing image: %v", err)
	}
}

// A snapshot given a Head moves it in its own commit.
func TestStore_Snapshot_SetsHead(t *testing.T) {
	s := openStore(t)
	dir := t.TempDir()
	ref := &pf.HeadRef{Dir: dir, Session: "s"}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Head: ref})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok, err := s.Head(ctx, dir, "s"); err != nil || !ok || h.ID != id {
		t.Fatalf("head after the snapshot: %+v, %v, %v; want %v", h, ok, err, id)
	}
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Head: &pf.HeadRef{Dir: "rel"}}); err == nil {
		t.Fatal("a snapshot with a relative head directory committed")
	}
}

// Heads are roots for prune, as tags are: their images and ancestors stay.
func TestStore_Prune_KeepsHeads(t *testing.T) {
	s := openStore(t)
	a := commitAt(t, s, 0)
	b := commitAt(t, s, 1, a)
	c := commitAt(t, s, 2)
	d := commitAt(t, s, 3)
	if _, err := s.SetHead(ctx, t.TempDir(), "", b); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Prune(ctx, pf.PruneOptions{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 1 || rep.Removed[0] != c {
		t.Fatalf("removed %v, want only %v", rep.Removed, c)
	}
	for _, id := range []manifest.Digest{a, b, d} {
		if ok, err := s.HasImage(ctx, id); !ok || err != nil {
			t.Errorf("image %v gone after prune (%v)", id.Short(), err)
		}
	}
}

func TestWorkspaceDir_ResolvesLinks(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "ws")
	if err := mkdirLink(dir, filepath.Join(base, "link")); err != nil {
		t.Skip(err)
	}
	for _, p := range []string{dir, filepath.Join(base, "link"), dir + "/sub/.."} {
		if got, err := pf.WorkspaceDir(p); err != nil || got != dir {
			t.Errorf("WorkspaceDir(%q) = %q, %v; want %q", p, got, err, dir)
		}
	}
	if got, _ := pf.WorkspaceDir(filepath.Join(base, "gone")); got != filepath.Join(base, "gone") {
		t.Errorf("WorkspaceDir of a missing directory = %q", got)
	}
}

func mkdirLink(dir, link string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return os.Symlink(dir, link)
}

// TestStore_Snapshot_SkipUnchanged: a snapshot whose image would have its
// parent's content gives the parent back and commits nothing; the head
// moves to it when it named another image, and is not written again
// (nor anything else) when it names it already.
func TestStore_Snapshot_SkipUnchanged(t *testing.T) {
	s := openStore(t)
	dir := t.TempDir()
	files := world{files: map[string][]byte{"a": []byte("a")}}
	parent, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files})
	if err != nil {
		t.Fatal(err)
	}
	other := commitAt(t, s, 1)
	if _, err := s.SetHead(ctx, dir, "", other); err != nil {
		t.Fatal(err)
	}
	head := &pf.HeadRef{Dir: dir, Session: ""}
	skip := pf.Snapshot{Agent: agent, World: files, Parents: []manifest.Digest{parent}, Head: head, SkipUnchanged: true}
	if id, err := s.Snapshot(ctx, skip); err != nil || id != parent {
		t.Fatalf("unchanged: %v, %v; want the parent %v", id, err, parent)
	}
	h, ok, err := s.Head(ctx, dir, "")
	if err != nil || !ok || h.ID != parent {
		t.Fatalf("head %+v %v %v, want moved to the parent", h, ok, err)
	}
	before, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.Snapshot(ctx, skip); err != nil || id != parent {
		t.Fatalf("unchanged again: %v, %v", id, err)
	}
	after, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if h2, _, _ := s.Head(ctx, dir, ""); h2 != h {
		t.Errorf("head written again: %+v, was %+v", h2, h)
	}
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("store file written: %v %d, was %v %d", after.ModTime(), after.Size(), before.ModTime(), before.Size())
	}
	if stats2, err := s.Stats(ctx); err != nil || stats2.Images != stats.Images {
		t.Errorf("images %d, was %d (%v)", stats2.Images, stats.Images, err)
	}

	// Other content: a child, as without SkipUnchanged.
	skip.World = world{files: map[string][]byte{"a": []byte("b")}}
	if id, err := s.Snapshot(ctx, skip); err != nil || id == parent {
		t.Fatalf("changed: %v, %v; want a new image", id, err)
	}
}
