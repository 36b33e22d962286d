package worktree

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openToRead opens a file the walk found as openForRead does, as a bare
// descriptor rather than an *os.File: an *os.File of a regular file costs
// each open a registration with the poller that fails (epoll_ctl), a
// descriptor flag change and a cleanup for the collector, and a first
// capture opens every file.
func openToRead(path string) (readFile, error) {
	return openToReadAt(unix.AT_FDCWD, path, path)
}

// openToReadAt is openToRead of name in the open directory dirfd, path
// being name's whole path, for errors.
func openToReadAt(dirfd int, name, path string) (readFile, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			return &fdFile{fd: fd, path: path}, nil
		}
		if !errors.Is(err, unix.EINTR) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
	}
}

// An fdFile is a file open for reading, by its descriptor.
type fdFile struct {
	fd   int
	path string
}

func (f *fdFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Stat returns the file's stat, as readDir's entries give theirs.
func (f *fdFile) Stat() (fs.FileInfo, error) {
	fi := &statInfo{name: filepath.Base(f.path)}
	for {
		err := unix.Fstat(f.fd, &fi.st)
		if err == nil {
			return fi, nil
		}
		if !errors.Is(err, unix.EINTR) {
			return nil, &fs.PathError{Op: "stat", Path: f.path, Err: err}
		}
	}
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return fs.ErrClosed
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.path, Err: err}
	}
	return nil
}
