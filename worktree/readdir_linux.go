package worktree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readDir lists a directory with the stat of each entry, taken relative
// to the open directory (fstatat) rather than by its whole path: the
// kernel then resolves one name per entry, not every directory above it,
// which is most of what a walk of an unchanged tree costs. A symbolic
// link in the directory's place is not followed.
func readDir(path string) ([]fs.DirEntry, error) {
	dirents, dir, err := readDirWatching(path, nil, nil)
	dir.release()
	return dirents, err
}

// readDirWatching is readDir calling watchFile, if set, with the name of
// each regular file before its stat is taken (the type that the listing
// gives, not the stat). A regular file (by the listing's type) for which
// needStat, if set, returns false is listed without a stat (see
// statDeferred): the capture that reads it takes its stat from the open
// file, and a first capture, which knows no file's stat yet, would take
// every file's twice. The directory stays open, for dir's holders to open
// its files by name; the caller releases dir.
func readDirWatching(path string, watchFile func(name string), needStat func(name string) bool) (_ []fs.DirEntry, dir *dirHandle, err error) {
	fd, err := openDir(path)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	dir = &dirHandle{fd: fd}
	dir.refs.Store(1)
	bufp := direntBuffers.Get().(*[]byte)
	defer direntBuffers.Put(bufp)
	listing, err := readDirents(fd, (*bufp)[:0])
	*bufp = listing[:0]
	if err != nil {
		dir.release()
		return nil, nil, &fs.PathError{Op: "readdirent", Path: path, Err: err}
	}
	// The entries are made in one block, each handed out by pointer
	// (an entry a value in an interface would be an allocation apiece),
	// and their names are cut from one string: os.File.ReadDir made an
	// entry and a name apiece, then a slice of them, all garbage here.
	count, nameBytes := 0, 0
	eachDirent(listing, func(name []byte, typ byte) {
		count++
		nameBytes += len(name)
	})
	names := make([]byte, 0, nameBytes)
	eachDirent(listing, func(name []byte, typ byte) { names = append(names, name...) })
	allNames := unsafe.String(unsafe.SliceData(names), len(names)) // names is not written again
	out := make([]fs.DirEntry, count)
	entries := make([]statEntry, count)
	i, at := 0, 0
	eachDirent(listing, func(name []byte, typ byte) {
		e := &entries[i]
		out[i] = e
		i++
		info := &e.info
		info.name = allNames[at : at+len(name)]
		at += len(name)
		// DT_UNKNOWN (a file system that does not say) is not known
		// regular: its stat is taken, which tells.
		regular := typ == unix.DT_REG
		if regular && watchFile != nil {
			watchFile(info.name)
		}
		if regular && needStat != nil && !needStat(info.name) {
			e.deferred = true
			return
		}
		var err error
		for {
			err = unix.Fstatat(fd, info.name, &info.st, unix.AT_SYMLINK_NOFOLLOW)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err != nil {
			e.err = &fs.PathError{Op: "lstat", Path: path + "/" + info.name, Err: err}
		}
	})
	return out, dir, nil
}

// direntBuffers hold a directory's listing while readDirWatching reads it.
var direntBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// readDirents appends the whole listing of the open directory fd, as
// getdents64 returns it, to buf.
func readDirents(fd int, buf []byte) ([]byte, error) {
	for {
		if cap(buf)-len(buf) < 4<<10 { // room for a few of the largest records
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := unix.Getdents(fd, buf[len(buf):cap(buf)])
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return buf, err
		case n <= 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// eachDirent calls fn with the name and type (unix.DT_*) of each entry of
// a listing that readDirents read, but "." and "..", in the listing's
// order. x/sys/unix's ParseDirent gives the names without their types,
// which a walk needs to leave a regular file's stat to its reader.
func eachDirent(listing []byte, fn func(name []byte, typ byte)) {
	// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
	// d_type u8, then the name, NUL-terminated.
	const nameAt = 19
	for len(listing) >= nameAt {
		reclen := int(binary.NativeEndian.Uint16(listing[16:18]))
		if reclen < nameAt || reclen > len(listing) {
			return
		}
		rec := listing[:reclen]
		listing = listing[reclen:]
		if binary.NativeEndian.Uint64(rec[0:8]) == 0 {
			continue // a removed entry, as os.File.ReadDir skips it
		}
		name := rec[nameAt:]
		if n := bytes.IndexByte(name, 0); n >= 0 {
			name = name[:n]
		}
		if string(name) == "." || string(name) == ".." {
			continue
		}
		fn(name, rec[18])
	}
}

// A dirHandle is a listed directory kept open while the files the walk
// found in it wait to be read, each opened by its name in it (openat),
// not by its whole path: the kernel then resolves one name per file
// instead of every directory above it, 20 of them in a deep tree. Each
// file job holds it; the last release closes it.
type dirHandle struct {
	fd   int
	refs atomic.Int32
}

// hold adds a holder; a nil handle (a listing by a test hook) has none.
func (h *dirHandle) hold() {
	if h != nil {
		h.refs.Add(1)
	}
}

func (h *dirHandle) release() {
	if h != nil && h.refs.Add(-1) == 0 {
		unix.Close(h.fd)
	}
}

// openToRead opens the file name of the directory, whose whole path is
// path; without a handle, by path.
func (h *dirHandle) openToRead(name, path string) (readFile, error) {
	if h == nil {
		return openToRead(path)
	}
	return openToReadAt(h.fd, name, path)
}

// statDeferred reports whether readDirWatching listed de, a regular file,
// without its stat: its Info fails, and whoever reads the file takes the
// stat from the open file instead.
func statDeferred(de fs.DirEntry) bool {
	e, ok := de.(*statEntry)
	return ok && e.deferred
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
	info     statInfo
	err      error
	deferred bool // a regular file listed without its stat (see statDeferred)
}

// errStatDeferred is the Info of an entry listed without its stat.
var errStatDeferred = errors.New("stat not taken with the listing")

func (e *statEntry) Name() string { return e.info.name }
func (e *statEntry) IsDir() bool  { return e.Type().IsDir() }

func (e *statEntry) Type() fs.FileMode {
	if e.deferred {
		return 0 // regular, as the listing gave it
	}
	if e.err != nil {
		return fs.ModeIrregular // vanished or unreadable: Info says which
	}
	return e.info.Mode().Type()
}

func (e *statEntry) Info() (fs.FileInfo, error) {
	if e.deferred {
		return nil, &fs.PathError{Op: "lstat", Path: e.info.name, Err: errStatDeferred}
	}
	if e.err != nil {
		return nil, e.err
	}
	return &e.info, nil
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
