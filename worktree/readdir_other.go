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

// readDirWatching is readDir: there is no watcher but on Linux.
func readDirWatching(path string, watchFile func(name string)) ([]fs.DirEntry, error) {
	return readDir(path)
}
