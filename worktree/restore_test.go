package worktree

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/manifest"
)

// listing is what a directory holds, by path: "file:<bytes>" with the
// mode, "dir" with the mode, "link:<target>".
func listing(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, dir+string(filepath.Separator)))
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			out[rel] = "link:" + target
			return err
		case d.IsDir():
			out[rel] = "dir " + fi.Mode().Perm().String()
		default:
			b, err := os.ReadFile(path)
			out[rel] = "file " + fi.Mode().Perm().String() + ":" + string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameListing(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var diffs []string
	for p, w := range want {
		if got[p] != w {
			diffs = append(diffs, p+": "+got[p]+", want "+w)
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, p+": "+g+", want nothing")
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s:\n%s", what, strings.Join(diffs, "\n"))
	}
}

func TestRestore_InPlace(t *testing.T) {
	s := openStore(t)
	ws := t.TempDir()
	build(t, ws,
		node{path: "same.txt", content: "same"},
		node{path: "edit.txt", content: "old"},
		node{path: "mode.sh", content: "#!/bin/sh"},
		node{path: "gone/deep/f", content: "f"},
		node{path: "was-file", content: "a file"},
		node{path: "was-dir/x", content: "x"},
		node{path: "link", link: "same.txt"},
		node{path: ".gitignore", content: "build/\n*.log\n"},
		node{path: ".git/HEAD", content: "ref: main"},
		node{path: "node_modules/.cache/c", content: "cache"},
		node{path: ".env", content: "TOKEN=1"},
	)
	age(t, ws)
	base := snapshot(t, s, &Capture{Root: ws, Store: s})
	want := listing(t, ws)

	// The agent's turn: edits, new files, kind changes, ignored output.
	os.WriteFile(filepath.Join(ws, "edit.txt"), []byte("new and longer"), 0o644)
	os.Chmod(filepath.Join(ws, "mode.sh"), 0o755)
	os.RemoveAll(filepath.Join(ws, "gone"))
	os.Remove(filepath.Join(ws, "was-file"))
	os.Mkdir(filepath.Join(ws, "was-file"), 0o755)
	os.WriteFile(filepath.Join(ws, "was-file", "inside"), []byte("in"), 0o644)
	os.RemoveAll(filepath.Join(ws, "was-dir"))
	os.WriteFile(filepath.Join(ws, "was-dir"), []byte("now a file"), 0o644)
	os.Remove(filepath.Join(ws, "link"))
	os.Symlink("edit.txt", filepath.Join(ws, "link"))
	build(t, ws, node{path: "added/new.go", content: "package x"}, node{path: "build/out.bin", content: "artifact"},
		node{path: "app.log", content: "log"}, node{path: ".git/index", content: "idx"}, node{path: "added/.env.local", content: "K=2"})
	os.WriteFile(filepath.Join(ws, ".env"), []byte("TOKEN=2"), 0o600)
	protected := map[string]string{}
	for p, v := range listing(t, ws) {
		if strings.HasPrefix(p, "build") || strings.HasPrefix(p, ".git") && p != ".gitignore" || strings.HasPrefix(p, "node_modules") || p == "app.log" || strings.Contains(p, ".env") {
			protected[p] = v
		}
	}

	var warned warnings
	res, err := Restore(ctx, s, base, ws, RestoreOptions{Warn: warned.add})
	if err != nil {
		t.Fatal(err)
	}
	for p, v := range protected {
		want[p] = v // ignored and secret paths are as the turn left them
	}
	want["added"] = "dir " + fs.FileMode(0o755).String() // holds .env.local, a secret
	sameListing(t, "after the restore", listing(t, ws), want)
	if !res.BackupIsNew || res.Backup == base {
		t.Fatalf("backup %v (new %v), want a new image", res.Backup, res.BackupIsNew)
	}
	if !slices.Equal(res.Secrets, []string{".env", "added/.env.local"}) {
		t.Errorf("secrets %q", res.Secrets)
	}
	if err := warned.get("added"); !errors.Is(err, ErrKept) {
		t.Errorf("added: warning %v, want one that it was kept", err)
	}
	var paths []string
	for _, c := range res.Changes {
		paths = append(paths, c.Path)
	}
	wantPaths := []string{"added/new.go", "edit.txt", "gone", "gone/deep", "gone/deep/f", "link", "mode.sh", "was-dir", "was-dir/x", "was-file", "was-file/inside"}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("changes %q\nwant    %q", paths, wantPaths)
	}
	if h, ok, err := s.Head(ctx, mustResolve(t, ws), ""); err != nil || !ok || h.ID != base {
		t.Errorf("head after the restore: %v %v %v, want %v", h.ID, ok, err, base)
	}
	// The backup undoes the restore.
	undo, err := Restore(ctx, s, res.Backup, ws, RestoreOptions{NoBackup: true})
	if err != nil {
		t.Fatal(err)
	}
	if undo.Backup != (manifest.Digest{}) {
		t.Errorf("a backup with NoBackup: %v", undo.Backup)
	}
	if got := listing(t, ws); got["edit.txt"] != "file -rw-r--r--:new and longer" || got["was-file/inside"] == "" || got["added/new.go"] == "" {
		t.Errorf("not undone: %v", got)
	}
	if changes, err := Status(ctx, s, res.Backup, ws, StatusOptions{}); err != nil || len(changes) != 0 {
		t.Errorf("status against the backup after the undo: %v, %v", changes, err)
	}
}

