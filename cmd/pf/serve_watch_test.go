//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServe_SnapshotAndStatusThroughWatcher: pf snapshot and pf status
// forwarded to pf serve, which watches the workspace, find what a pf
// without server finds, turn after turn.
func TestServe_SnapshotAndStatusThroughWatcher(t *testing.T) {
	srv := startServe(t, "--quiet")
	ws := t.TempDir()
	for _, p := range []string{"a/x.go", "a/b/y.go", "c/z.txt", "top.txt"} {
		writeFile(t, filepath.Join(ws, p), p)
	}
	plain := filepath.Join(t.TempDir(), "plain.pf")
	run := func(cmd *exec.Cmd) string { return outputOf(t, cmd) }
	if out, err := exec.Command(srv.bin, "--store", plain, "init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v %s", err, out)
	}
	worldFS := func(store, id string) string { return worldFSOf(t, srv.bin, store, id) }
	turns := []func(){
		func() {},
		func() { writeFile(t, filepath.Join(ws, "a/b/y.go"), "changed") },
		func() { writeFile(t, filepath.Join(ws, "a/new/n.go"), "new") },
		func() { os.Rename(filepath.Join(ws, "c"), filepath.Join(ws, "a/c")) },
		func() { writeFile(t, filepath.Join(ws, "a/c/z.txt"), "in the moved directory") },
		func() { os.RemoveAll(filepath.Join(ws, "a/b")) },
		// Hard links made after the capture: written through another
		// link, the file has events on its own watch, not its
		// directory's.
		func() {
			other := filepath.Join(t.TempDir(), "x-link")
			if err := os.Link(filepath.Join(ws, "a/x.go"), other); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(other, []byte("written through a link outside"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if err := os.Link(filepath.Join(ws, "a/x.go"), filepath.Join(ws, "a/new/x-link.go")); err != nil {
				t.Fatal(err)
			}
		},
		func() { appendFile(t, filepath.Join(ws, "a/new/x-link.go"), " and through a link inside") },
		func() { appendFile(t, filepath.Join(ws, "a/x.go"), " and through its first link") },
	}
	for i, turn := range turns {
		turn()
		served := run(srv.pf("snapshot", "--fs-root", ws))
		alone := run(exec.Command(srv.bin, "--store", plain, "snapshot", "--fs-root", ws))
		if got, want := worldFS(srv.store, served), worldFS(plain, alone); got != want {
			t.Fatalf("turn %d: pf serve captured %s, pf alone %s", i, got, want)
		}
		writeFile(t, filepath.Join(ws, "top.txt"), "turn "+string(rune('0'+i)))
		if got, want := run(srv.pf("status", ws)), run(exec.Command(srv.bin, "--store", plain, "status", ws)); got != want || got != "M top.txt" {
			t.Fatalf("turn %d: status through pf serve %q, pf alone %q, want %q", i, got, want, "M top.txt")
		}
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(content)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServe_RestoreThenEditThroughWatcher: a large file that pf serve
// restored (and may have recorded in its stat cache), and a small one
// (which the watcher knows as the restore's own until an event of it),
// that are then edited in place, their sizes kept, at once or after a
// second, are captured as they are: the served snapshot is the one pf
// alone takes.
func TestServe_RestoreThenEditThroughWatcher(t *testing.T) {
	srv := startServe(t, "--quiet")
	ws := t.TempDir()
	big := filepath.Join(ws, "data", "big.bin")
	content := strings.Repeat("0123456789abcdef", 1<<20) // 16 MiB
	writeFile(t, big, content)
	writeFile(t, filepath.Join(ws, "notes.txt"), "notes")
	plain := filepath.Join(t.TempDir(), "plain.pf")
	run := func(cmd *exec.Cmd) string { return outputOf(t, cmd) }
	run(exec.Command(srv.bin, "--store", plain, "init"))
	worldFS := func(store, id string) string { return worldFSOf(t, srv.bin, store, id) }
	first := run(srv.pf("snapshot", "--fs-root", ws))
	edit := func(at int64, b byte) {
		t.Helper()
		f, err := os.OpenFile(big, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{b}, at); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	edit(5, 'x')
	notes := filepath.Join(ws, "notes.txt")
	writeFile(t, notes, "tones")
	second := run(srv.pf("snapshot", "--fs-root", ws))
	for i, wait := range []time.Duration{0, 1100 * time.Millisecond} {
		run(srv.pf("restore", first, "--to", ws))
		time.Sleep(wait)
		edit(int64(1000+i), 'y')
		notesFile, err := os.OpenFile(notes, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := notesFile.WriteAt([]byte{'N' + byte(i)}, 0); err != nil {
			t.Fatal(err)
		}
		notesFile.Close()
		served := run(srv.pf("snapshot", "--fs-root", ws))
		alone := run(exec.Command(srv.bin, "--store", plain, "snapshot", "--fs-root", ws))
		if got, want := worldFS(srv.store, served), worldFS(plain, alone); got != want {
			t.Fatalf("edit %d after the restore: pf serve captured %s, pf alone %s", i, got, want)
		}
		if got := worldFS(srv.store, served); got == worldFS(srv.store, first) || got == worldFS(srv.store, second) {
			t.Fatalf("edit %d after the restore: pf serve captured the tree of a restored image", i)
		}
		run(srv.pf("restore", second, "--to", ws))
	}
}

// outputOf runs cmd and returns its standard output, trimmed; the test
// fails if cmd does.
func outputOf(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return strings.TrimSpace(string(out))
}

// worldFSOf returns the digest of the file tree of image id in store, as
// pf show --json says it.
func worldFSOf(t *testing.T, bin, store, id string) string {
	t.Helper()
	var m struct {
		World struct{ FS string } `json:"world"`
	}
	if err := json.Unmarshal([]byte(outputOf(t, exec.Command(bin, "--store", store, "show", id, "--json"))), &m); err != nil {
		t.Fatal(err)
	}
	return m.World.FS
}
