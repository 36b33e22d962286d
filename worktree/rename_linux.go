//go:build linux

package worktree

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames the staging directory into place, failing if
// something appeared at newpath meanwhile (rename(2) alone would replace
// an empty directory there).
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		// A kernel or file system without RENAME_NOREPLACE.
		return renameIfAbsent(oldpath, newpath)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
