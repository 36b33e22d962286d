package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Commands that write nothing open the store as readers: beside another
// reader (a running pf verify --deep) and on a store file they may not
// write, they work; only commands that write need the store alone.

// readers are the command lines that write nothing, with the ids the
// store of newReadersStore has: $A and $B, two images, B a child of A.
var readers = [][]string{
	{"gc", "-n"},
	{"gc", "--dry-run", "--json"},
	{"prune", "-n", "--keep-last", "1"},
	{"verify"},
	{"verify", "--deep", "--json"},
	{"log"},
	{"log", "--graph", "-n", "1"},
	{"show", "$A"},
	{"diff", "$A", "$B"},
	{"get", "$A", "-o", "-"},
	{"has", "$B"},
	{"stats"},
	{"tags"},
	{"pins"},
}

// newReadersStore makes a store in dir with two images and a blob that
// nothing refers to (so that gc -n has something to find), and returns its
// path and the images' ids.
func newReadersStore(t *testing.T, bin, dir string) (store string, ids map[string]string) {
	t.Helper()
	store = filepath.Join(dir, "store.pf")
	loose := filepath.Join(dir, "loose.txt")
	if err := os.WriteFile(loose, []byte("nothing refers to me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pfOut := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"--store", store}, args...)...).Output()
		if err != nil {
			t.Fatalf("pf %s: %v %s", strings.Join(args, " "), err, exitStderr(err))
		}
		return strings.TrimSpace(string(out))
	}
	pfOut("init")
	a := pfOut("snapshot", "--fixture", "--created-at", "2026-11-27T10:00:00Z")
	b := pfOut("snapshot", "--fixture", "--parent", a, "--fork", "1", "--created-at", "2026-11-27T11:00:00Z")
	pfOut("put", loose)
	return store, map[string]string{"$A": a, "$B": b}
}

func withIDs(args []string, ids map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if id, ok := ids[a]; ok {
			a = id
		}
		out[i] = a
	}
	return out
}

// TestReaders_BesideAReader: dry runs and other readers work at once
// beside a process that reads the store (they once took the write lock
// and exited 5 beside a running pf verify --deep); gc, which writes,
// still waits for it.
func TestReaders_BesideAReader(t *testing.T) {
	bin := buildPF(t)
	store, ids := newReadersStore(t, bin, t.TempDir())
	startReader(t, store)
	for _, args := range readers {
		cmd := exec.Command(bin, append([]string{"--store", store, "--timeout", "0"}, withIDs(args, ids)...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("pf %s beside a reader: %v %s", strings.Join(args, " "), err, out)
		}
	}
	err := exec.Command(bin, "--store", store, "--timeout", "0", "gc").Run()
	if e, ok := err.(*exec.ExitError); !ok || e.ExitCode() != exitBusy {
		t.Errorf("pf gc beside a reader: %v, want exit %d", err, exitBusy)
	}
}

// TestReaders_ReadOnlyStoreFile: on a store file that the user may not
// write (mode 0444, in a directory it may not write either, as on a
// read-only file system), every command that writes nothing works, and
// the file is left as it was. Root may write any file, so when the tests
// run as root the commands run as nobody.
func TestReaders_ReadOnlyStoreFile(t *testing.T) {
	bin := buildPF(t)
	dir, asUser := otherUser(t)
	store, ids := newReadersStore(t, bin, dir)
	if err := os.Chmod(store, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	before, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range readers {
		cmd := asUser(exec.Command(bin, append([]string{"--store", store}, withIDs(args, ids)...)...))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("pf %s on a read-only store: %v %s", strings.Join(args, " "), err, out)
		}
	}
	out, err := asUser(exec.Command(bin, "--store", store, "gc", "-n")).Output()
	if err != nil || !strings.HasPrefix(string(out), "would remove 1 blob") {
		t.Errorf("pf gc -n on a read-only store: %v %q, want it to find the loose blob", err, out)
	}
	if err := asUser(exec.Command(bin, "--store", store, "gc")).Run(); err == nil {
		t.Error("pf gc wrote a store file it may not write")
	}
	if after, _ := os.ReadFile(store); !bytes.Equal(after, before) {
		t.Error("the store file changed")
	}
}
