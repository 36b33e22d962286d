package db

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/processfork/pf/internal/proc"
)

// create makes a new store at path whole or not at all: it builds the
// file, every bucket of the latest schema in it, under a temporary name
// beside path, and links it into place only then. A process killed while
// it creates a store leaves no file at path that is a bbolt file without
// a pf schema (which a read-only open refuses as not a store). Another
// process that creates the same store at the same time wins or loses the
// link; the loser opens what the winner made.
func create(path string, timeout time.Duration) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	removeStaleCreates(dir, base)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.creating-%d", base, os.Getpid()))
	os.Remove(tmp) // a leftover of this pid's predecessor
	bdb, err := openBolt(tmp, timeout, false, createMmap)
	if err != nil {
		return err
	}
	err = upgrade(bdb, path)
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = linkNoReplace(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			err = nil // another process created it first
		}
	}
	os.Remove(tmp)
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("create store %s: %w", path, err)
	}
	return nil
}

// createMmap is the address space a store is created with: twice bbolt's
// allocation step (DB.AllocSize, 16 MiB unless set, as pf leaves it), so
// that bbolt grows the new file by a whole step in the truncate and fsync
// that its first commit, the one that lays out the buckets, pays anyway.
// The step is sparse (no block is written), and it is what the store's
// first snapshot would otherwise grow the file by, in a truncate and an
// fsync of its own before its data: a cold snapshot into a new store
// waits for two syncs, not three.
const createMmap = 32 << 20

// linkNoReplace makes newpath name oldpath's file unless newpath exists.
// Where the file system has no hard links, it renames, after a check.
func linkNoReplace(oldpath, newpath string) error {
	err := os.Link(oldpath, newpath)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(newpath); serr == nil {
		return fs.ErrExist
	}
	return os.Rename(oldpath, newpath)
}

// removeStaleCreates removes what creates killed before they finished
// left beside base in dir: files .base.creating-PID whose process is gone.
func removeStaleCreates(dir, base string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+base+".creating-*"))
	for _, m := range matches {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(m), "."+base+".creating-%d", &pid); err == nil && pid != os.Getpid() && !proc.Alive(pid) {
			os.Remove(m)
		}
	}
}
