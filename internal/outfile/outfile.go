// Package outfile writes to a path that a user named on a command line
// (pf get -o, pf export -o, pf-bench --markdown): as a shell's redirection
// would, but never leaving a half-written regular file, and never touching
// anything but what the path names.
//
//	w, err := outfile.Create(path, stdout)
//	if err != nil { ... }
//	defer w.Close() // discards what was written unless Commit ran
//	if _, err := io.Copy(w, r); err != nil { return err }
//	return w.Commit()
//
// What path names decides how it is written:
//
//   - "-": standard output (the writer given to Create), and so are
//     /dev/stdout, /dev/fd/1 and /proc/self/fd/1, as bash takes them:
//     reopening the descriptor's file would need permission on it, which
//     another user's pipe does not give.
//   - an existing device, FIFO or socket, or a link to one (/dev/null,
//     /dev/stdout): opened and written in place, as it is.
//   - a regular file, or nothing yet: written to a temporary file in the
//     same directory, fsynced, and renamed over the path by Commit (the
//     directory fsynced after), so that readers see the old bytes or the
//     new, whole; a failed or abandoned write leaves the path as it was.
//     An existing file keeps its permissions; a new one gets 0666 less the
//     umask.
//   - a symbolic link: followed; its final target is replaced (or created)
//     as a regular file is, staged in the target's directory. The link
//     stays a link.
//
// A temporary file is only ever made in the directory of the file it
// replaces: never in a directory the user did not name.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxLinks bounds how many symbolic links a path is followed through, as
// the kernel bounds it (Linux's MAXSYMLINKS).
const maxLinks = 40

// A File is an output in progress. It is not safe for concurrent use.
type File struct {
	name    string    // the path as given, for errors
	w       io.Writer // where Write goes
	pending pending   // a staged replacement of a regular file, or nil
	inPlace *os.File  // an opened device, FIFO or socket, or nil
	done    bool
}

// pending is a temporary file that Commit renames over its target.
type pending interface {
	io.Writer
	// replace fsyncs the file, closes it and renames it over its target.
	replace() error
	// discard closes and removes the file.
	discard() error
}

// Create prepares to write path, or stdout when path is "-" (a nil stdout
// refuses "-": for outputs that cannot go there). A relative
// path is taken against the process's working directory: callers that
// run on behalf of another process make it absolute first.
func Create(path string, stdout io.Writer) (*File, error) {
	if isStdout(path) {
		if stdout == nil {
			return nil, fmt.Errorf("write %s: no standard output to write to here", path)
		}
		return &File{name: "standard output", w: stdout}, nil
	}
	if path == "" {
		return nil, errors.New("write: no path named")
	}
	info, err := os.Stat(path) // follows every link, as the kernel would
	switch {
	case err == nil && info.IsDir():
		return nil, fmt.Errorf("write %s: %w", path, errIsDir)
	case err == nil && !info.Mode().IsRegular():
		return openInPlace(path, 0)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	target, err := finalTarget(path)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if info != nil {
		// A regular file, reached through links that finalTarget could
		// not follow by reading them (/dev/stdout is a link to
		// /proc/self/fd/1, whose target reads "pipe:[...]" or the path
		// of a file the shell already opened): write through the path
		// itself, appending, as the shell's own redirection stands.
		if t, err := os.Lstat(target); err != nil || !os.SameFile(info, t) {
			return openInPlace(path, os.O_APPEND)
		}
	}
	p, err := stage(target)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{name: path, w: p, pending: p}, nil
}

// isStdout reports whether path names standard output.
func isStdout(path string) bool {
	switch path {
	case "-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1":
		return true
	}
	return false
}

var errIsDir = errors.New("is a directory")

func openInPlace(path string, flag int) (*File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|flag, 0)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{name: path, w: f, inPlace: f}, nil
}

// finalTarget follows path through symbolic links to the file they lead
// to, which need not exist: a dangling link's target is where a new file
// goes. Only the last element is followed; links among the directories
// above it stay as they are, since a file staged beside the target
// reaches the same directory through them.
func finalTarget(path string) (string, error) {
	for range maxLinks {
		info, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	return "", errors.New("too many levels of symbolic links")
}

// Write writes to the output.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("write %s: %w", f.name, os.ErrClosed)
	}
	n, err := f.w.Write(p)
	if err != nil {
		err = fmt.Errorf("write %s: %w", f.name, err)
	}
	return n, err
}

// Commit makes what was written the path's content: it renames a staged
// file into place, or closes a device. Standard output is left open.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: %w", f.name, os.ErrClosed)
	}
	f.done = true
	var err error
	switch {
	case f.pending != nil:
		err = f.pending.replace()
	case f.inPlace != nil:
		err = f.inPlace.Close()
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	return nil
}

// Close abandons the output unless Commit ran: a staged file is removed
// and the path left as it was. (What went to a device or to standard
// output cannot be taken back.) It may be called more than once.
func (f *File) Close() error {
	if f.done {
		return nil
	}
	f.done = true
	switch {
	case f.pending != nil:
		return f.pending.discard()
	case f.inPlace != nil:
		return f.inPlace.Close()
	}
	return nil
}

// WriteFile writes data to path as Create and Commit do.
func WriteFile(path string, data []byte, stdout io.Writer) error {
	f, err := Create(path, stdout)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
