//go:build linux

package worktree

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysStat returns what fs.FileInfo does not carry portably: the inode, the
// device and the ctime.
func sysStat(fi fs.FileInfo) (ino, dev uint64, ctime int64) {
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t: // os.Stat's
		return st.Ino, uint64(st.Dev), st.Ctim.Nano()
	case *unix.Stat_t: // readDir's
		return st.Ino, st.Dev, st.Ctim.Nano()
	}
	return 0, 0, 0
}

// linkCount is the number of hard links to the file; 0 when not known.
func linkCount(fi fs.FileInfo) uint64 {
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t:
		return uint64(st.Nlink)
	case *unix.Stat_t:
		return uint64(st.Nlink)
	}
	return 0
}
