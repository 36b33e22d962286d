//go:build !linux

package worktree

import (
	"io/fs"
	"os"
)

// readDir lists a directory; each entry's Info takes its stat.
func readDir(path string) ([]fs.DirEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Unsorted: the tree is sorted once, at the end.
	return f.ReadDir(-1)
}

// readDirWatching is readDir: there is no watcher but on Linux, and every
// entry's Info takes its stat when asked, so needStat is not needed. dir
// is nil: files are opened by their whole path.
func readDirWatching(path string, watchFile func(name string), needStat func(name string) bool) ([]fs.DirEntry, *dirHandle, error) {
	dirents, err := readDir(path)
	return dirents, nil, err
}

// A dirHandle would keep a listed directory open for its files to be
// opened by name; here files are opened by path, and handles are nil.
type dirHandle struct{}

func (h *dirHandle) hold()    {}
func (h *dirHandle) release() {}

// openToRead opens the file whose whole path is path.
func (h *dirHandle) openToRead(name, path string) (readFile, error) {
	return openToRead(path)
}

// statDeferred is false: every entry's Info takes its stat.
func statDeferred(de fs.DirEntry) bool { return false }
