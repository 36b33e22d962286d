//go:build linux

package worktree

import "golang.org/x/sys/unix"

// holdReplaced returns a descriptor on the entry name of the directory
// dirfd, about to be replaced or removed, that keeps its inode until the
// descriptor closes (see lateCloser); -1 when there is none. O_PATH opens
// nothing: no link followed, no device or pipe opened, no read.
func holdReplaced(dirfd int, name string) int {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}
