//go:build darwin || freebsd || netbsd

package worktree

import (
	"io/fs"
	"syscall"
)

// sysStat returns what fs.FileInfo does not carry portably: the inode, the
// device and the ctime.
func sysStat(fi fs.FileInfo) (ino, dev uint64, ctime int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	return uint64(st.Ino), uint64(st.Dev), st.Ctimespec.Nano()
}

// linkCount is the number of hard links to the file; 0 when not known.
func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}
