//go:build unix

package worktree

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Named pipes, sockets and names that are not UTF-8 exist only here.
func TestCapture_SkipsWhatTheFormatCannotHold(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, node{path: "kept.txt", content: "kept"})
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	badName := "bad-\xff-name"
	if err := os.WriteFile(filepath.Join(dir, badName), []byte("x"), 0o644); err != nil {
		t.Skipf("this file system refuses a name that is not UTF-8: %v", err)
	}
	if err := os.Symlink("bad-\xff-target", filepath.Join(dir, "badlink")); err != nil {
		t.Fatal(err)
	}

	s := openStore(t)
	var warned warnings
	c := &Capture{Root: dir, Store: s, Warn: warned.add}
	got := treeOf(t, s, snapshot(t, s, c))
	for _, tc := range []struct {
		path string
		want error
	}{
		{"fifo", errSpecial},
		{"sock", errSpecial},
		{badName, errBadName},
		{"badlink", errBadTarget},
	} {
		if !errors.Is(warned.get(tc.path), tc.want) {
			t.Errorf("%q: warning %v, want %v", tc.path, warned.get(tc.path), tc.want)
		}
		if _, ok := got[tc.path]; ok {
			t.Errorf("%q is in the tree", tc.path)
		}
	}
	if _, ok := got["kept.txt"]; !ok || len(got) != 1 {
		t.Errorf("tree %v, want kept.txt alone", got)
	}
	if st := c.Stats(); st.Skipped != 4 {
		t.Errorf("skipped %d, want 4", st.Skipped)
	}
}
