package worktree

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// readDir lists a directory with the stat of each entry, taken relative
// to the open directory (fstatat) rather than by its whole path: the
// kernel then resolves one name per entry, not every directory above it,
// which is most of what a walk of an unchanged tree costs. A symbolic
// link in the directory's place is not followed.
func readDir(path string) ([]fs.DirEntry, error) {
	return readDirWatching(path, nil)
}

// readDirWatching is readDir calling watchFile, if set, with the name of
// each regular file before its stat is taken (the type that the listing
// gives, not the stat).
func readDirWatching(path string, watchFile func(name string)) ([]fs.DirEntry, error) {
	fd, err := openDir(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var names []string
	if watchFile == nil {
		names, err = f.Readdirnames(-1)
	} else {
		var des []fs.DirEntry
		des, err = f.ReadDir(-1)
		names = make([]string, len(des))
		for i, de := range des {
			names[i] = de.Name()
			if de.Type().IsRegular() {
				watchFile(de.Name())
			}
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(names))
	infos := make([]statInfo, len(names))
	for i, name := range names {
		info := &infos[i]
		info.name = name
		for {
			err = unix.Fstatat(fd, name, &info.st, unix.AT_SYMLINK_NOFOLLOW)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err != nil {
			out[i] = statEntry{info: info, err: &fs.PathError{Op: "lstat", Path: path + "/" + name, Err: err}}
			continue
		}
		out[i] = statEntry{info: info}
	}
	return out, nil
}

func openDir(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if !errors.Is(err, syscall.EINTR) {
			return fd, err
		}
	}
}

// A statEntry is a directory entry with its stat taken (or the error of
// taking it, which Info returns).
type statEntry struct {
	info *statInfo
	err  error
}

func (e statEntry) Name() string { return e.info.name }
func (e statEntry) IsDir() bool  { return e.Type().IsDir() }

func (e statEntry) Type() fs.FileMode {
	if e.err != nil {
		return fs.ModeIrregular // vanished or unreadable: Info says which
	}
	return e.info.Mode().Type()
}

func (e statEntry) Info() (fs.FileInfo, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.info, nil
}

// statInfo is an fs.FileInfo made from a stat, as os.Lstat makes one.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (fi *statInfo) Name() string       { return fi.name }
func (fi *statInfo) Size() int64        { return fi.st.Size }
func (fi *statInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi *statInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi *statInfo) Sys() any           { return &fi.st }

func (fi *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.st.Mode & 0o777)
	switch fi.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if fi.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if fi.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if fi.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
