//go:build unix

package worktree

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/processfork/pf/manifest"
	"golang.org/x/sys/unix"
)

// An inPlaceRoot is a directory that Restore changes in place. Every
// operation names an entry by its path from the root and reaches it
// through directory descriptors opened one component at a time with
// O_NOFOLLOW, so that no symbolic link, in the tree or put there while
// Restore runs, ever carries a write elsewhere.
type inPlaceRoot struct {
	fd   int
	late *lateCloser
}

func openInPlaceRoot(dir string) (*inPlaceRoot, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &inPlaceRoot{fd: fd, late: newLateCloser()}, nil
}

func (r *inPlaceRoot) Close() error {
	r.late.stop()
	return unix.Close(r.fd)
}

// A parentDir is the directory that holds an entry: the operations on the
// entry take its base name.
type parentDir struct {
	fd   int
	root bool // fd is the root's, not to be closed
	late *lateCloser
}

// parent opens the directory that holds rel, refusing to pass through
// anything but a real directory (errNotDir).
func (r *inPlaceRoot) parent(rel string) (*parentDir, string, error) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return &parentDir{fd: r.fd, root: true, late: r.late}, rel, nil
	}
	fd, err := openDirBeneath(r.fd, rel[:i])
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			err = errNotDir
		}
		return nil, "", &os.PathError{Op: "open", Path: rel[:i], Err: err}
	}
	return &parentDir{fd: fd, late: r.late}, rel[i+1:], nil
}

// openDirStepwise opens the directory rel under the directory root one
// component at a time, never following a link (ELOOP) nor passing
// through what is not a directory (ENOTDIR).
func openDirStepwise(root int, rel string) (int, error) {
	fd := root
	for seg := range strings.SplitSeq(rel, "/") {
		next, err := unix.Openat(fd, seg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if fd != root {
			unix.Close(fd)
		}
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

func (p *parentDir) Close() {
	if !p.root {
		unix.Close(p.fd)
	}
}

// lstat returns the mode of the entry name, not following a link; ok is
// false when there is none.
func (p *parentDir) lstat(name string) (mode fs.FileMode, ok bool, err error) {
	var st unix.Stat_t
	err = unix.Fstatat(p.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return unixMode(uint32(st.Mode)), true, nil
}

// fileStat returns the stat of the file name, as statOf gives it.
func (p *parentDir) fileStat(name string) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(p.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fileStat{}, err
	}
	return fileStat{size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: uint64(st.Ino), dev: uint64(st.Dev), mode: unixMode(uint32(st.Mode)) & manifest.ModeMask}, nil
}

// unixMode is the fs.FileMode of st_mode m, as os.Lstat's Mode gives
// it: a tree entry records it masked with manifest.ModeMask.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFREG:
	default:
		mode |= fs.ModeIrregular
	}
	return mode
}

// writeFile writes r to a new temporary file beside name and renames it
// over name: a reader of name sees the old file or the new one, whole.
// With sync, the file's bytes reach the disk before the rename, and what
// it reports is what the stat cache may record of the file (see
// placedStat), if anything.
func (p *parentDir) writeFile(name string, r io.Reader, mode fs.FileMode, sync bool, beforeRename func(written fileStat)) (int64, placed, error) {
	tmp := restoreTempName()
	perm, chmod := createPerm(mode)
	fd, err := unix.Openat(p.fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return 0, placed{}, err
	}
	if !chmod {
		// The umask, or the directory's default ACL, may have dropped
		// bits: a look at the file's mode is cheaper than a chmod, and
		// makes no event for pf serve's watcher.
		var st unix.Stat_t
		chmod = unix.Fstat(fd, &st) != nil || uint32(st.Mode)&0o7777 != perm
	}
	f := os.NewFile(uintptr(fd), tmp)
	n, err := io.Copy(f, r)
	if err == nil && chmod {
		// umask and the open drop the setuid, setgid and sticky bits:
		// set them as recorded, as tar and cp -a do.
		err = f.Chmod(mode & manifest.ModeMask)
	}
	var written fs.FileInfo
	if err == nil && sync {
		if err = f.Sync(); err == nil {
			written, err = f.Stat()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && beforeRename != nil {
		var st fileStat
		if written != nil {
			st = statOf(written)
		}
		beforeRename(st)
	}
	renamed := time.Now()
	if err == nil {
		replaced := holdReplaced(p.fd, name)
		err = unix.Renameat(p.fd, tmp, p.fd, name)
		p.late.release(replaced)
	}
	if err != nil {
		unix.Unlinkat(p.fd, tmp, 0)
		return n, placed{}, err
	}
	var pl placed
	if written != nil {
		if fd, err := unix.Openat(p.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			f := os.NewFile(uintptr(fd), name)
			if now, err := f.Stat(); err == nil {
				pl = placedStat(statOf(written), statOf(now), renamed)
			}
			f.Close()
		}
	}
	return n, pl, nil
}

// createPerm returns the permission to create a file of mode with, and
// whether it needs a chmod after for certain: a mode with a setuid,
// setgid or sticky bit, which the open drops, is set by a chmod, the file
// private (0600) until then. Any other file is created with its mode,
// which the umask or a default ACL may still cut (the caller looks).
func createPerm(mode fs.FileMode) (perm uint32, chmod bool) {
	if mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		return 0o600, true
	}
	return uint32(mode.Perm()), false
}

// openToTruncate opens name for reading and writing, never through a
// link, when it is a regular file with no other link: a file cut in
// place must not change what another name shows.
func (p *parentDir) openToTruncate(name string) (*os.File, error) {
	fd, err := unix.Openat(p.fd, name, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		unix.Close(fd)
		return nil, errNotTruncatable
	}
	return os.NewFile(uintptr(fd), name), nil
}

// symlink makes name a symbolic link to target, replacing a file or link
// there in one rename.
func (p *parentDir) symlink(target, name string) error {
	tmp := restoreTempName()
	if err := unix.Symlinkat(target, p.fd, tmp); err != nil {
		return err
	}
	if err := unix.Renameat(p.fd, tmp, p.fd, name); err != nil {
		unix.Unlinkat(p.fd, tmp, 0)
		return err
	}
	return nil
}

func (p *parentDir) mkdir(name string) error { return unix.Mkdirat(p.fd, name, 0o700) }

// chmod sets the mode of the file or directory name, never of a link's
// target.
func (p *parentDir) chmod(name string, mode fs.FileMode) error {
	fd, err := unix.Openat(p.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fchmod(fd, unixPermBits(mode))
}

// unixPermBits is the st_mode of mode's permission, setuid, setgid and
// sticky bits.
func unixPermBits(mode fs.FileMode) uint32 {
	m := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= unix.S_ISUID
	}
	if mode&fs.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if mode&fs.ModeSticky != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// remove deletes the file or link name, or the directory name when dir.
func (p *parentDir) remove(name string, dir bool) error {
	flags, removed := 0, -1
	if dir {
		flags = unix.AT_REMOVEDIR
	} else {
		removed = holdReplaced(p.fd, name)
	}
	err := unix.Unlinkat(p.fd, name, flags)
	p.late.release(removed)
	if errors.Is(err, unix.EEXIST) {
		err = unix.ENOTEMPTY // as some systems say it
	}
	return err
}

func isNotEmpty(err error) bool { return errors.Is(err, unix.ENOTEMPTY) }

// replaceDir renames the directory oldpath over the empty directory
// newpath in one step; it fails if something appeared in newpath meanwhile.
// (os.Rename refuses to replace a directory at all.)
func replaceDir(oldpath, newpath string) error {
	if err := unix.Rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
