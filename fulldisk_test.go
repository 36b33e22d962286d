package pf_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// TestStore_FullDisk fills a small file system: the write that does not
// fit fails with an error that says so, and the store still opens,
// verifies, and holds everything committed before.
func TestStore_FullDisk(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root; this test runs in CI, which is root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a size-limited tmpfs here (%v: %s); CI mounts one", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })

	path := filepath.Join(dir, "store.pf")
	s, err := pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var committed []manifest.Digest
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(uint64(1000+i), 300)}) // 1.8 MB each
		if err != nil {
			full = err
			break
		}
		committed = append(committed, id)
	}
	if full == nil {
		t.Fatal("24 MiB took 100 snapshots of 1.8 MB")
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("the failed write says %q; want an error wrapping ENOSPC", full)
	}
	t.Logf("%d snapshots fitted; then: %v", len(committed), full)
	if err := s.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}

	s, err = pf.Open(path, &pf.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open after the disk filled: %v", err)
	}
	defer s.Close()
	rep, err := s.Verify(ctx, pf.VerifyOptions{Deep: true})
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify after the disk filled: %v %v", err, rep.Problems)
	}
	if len(committed) == 0 {
		t.Fatal("nothing fitted before the disk filled")
	}
	for _, id := range committed {
		checkImage(t, s, id)
	}
}
