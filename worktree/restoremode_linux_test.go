//go:build linux

package worktree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRestore_ModesUnderUmask: a restore gives each file it writes
// exactly the mode the image records, whatever the umask, whether the
// file is created with its mode (the umask keeps it) or chmodded after
// (the umask dropped bits, or the mode has a setuid bit the open drops).
func TestRestore_ModesUnderUmask(t *testing.T) {
	modes := []fs.FileMode{0o644, 0o755, 0o600, 0o444, 0o666, 0o700, 0o640, 0o777, 0o604, 0o755 | fs.ModeSetuid}
	for _, umask := range []int{0o022, 0o077, 0} {
		t.Run(fmt.Sprintf("umask %#o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			s := openStore(t)
			ws := t.TempDir()
			var nodes []node
			for _, m := range modes {
				nodes = append(nodes, node{path: fmt.Sprintf("f%d", len(nodes)), content: "original", mode: m})
			}
			build(t, ws, nodes...)
			for _, n := range nodes {
				// build's files get the umask: set each mode as given.
				if err := os.Chmod(filepath.Join(ws, n.path), n.mode); err != nil {
					t.Fatal(err)
				}
			}
			age(t, ws)
			base := snapshot(t, s, &Capture{Root: ws, Store: s})
			for _, n := range nodes {
				if err := os.Remove(filepath.Join(ws, n.path)); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Restore(ctx, s, base, ws, RestoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Changes) != len(nodes) {
				t.Errorf("%d changes, want %d", len(res.Changes), len(nodes))
			}
			for _, n := range nodes {
				if fi, err := os.Lstat(filepath.Join(ws, n.path)); err != nil || fi.Mode() != n.mode {
					t.Errorf("%s: restored mode %v, %v; want %v", n.path, fi.Mode(), err, n.mode)
				}
			}
			if changes, err := Status(ctx, s, base, ws, StatusOptions{}); err != nil || len(changes) != 0 {
				t.Errorf("status after the restore: %v, %v", changes, err)
			}
		})
	}
}

// TestRestore_ModesUnderDefaultACL: a file the restore creates with its
// mode in a directory whose default ACL grants less (other::---, the
// umask then not applied) still gets exactly the image's mode.
func TestRestore_ModesUnderDefaultACL(t *testing.T) {
	s := openStore(t)
	ws := t.TempDir()
	modes := []fs.FileMode{0o644, 0o755, 0o600, 0o664}
	var nodes []node
	for i, m := range modes {
		nodes = append(nodes, node{path: fmt.Sprintf("d/f%d", i), content: "original", mode: m})
	}
	build(t, ws, nodes...)
	for _, n := range nodes {
		if err := os.Chmod(filepath.Join(ws, n.path), n.mode); err != nil {
			t.Fatal(err)
		}
	}
	// A POSIX ACL xattr: version 2, then (tag, perm, id) entries:
	// user::rwx, group::r-x, other::---.
	acl := []byte{2, 0, 0, 0}
	for _, e := range []struct{ tag, perm uint16 }{{0x01, 7}, {0x04, 5}, {0x20, 0}} {
		acl = append(acl, byte(e.tag), byte(e.tag>>8), byte(e.perm), 0, 0xff, 0xff, 0xff, 0xff)
	}
	if err := unix.Setxattr(filepath.Join(ws, "d"), "system.posix_acl_default", acl, 0); errors.Is(err, unix.EOPNOTSUPP) {
		t.Skip("no POSIX ACLs on this file system")
	} else if err != nil {
		t.Fatal(err)
	}
	// What the ACL makes of a file created there.
	probe := filepath.Join(ws, "d", "probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(probe); err != nil || fi.Mode() != 0o640 {
		t.Fatalf("a file made 0644 under the default ACL is %v, %v; want 0640", fi.Mode(), err)
	}
	if err := os.Remove(probe); err != nil {
		t.Fatal(err)
	}
	age(t, ws)
	base := snapshot(t, s, &Capture{Root: ws, Store: s})
	for _, n := range nodes {
		if err := os.WriteFile(filepath.Join(ws, n.path), []byte("edited"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Restore(ctx, s, base, ws, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if fi, err := os.Lstat(filepath.Join(ws, n.path)); err != nil || fi.Mode() != n.mode {
			t.Errorf("%s: restored mode %v, %v; want %v", n.path, fi.Mode(), err, n.mode)
		}
	}
	if changes, err := Status(ctx, s, base, ws, StatusOptions{}); err != nil || len(changes) != 0 {
		t.Errorf("status after the restore: %v, %v", changes, err)
	}
}

// TestCreatePerm: a file is created with its mode unless it has a bit
// the open drops, which a chmod sets.
func TestCreatePerm(t *testing.T) {
	tests := []struct {
		mode      fs.FileMode
		perm      uint32
		wantChmod bool
	}{
		{0o644, 0o644, false},
		{0o755, 0o755, false},
		{0o666, 0o666, false},
		{0o400, 0o400, false},
		{0o755 | fs.ModeSetuid, 0o600, true},
		{0o755 | fs.ModeSetgid, 0o600, true},
		{0o777 | fs.ModeSticky, 0o600, true},
	}
	for _, tt := range tests {
		perm, chmod := createPerm(tt.mode)
		if perm != tt.perm || chmod != tt.wantChmod {
			t.Errorf("createPerm(%v) = %#o, %v; want %#o, %v", tt.mode, perm, chmod, tt.perm, tt.wantChmod)
		}
	}
}
