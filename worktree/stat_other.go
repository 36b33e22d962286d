//go:build !linux && !darwin && !freebsd && !netbsd

package worktree

import "io/fs"

// sysStat has nothing to add where the inode and ctime are not known: the
// stat cache then compares size and mtime only, as git does on such
// systems.
func sysStat(fi fs.FileInfo) (ino, dev uint64, ctime int64) { return 0, 0, 0 }

// linkCount is the number of hard links to the file; 0: not known.
func linkCount(fi fs.FileInfo) uint64 { return 0 }
