//go:build !unix

package worktree

import "os"

// openForRead opens a file the walk found; the caller checks with Stat
// that it is still a regular file.
func openForRead(path string) (*os.File, error) {
	return os.Open(path)
}

// createExclusive creates a file of a checkout, which must not exist
// (O_EXCL does not follow a symbolic link in its place either).
func createExclusive(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}
