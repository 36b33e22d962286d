// Package watch keeps, for each workspace pf serve captures, a watcher of
// its directories (inotify, through github.com/fsnotify/fsnotify) that
// knows which of them changed since the last capture: the next snapshot
// or status reads only those (see worktree.Changes).
//
// A change is known only once its event is read: before a capture trusts
// the watcher, it creates a file in a private directory outside the
// workspace, which the same inotify instance watches, and waits for that
// file's event. Linux queues the events of one instance in order, so by
// then every change finished before the capture began has been noted.
// Where that does not hold (systems other than Linux, file systems whose
// changes made elsewhere have no local event: NFS, FUSE), there is no
// watcher and every capture walks the whole tree.
package watch

import (
	"path/filepath"
	"slices"
	"sync"

	"github.com/processfork/pf/worktree"
)

// MaxRoots is how many workspaces Roots watches at once; the one used
// least recently is dropped for a new one.
const MaxRoots = 16

// Roots is the watchers of the workspaces a long-lived process captures.
type Roots struct {
	mu     sync.Mutex
	used   []*Watcher // least recently used first
	failed map[string]bool
	closed bool
}

// For returns the watcher of the workspace at dir, made on first use; nil
// where a workspace cannot be watched (see the package comment), or after
// Close.
func (r *Roots) For(dir string) worktree.Changes {
	root, err := filepath.Abs(dir)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil || r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.failed[root] {
		return nil
	}
	if i := slices.IndexFunc(r.used, func(w *Watcher) bool { return w.Root() == root }); i >= 0 {
		w := r.used[i]
		r.used = append(slices.Delete(r.used, i, i+1), w)
		return w
	}
	w, err := newWatcher(root)
	if err != nil {
		if r.failed == nil {
			r.failed = map[string]bool{}
		}
		r.failed[root] = true
		return nil
	}
	if len(r.used) == MaxRoots {
		// Closed once the capture it may be serving ends.
		go r.used[0].Close()
		r.used = slices.Delete(r.used, 0, 1)
	}
	r.used = append(r.used, w)
	return w
}

// StartFileWatches starts adding the file watches that the captures
// which ended left waiting (see Watcher.StartFileWatches): a server
// calls it once a command's snapshot has committed. A nil Roots has
// none.
func (r *Roots) StartFileWatches() {
	if r == nil {
		return
	}
	r.mu.Lock()
	used := slices.Clone(r.used)
	r.mu.Unlock()
	for _, w := range used {
		w.StartFileWatches()
	}
}

// Close stops every watcher, each once its capture under way ends.
func (r *Roots) Close() error {
	r.mu.Lock()
	used := r.used
	r.used, r.closed = nil, true
	r.mu.Unlock()
	for _, w := range used {
		w.Close()
	}
	return nil
}
