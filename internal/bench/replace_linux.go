//go:build linux

package bench

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

const canReplaceFiles = true

// replaceFiles makes each path of want hold what want says, under root,
// with the calls pf restore makes for it (worktree's inPlaceRoot): the
// parent opened by openat2 without following a link; the file there
// held by an O_PATH descriptor, closed only once all are done; a file
// written to a new temporary name in the same directory, given its mode
// and renamed over the path (ext4 writes a file's data out before such a
// rename completes: the file is whole, old or new, after a power loss);
// a path want lacks unlinked. It returns the time until the last rename
// or unlink, not the closes of the held descriptors after it.
func replaceFiles(root string, want []fileState, workers int) (time.Duration, error) {
	rootFD, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	held := make(chan int, len(want))
	var g errgroup.Group
	g.SetLimit(workers)
	start := time.Now()
	for _, f := range want {
		g.Go(func() error { return replaceFile(rootFD, f, held) })
	}
	err = g.Wait()
	d := time.Since(start)
	close(held)
	for fd := range held {
		unix.Close(fd)
	}
	return d, err
}

// replaceFile puts f in place under the directory rootFD, sending the
// descriptor it holds on the file it replaces or removes to held.
func replaceFile(rootFD int, f fileState, held chan<- int) error {
	dir, name := filepath.Split(f.rel)
	dirFD := rootFD
	if dir != "" {
		fd, err := unix.Openat2(rootFD, filepath.Clean(dir), &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
		})
		if err != nil {
			return fmt.Errorf("open %s: %w", dir, err)
		}
		defer unix.Close(fd)
		dirFD = fd
	}
	if old, err := unix.Openat(dirFD, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		held <- old
	}
	if !f.exists {
		return unix.Unlinkat(dirFD, name, 0)
	}
	tmp := fmt.Sprintf(".pf-restore-%016x.tmp", rand.Uint64())
	fd, err := unix.Openat(dirFD, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	for b := f.data; len(b) > 0; {
		n, werr := unix.Write(fd, b)
		if werr != nil {
			err = werr
			break
		}
		b = b[n:]
	}
	if err == nil {
		err = unix.Fchmod(fd, uint32(f.mode))
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dirFD, tmp, dirFD, name)
	}
	if err != nil {
		unix.Unlinkat(dirFD, tmp, 0)
	}
	return err
}
