package worktree

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHoldReplaced_OpensNothing: the descriptor held on an entry about to
// go is of the entry itself, never of what a link names, and holding a
// named pipe neither blocks nor opens it.
func TestHoldReplaced_OpensNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("fifo", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	r, err := openInPlaceRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tc := range []struct {
		name string
		kind uint32 // S_IFMT of what is held; 0: nothing
	}{
		{"file", unix.S_IFREG},
		{"fifo", unix.S_IFIFO},
		{"link", unix.S_IFLNK},
		{"missing", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := holdReplaced(r.fd, tc.name)
			if tc.kind == 0 {
				if fd >= 0 {
					unix.Close(fd)
					t.Fatalf("held %d, want none", fd)
				}
				return
			}
			if fd < 0 {
				t.Fatal("held nothing")
			}
			defer unix.Close(fd)
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&unix.S_IFMT != tc.kind {
				t.Errorf("held a %o, want a %o", st.Mode&unix.S_IFMT, tc.kind)
			}
		})
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(des)
}

// TestRestore_ReleasesReplacedFiles: a restore that replaces and removes
// more files than it holds at once leaves the tree as the image has it
// and, soon after it returns, no descriptor of the files that went.
func TestRestore_ReleasesReplacedFiles(t *testing.T) {
	s := openStore(t)
	ws := t.TempDir()
	const files = 2*maxHeldReplaced + 10
	var nodes []node
	for i := range files {
		nodes = append(nodes, node{path: fmt.Sprintf("d%d/f%d", i%7, i), content: fmt.Sprint("old ", i)})
	}
	build(t, ws, nodes...)
	age(t, ws)
	id := snapshot(t, s, &Capture{Root: ws, Store: s})
	for i := range files {
		p := filepath.Join(ws, fmt.Sprintf("d%d/f%d", i%7, i))
		if i%3 == 0 {
			os.WriteFile(p, []byte(fmt.Sprint("new ", i)), 0o644)
		}
		os.WriteFile(p+".extra", []byte("extra"), 0o644)
	}
	before := openFDs(t)
	res, err := Restore(ctx, s, id, ws, RestoreOptions{NoBackup: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := files + (files+2)/3; len(res.Changes) != want {
		t.Errorf("%d changes, want %d", len(res.Changes), want)
	}
	for path, l := range listing(t, ws) {
		if strings.HasSuffix(path, ".extra") || strings.HasPrefix(l, "file") && !strings.Contains(l, ":old ") {
			t.Errorf("after the restore: %s is %s", path, l)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); openFDs(t) > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after the restore, %d before", openFDs(t), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isOpen reports whether fd is an open descriptor of this process.
func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// TestLateCloser_ClosesAfterTheWrites: the descriptors of replaced files
// stay open while the restore writes (their freeing would compete with
// the writes), until stop, or until half of maxHeldReplaced wait; then
// every one closes.
func TestLateCloser_ClosesAfterTheWrites(t *testing.T) {
	for _, tc := range []struct {
		name     string
		released int
		early    bool // closing begins before stop
	}{
		{"few", 10, false},
		{"half of the bound", maxHeldReplaced / 2, true},
		{"past the bound", maxHeldReplaced + 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := openInPlaceRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var fds []int
			for i := range tc.released {
				name := fmt.Sprint("f", i)
				if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				fd := holdReplaced(r.fd, name)
				if fd < 0 {
					t.Fatal("held nothing")
				}
				fds = append(fds, fd)
				r.late.release(fd)
			}
			allClosed := func() bool {
				for _, fd := range fds[:min(len(fds), maxHeldReplaced)] {
					if isOpen(fd) {
						return false
					}
				}
				return true
			}
			waitClosed := func(when string) {
				for deadline := time.Now().Add(10 * time.Second); !allClosed(); time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("descriptors still open %s", when)
					}
				}
			}
			if tc.early {
				waitClosed("with half of the bound held, before stop")
				return
			}
			time.Sleep(20 * time.Millisecond)
			for _, fd := range fds {
				if !isOpen(fd) {
					t.Fatalf("descriptor %d closed before stop", fd)
				}
			}
			r.late.stop()
			r.late = newLateCloser() // for r.Close's stop
			waitClosed("after stop")
		})
	}
}
