package worktree

import (
	"slices"

	"github.com/processfork/pf/manifest"
)

// A wholeWalk is what a capture with Changes found, kept for a next
// capture before which nothing changed (see Unchanged): that one takes it
// whole instead of going through the memo directory by directory, which on
// a tree of 100,000 files costs a lookup of each in the stat cache.
//
// It is made only by a capture that found every file as the stat cache
// held it (none read, none skipped, no directory volatile), so that the
// stat cache it saved holds exactly its files, each with the stat and
// digest of its entry. A later capture that resumes that stat cache as
// saved (Stats.CacheKept), with no change since, would recall every
// directory of the memo and find this same tree.
type wholeWalk struct {
	tree    *manifest.Tree // sorted; shared by the captures that take it, never changed
	rest    manifest.Digest
	stats   Stats
	secrets []string
	links   []string // the symbolic links' targets, stored again by each capture
	// The files' blobs and sizes, which the snapshot's commit need not
	// look up (statCache.save's reached).
	reached map[manifest.Digest]int64
}

// takeWhole returns the last capture's whole walk when this capture may
// take it: nothing changed since, and the stat cache is the one that
// capture saved.
func (wk *walker) takeWhole() *wholeWalk {
	if wk.lastMemo == nil || wk.cache == nil || !wk.stats.CacheKept {
		return nil
	}
	if u, ok := wk.changes.(Unchanged); !ok || !u.Unchanged() {
		return nil
	}
	return wk.lastMemo.whole.Load()
}

// replayWhole adds what the whole walk w found, as a walk finding the same
// would.
func (wk *walker) replayWhole(w *wholeWalk) error {
	for _, target := range w.links {
		// Stored again, as replay does.
		if _, err := wk.w.PutBytes(wk.ctx, []byte(target)); err != nil {
			return err
		}
	}
	wk.entries = w.tree.Entries
	kept := wk.stats.CacheKept
	wk.stats = w.stats
	wk.stats.CacheKept, wk.stats.Whole = kept, true
	wk.secrets = slices.Clone(w.secrets)
	wk.memo.dirs = wk.lastMemo.dirs
	wk.cache.wholeReached = w.reached
	files := int64(w.stats.Files)
	wk.unchangedFiles.Store(files)
	wk.doneFiles.Store(files)
	wk.doneBytes.Store(w.stats.Bytes)
	return nil
}

// keepWhole keeps in the walk's memo, once its tree is put (keepTree),
// the whole walk for the next capture, if it may be taken whole.
func (wd *walked) keepWhole() {
	wk := wd.wk
	if wk.memo == nil || wk.cache == nil {
		return
	}
	if wd.whole != nil {
		wk.memo.whole.Store(wd.whole)
		return
	}
	put := wk.memo.tree.Load()
	st := wk.stats
	if put == nil || wk.cache.reached == nil || st.Hashed != 0 || st.Skipped != 0 || st.Racy != 0 || st.Reread != 0 ||
		len(wk.temps) != 0 || wk.unchangedFiles.Load() != int64(st.Files) {
		return
	}
	for _, m := range wk.memo.dirs {
		if m.volatile {
			return
		}
	}
	w := &wholeWalk{tree: put.tree, rest: wd.rest(), stats: st, secrets: slices.Clone(wk.secrets), reached: wk.cache.reached}
	w.stats.CacheHits, w.stats.Recalled = st.Files, st.Files
	w.stats.CacheKept, w.stats.TreeCached, w.stats.Whole = false, false, false
	for i := range put.tree.Entries {
		if e := &put.tree.Entries[i]; e.Kind == manifest.KindSymlink {
			w.links = append(w.links, e.LinkTarget)
		}
	}
	wk.memo.whole.Store(w)
}