func mustResolve(t *testing.T, dir string) string {
	t.Helper()
	d, err := pf.WorkspaceDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A clean workspace's backup is its head; paths limit the restore.
func TestRestore_PathsAndCleanBackup(t *testing.T) {
	s := openStore(t)
	ws := t.TempDir()
	build(t, ws, node{path: "a/1", content: "one"}, node{path: "b/2", content: "two"})
	age(t, ws)
	head := &pf.HeadRef{Dir: mustResolve(t, ws)}
	base, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: &Capture{Root: ws, Store: s}, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Restore(ctx, s, base, ws, RestoreOptions{})
	if err != nil || res.Backup != base || res.BackupIsNew || len(res.Changes) != 0 {
		t.Fatalf("restore of a clean workspace: %+v, %v", res, err)
	}
	os.WriteFile(filepath.Join(ws, "a", "1"), []byte("ONE"), 0o644)
	os.WriteFile(filepath.Join(ws, "b", "2"), []byte("TWO"), 0o644)
	res, err = Restore(ctx, s, base, ws, RestoreOptions{Paths: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	got := listing(t, ws)
	if got["a/1"] != "file -rw-r--r--:one" || got["b/2"] != "file -rw-r--r--:TWO" {
		t.Errorf("after restoring a: %v", got)
	}
	if h, _, _ := s.Head(ctx, head.Dir, ""); h.ID != res.Backup {
		t.Errorf("head after a restore of some paths: %v, want the backup %v", h.ID, res.Backup)
	}
}

// No write passes through a symbolic link: a directory of the image that
// is a link to outside in the workspace is replaced, not written through.
func TestRestore_NeverThroughALink(t *testing.T) {
	s := openStore(t)
	ws, outside := t.TempDir(), t.TempDir()
	build(t, ws, node{path: "sub/f", content: "mine"})
	age(t, ws)
	base := snapshot(t, s, &Capture{Root: ws, Store: s})
	os.RemoveAll(filepath.Join(ws, "sub"))
	os.Symlink(outside, filepath.Join(ws, "sub"))
	if _, err := Restore(ctx, s, base, ws, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if des, _ := os.ReadDir(outside); len(des) != 0 {
		t.Errorf("written through the link: %d entries in the outside directory", len(des))
	}
	if got := listing(t, ws); got["sub"] != "dir "+fs.FileMode(0o755).String() || got["sub/f"] != "file -rw-r--r--:mine" {
		t.Errorf("after: %v", got)
	}
}

// What Checkout refuses, Restore refuses, before it changes anything.
func TestRestore_RefusesUnsafeTree(t *testing.T) {
	s := openStore(t)
	id := commitTree(t, s, map[string]string{"x": "x"}, link("escape", "/tmp"), file("escape/planted"))
	ws := t.TempDir()
	build(t, ws, node{path: "keep", content: "keep"})
	if _, err := Restore(ctx, s, id, ws, RestoreOptions{}); !errors.Is(err, ErrUnsafeEntry) {
		t.Fatalf("restore: %v, want ErrUnsafeEntry", err)
	}
	if got := listing(t, ws); len(got) != 1 {
		t.Errorf("workspace changed: %v", got)
	}
}

// TestRestore_KilledAndRunAgain kills a restore, run by a real process,
// with SIGKILL at random moments: every file is whole, its old bytes or
// its new, and running the restore again completes it.
func TestRestore_KilledAndRunAgain(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	root := t.TempDir()
	storePath, ws := filepath.Join(root, "store.pf"), filepath.Join(root, "ws")
	// Version A and version B of every file, some large enough that
	// writing them takes a while.
	files := 300
	if testing.Short() {
		files = 150
	}
	version := func(i int, v string) string {
		n := 100
		if i%10 == 0 {
			n = 200 << 10
		}
		return strings.Repeat(fmt.Sprintf("%s%d ", v, i), n/(len(v)+6)+1)
	}
	path := func(i int) string { return fmt.Sprintf("d%d/f%d", i%17, i) }
	write := func(v string) {
		for i := range files {
			p := filepath.Join(ws, filepath.FromSlash(path(i)))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(version(i, v)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	withStore := func(fn func(s *pf.Store) manifest.Digest) manifest.Digest {
		s, err := pf.Open(storePath, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return fn(s)
	}
	snap := func() manifest.Digest {
		return withStore(func(s *pf.Store) manifest.Digest { return snapshot(t, s, &Capture{Root: ws, Store: s}) })
	}
	write("A")
	a := snap()
	write("B")
	b := snap()
	child := func(image manifest.Digest) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRestore_Child$")
		cmd.Env = append(os.Environ(), "PF_RESTORE_CHILD="+storePath+"\n"+ws+"\n"+image.String())
		cmd.Stderr = os.Stderr
		return cmd
	}
	start := time.Now()
	if err := child(a).Run(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	killed := 0
	rounds := 5
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		// Back to B, then a restore to A killed part way.
		if err := child(b).Run(); err != nil {
			t.Fatal(err)
		}
		cmd := child(a)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(took))))
		cmd.Process.Kill()
		if err := cmd.Wait(); err != nil {
			killed++
		}
		for i := range files {
			got, err := os.ReadFile(filepath.Join(ws, filepath.FromSlash(path(i))))
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, path(i), err)
			}
			if s := string(got); s != version(i, "A") && s != version(i, "B") {
				t.Fatalf("round %d: %s is neither version (%d bytes)", round, path(i), len(got))
			}
		}
		if err := child(a).Run(); err != nil {
			t.Fatalf("round %d: the restore run again: %v", round, err)
		}
		withStore(func(s *pf.Store) manifest.Digest {
			changes, err := Status(ctx, s, a, ws, StatusOptions{})
			if err != nil || len(changes) != 0 {
				t.Fatalf("round %d: after running again, %d changes from A (%v)", round, len(changes), err)
			}
			return a
		})
		for p := range listing(t, ws) {
			if isRestoreTemp(filepath.Base(p)) {
				t.Fatalf("round %d: %s left behind", round, p)
			}
		}
	}
	t.Logf("%d of %d restores killed part way (an uncut restore took %v)", killed, rounds, took)
}

// TestRestore_Child is the process TestRestore_KilledAndRunAgain kills.
func TestRestore_Child(t *testing.T) {
	arg := os.Getenv("PF_RESTORE_CHILD")
	if arg == "" {
		t.Skip("run by TestRestore_KilledAndRunAgain")
	}
	parts := strings.Split(arg, "\n")
	image, err := manifest.ParseDigest(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	s, err := pf.Open(parts[0], &pf.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Restore(ctx, s, image, parts[1], RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A restore into an empty directory takes no backup: there is nothing to
// undo.
func TestRestore_IntoEmptyDirectory(t *testing.T) {
	s := openStore(t)
	src := t.TempDir()
	build(t, src, node{path: "a/b", content: "b"}, node{path: "l", link: "a/b"})
	id := snapshot(t, s, &Capture{Root: src, Store: s})
	empty := t.TempDir()
	res, err := Restore(ctx, s, id, empty, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backup != (manifest.Digest{}) || images(t, s) != 1 {
		t.Errorf("backup %v, %d images", res.Backup, images(t, s))
	}
	sameListing(t, "the restored directory", listing(t, empty), listing(t, src))
}

// A link that leads out of the tree is warned of only when the restore
// would have had to create or change it: a venv's link the directory has
// already is not news at every restore.
func TestRestore_WarnsOfOutsideLinkOnlyWhenMissing(t *testing.T) {
	s := openStore(t)
	ws := t.TempDir()
	build(t, ws, node{path: "venv/bin/python", link: "/usr/bin/python3"}, node{path: "f", content: "one"})
	age(t, ws)
	base := snapshot(t, s, &Capture{Root: ws, Store: s})
	restore := func() []string {
		t.Helper()
		var warned []string
		_, err := Restore(ctx, s, base, ws, RestoreOptions{Warn: func(path string, err error) {
			warned = append(warned, path+": "+err.Error())
		}})
		if err != nil {
			t.Fatal(err)
		}
		return warned
	}
	os.WriteFile(filepath.Join(ws, "f"), []byte("two"), 0o644)
	if w := restore(); len(w) != 0 {
		t.Errorf("the link is there as the image has it, yet: %q", w)
	}
	os.Remove(filepath.Join(ws, "venv", "bin", "python"))
	if w := restore(); len(w) != 1 || !strings.HasPrefix(w[0], "venv/bin/python: ") {
		t.Errorf("the link is gone and the restore skips it: warnings %q, want one naming it", w)
	}
	if _, err := os.Lstat(filepath.Join(ws, "venv", "bin", "python")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the outside link was created without --allow-outside-symlinks: %v", err)
	}
}

// TestRestore_LeavesWhatTheRulesProtectNow: an image that holds what the
// rules protect today (captured with secrets and without the default
// ignores) restores everything else and leaves those paths as the
// directory has them: a secret is not overwritten, an ignored directory
// not made.
func TestRestore_LeavesWhatTheRulesProtectNow(t *testing.T) {
	s := openStore(t)
	ws := t.TempDir()
	build(t, ws,
		node{path: "a.txt", content: "a1"},
		node{path: ".env", content: "TOKEN=image"},
		node{path: "node_modules/m/index.js", content: "m"},
	)
	age(t, ws)
	img := snapshot(t, s, &Capture{Root: ws, Store: s, IncludeSecrets: true, NoDefaultIgnores: true})
	os.WriteFile(filepath.Join(ws, "a.txt"), []byte("a2, longer"), 0o644)
	os.WriteFile(filepath.Join(ws, ".env"), []byte("TOKEN=now"), 0o600)
	os.RemoveAll(filepath.Join(ws, "node_modules"))
	if _, err := Restore(ctx, s, img, ws, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	got := listing(t, ws)
	want := map[string]string{"a.txt": "file -rw-r--r--:a1", ".env": "file -rw-r--r--:TOKEN=now"}
	sameListing(t, "after restore", got, want)
}

// TestRestore_KeepsSpecialModeBits: the setuid, setgid and sticky bits
// come back as recorded, as tar and cp -a restore them, whether the
// restore writes the file whole, makes it anew or changes its mode alone;
// a status afterwards finds nothing changed.
func TestRestore_KeepsSpecialModeBits(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no setuid, setgid or sticky bits")
	}
	const special = fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	tests := []struct {
		name string
		mode fs.FileMode
		turn func(path string) error // what the agent does to it
	}{
		{"setuid file rewritten", 0o755 | fs.ModeSetuid, func(p string) error { return os.WriteFile(p, []byte("edited"), 0o644) }},
		{"setgid file removed", 0o755 | fs.ModeSetgid, os.Remove},
		{"setuid file chmodded", 0o755 | fs.ModeSetuid, func(p string) error { return os.Chmod(p, 0o755) }},
		{"sticky directory chmodded", 0o755 | fs.ModeDir | fs.ModeSticky, func(p string) error { return os.Chmod(p, 0o755) }},
		{"setgid directory removed", 0o755 | fs.ModeDir | fs.ModeSetgid, os.RemoveAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			ws := t.TempDir()
			n := node{path: "x", content: "original", mode: tt.mode &^ fs.ModeDir}
			if tt.mode.IsDir() {
				n.path = "x/"
			}
			build(t, ws, n, node{path: "other", content: "o"})
			age(t, ws)
			path := filepath.Join(ws, "x")
			if fi, err := os.Lstat(path); err != nil || fi.Mode()&special != tt.mode&special {
				t.Fatalf("before: %v, %v", fi.Mode(), err)
			}
			base := snapshot(t, s, &Capture{Root: ws, Store: s})
			if err := tt.turn(path); err != nil {
				t.Fatal(err)
			}
			if _, err := Restore(ctx, s, base, ws, RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Lstat(path); err != nil || fi.Mode() != tt.mode {
				t.Errorf("restored mode %v, %v; want %v", fi.Mode(), err, tt.mode)
			}
			if changes, err := Status(ctx, s, base, ws, StatusOptions{}); err != nil || len(changes) != 0 {
				t.Errorf("status after the restore: %v, %v", changes, err)
			}
		})
	}
}

// A blob that is not what the image's tree says of it (its bytes damaged,
// or fewer or more than the tree's size), read whole (up to
// wholeReadMax) or streamed, fails the restore with ErrCorrupt before the
// file is replaced: the workspace keeps its file, and no temporary file.
func TestRestore_BlobNotAsTheTreeSays(t *testing.T) {
	small := string(castest.Payload(4, 5000))
	large := string(castest.Payload(5, wholeReadMax+5000))
	for _, tc := range []struct {
		name    string
		content string
		// spoil changes the image's entry of f, or the store, given the
		// entry as committed.
		spoil func(t *testing.T, s *pf.Store, e *manifest.Entry) *pf.Store
	}{
		{"small damaged", small, func(t *testing.T, s *pf.Store, e *manifest.Entry) *pf.Store { return corruptBlob(t, s, e.Blob) }},
		{"small shorter than the tree says", small, func(t *testing.T, s *pf.Store, e *manifest.Entry) *pf.Store { e.Size++; return s }},
		{"small longer than the tree says", small, func(t *testing.T, s *pf.Store, e *manifest.Entry) *pf.Store { e.Size--; return s }},
		{"large shorter than the tree says", large, func(t *testing.T, s *pf.Store, e *manifest.Entry) *pf.Store { e.Size++; return s }},
		{"large longer than the tree says", large, func(t *testing.T, s *pf.Store, e *manifest.Entry) *pf.Store { e.Size--; return s }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			e := file("f")
			e.Blob, e.Size = put(t, s, tc.content), int64(len(tc.content))
			s = tc.spoil(t, s, &e)
			image := commitEntries(t, s, e)

			ws := t.TempDir()
			build(t, ws, node{path: "f", content: "what the workspace holds"})
			before := listing(t, ws)
			_, err := Restore(ctx, s, image, ws, RestoreOptions{NoBackup: true})
			if !errors.Is(err, pf.ErrCorrupt) {
				t.Fatalf("restore: %v, want ErrCorrupt", err)
			}
			sameListing(t, "the workspace after the failed restore", listing(t, ws), before)
		})
	}
}
