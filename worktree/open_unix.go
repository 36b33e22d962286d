//go:build unix

package worktree

import (
	"os"
	"syscall"
)

// openForRead opens a file the walk found, never following a symbolic
// link that replaced it since, and never blocking on a named pipe that
// did: the caller checks with Stat that it is still a regular file.
func openForRead(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// createExclusive creates a file of a checkout: it must not exist, and a
// symbolic link in its place is not followed.
func createExclusive(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
}
