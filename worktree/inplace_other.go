//go:build !unix

package worktree

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/processfork/pf/manifest"
)

// An inPlaceRoot is a directory that Restore changes in place. Without
// the *at system calls, each operation checks with Lstat that every
// directory on the way is a real directory, not a link or junction;
// there is a window between that check and the operation that the unix
// version does not have.
type inPlaceRoot struct {
	dir string
}

func openInPlaceRoot(dir string) (*inPlaceRoot, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &os.PathError{Op: "open", Path: dir, Err: errNotDir}
	}
	return &inPlaceRoot{dir: dir}, nil
}

func (r *inPlaceRoot) Close() error { return nil }

type parentDir struct {
	dir string
}

func (r *inPlaceRoot) parent(rel string) (*parentDir, string, error) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return &parentDir{dir: r.dir}, rel, nil
	}
	dir := r.dir
	for seg := range strings.SplitSeq(rel[:i], "/") {
		dir = filepath.Join(dir, seg)
		fi, err := os.Lstat(dir)
		if err != nil {
			return nil, "", err
		}
		if !fi.IsDir() || fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
			return nil, "", &os.PathError{Op: "open", Path: rel[:i], Err: errNotDir}
		}
	}
	return &parentDir{dir: dir}, rel[i+1:], nil
}

func (p *parentDir) Close() {}

func (p *parentDir) lstat(name string) (fs.FileMode, bool, error) {
	fi, err := os.Lstat(filepath.Join(p.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return fi.Mode(), true, nil
}

// fileStat returns the stat of the file name, as statOf gives it.
func (p *parentDir) fileStat(name string) (fileStat, error) {
	fi, err := os.Lstat(filepath.Join(p.dir, name))
	if err != nil {
		return fileStat{}, err
	}
	return statOf(fi), nil
}

// writeFile is the Unix one's, but it never reports what the stat cache
// may record: the file cannot be looked at through the directory it was
// renamed in. So it does not sync either: on Unix the sync is what lets a
// file be recorded, and here nothing is.
func (p *parentDir) writeFile(name string, r io.Reader, mode fs.FileMode, _ bool, beforeRename func(written fileStat)) (int64, placed, error) {
	tmp := filepath.Join(p.dir, restoreTempName())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, placed{}, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Chmod(mode & manifest.ModeMask)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && beforeRename != nil {
		beforeRename(fileStat{})
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(p.dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return n, placed{}, err
}

func (p *parentDir) symlink(target, name string) error {
	path := filepath.Join(p.dir, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Symlink(target, path)
}

func (p *parentDir) mkdir(name string) error { return os.Mkdir(filepath.Join(p.dir, name), 0o700) }

func (p *parentDir) chmod(name string, mode fs.FileMode) error {
	path := filepath.Join(p.dir, name)
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return &os.PathError{Op: "chmod", Path: path, Err: errNotDir}
	}
	return os.Chmod(path, mode&manifest.ModeMask)
}

func (p *parentDir) remove(name string, dir bool) error {
	path := filepath.Join(p.dir, name)
	if !dir {
		return os.Remove(path)
	}
	err := syscall.Rmdir(path)
	if err != nil {
		if des, rerr := os.ReadDir(path); rerr == nil && len(des) > 0 {
			return errDirNotEmpty
		}
	}
	return err
}

func isNotEmpty(err error) bool { return errors.Is(err, errDirNotEmpty) }

var errDirNotEmpty = errors.New("directory not empty")

// replaceDir puts the directory oldpath in the place of the empty
// directory newpath: removing newpath fails unless it is empty.
func replaceDir(oldpath, newpath string) error {
	if err := os.Remove(newpath); err != nil {
		return err
	}
	return renameNoReplace(oldpath, newpath)
}

// openToTruncate is unix's alone: elsewhere a restore writes each file
// whole.
func (p *parentDir) openToTruncate(name string) (*os.File, error) {
	return nil, errNotTruncatable
}
