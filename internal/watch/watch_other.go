//go:build !linux

package watch

import (
	"context"
	"errors"

	"github.com/processfork/pf/worktree"
)

// A Watcher is Linux's only: elsewhere every capture walks the tree.
type Watcher struct{}

func newWatcher(root string) (*Watcher, error) {
	return nil, errors.New("watching needs Linux's inotify")
}

func (w *Watcher) Root() string { return "" }
func (w *Watcher) Close() error { return nil }

func (w *Watcher) StartFileWatches() {}

func (w *Watcher) Begin(ctx context.Context) (worktree.ChangeSet, error) {
	return nil, errors.New("watching needs Linux's inotify")
}
