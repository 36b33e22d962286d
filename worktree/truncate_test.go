//go:build unix

package worktree

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func mustContain(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, not the %d the image holds", filepath.Base(path), len(got), len(want))
	}
}

// TestRestore_GrownFileIsCutInPlace: a file that only grew since the image
// is restored by cutting it short (its inode stays), and grows back by a
// whole write.
func TestRestore_GrownFileIsCutInPlace(t *testing.T) {
	s := openStore(t)
	ws := t.TempDir()
	data := make([]byte, 24<<20)
	rand.NewChaCha8([32]byte{7}).Read(data)
	path := filepath.Join(ws, "data", "app.log")
	build(t, ws, node{path: "data/app.log", content: string(data[:20<<20])}, node{path: "notes.txt", content: "a"})
	age(t, ws)
	short := snapshot(t, s, &Capture{Root: ws, Store: s})

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.Write(data[20<<20:])
	must(t, err)
	must(t, f.Close())
	must(t, os.Chmod(path, 0o600))
	must(t, os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("b"), 0o644))
	long := snapshot(t, s, &Capture{Root: ws, Store: s}, short)

	before := inode(t, path)
	var done Progress
	_, err = Restore(ctx, s, short, ws, RestoreOptions{Progress: func(p Progress) { done = p }})
	must(t, err)
	mustContain(t, path, data[:20<<20])
	if done.Bytes != 1 { // notes.txt, rewritten; the log is cut, not written
		t.Errorf("the restore reports %d bytes written, want 1", done.Bytes)
	}
	if inode(t, path) != before {
		t.Error("the grown file was written whole, not cut")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, the image has 0644", fi.Mode().Perm())
	}
	mustContain(t, filepath.Join(ws, "notes.txt"), []byte("a"))

	_, err = Restore(ctx, s, long, ws, RestoreOptions{})
	must(t, err)
	mustContain(t, path, data)
}

// TestRestore_CutInPlaceOnlyWhenProven: a file is cut in place only when
// what stays is the image's content and no other name shows the file;
// otherwise it is written whole, and restored all the same.
func TestRestore_CutInPlaceOnlyWhenProven(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string, other string)
	}{
		{"another link to the file", func(t *testing.T, path, other string) {
			must(t, os.Link(path, other))
		}},
		{"a byte changed early in the file", func(t *testing.T, path, _ string) {
			flipByte(t, path, 1<<20)
		}},
		{"a byte changed where the image's content ends", func(t *testing.T, path, _ string) {
			flipByte(t, path, 20<<20-10)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			ws := t.TempDir()
			data := make([]byte, 24<<20)
			rand.NewChaCha8([32]byte{8}).Read(data)
			path := filepath.Join(ws, "app.log")
			build(t, ws, node{path: "app.log", content: string(data[:20<<20])})
			age(t, ws)
			short := snapshot(t, s, &Capture{Root: ws, Store: s})
			must(t, os.WriteFile(path, data, 0o644))
			snapshot(t, s, &Capture{Root: ws, Store: s}, short)

			other := filepath.Join(t.TempDir(), "other-link")
			tc.change(t, path, other)
			grown, err := os.ReadFile(path)
			must(t, err)
			before := inode(t, path)
			_, err = Restore(ctx, s, short, ws, RestoreOptions{})
			must(t, err)
			mustContain(t, path, data[:20<<20])
			if inode(t, path) == before {
				t.Error("the file was cut in place")
			}
			if _, err := os.Lstat(other); err == nil {
				mustContain(t, other, grown)
			}
		})
	}
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, at)
	must(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, at)
	must(t, err)
}
