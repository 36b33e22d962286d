//go:build linux

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
	return st.Ino, uint64(st.Dev), st.Ctim.Nano()
}
