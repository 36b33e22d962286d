package worktree

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// A restoredState is what a served restore keeps with the watcher (see
// KeptResult) when it left the directory exactly as its image's tree: the
// next restore, if nothing at all changed since, takes that tree as the
// directory's and the image, its head, as its backup, without a walk. A
// walk then would find the image's tree too (only the image's paths
// differ from what the watcher's memo recorded, each checked), and on
// $GOROOT/src the backup's walk of what changed still recalled 12,800
// entries from the memo, sorted and compared them with the tree, and
// saved the stat cache: half of a served restore.
//
// The claim rests on the memo's capture: every path where the directory
// may differ from what it recorded is one an event was of since
// (ChangedPaths), and each was found, after the restore, as the image
// has it: a file the restore renamed into place with no event since
// (OwnChanges), of the image's bytes and mode, whose stat the next
// restore finds as the restore noted it (a write with no event, through
// a mapping or a hard link from outside, changes it), or no entry where
// the image has none (a restore's temporary name, which no tree holds,
// whatever lies there). Elsewhere the directory is as the memo recorded, which
// is as the image has it: the restore that kept this state, and each
// before it back to that capture, made every change of its plan (none
// left, none refused), so every entry they did not touch was the same
// in the tree before and after.
type restoredState struct {
	key   memoKey
	head  pf.HeadRef
	image manifest.Digest
	// sorted is the image's tree, in the order of a walk's sorted tree.
	sorted []manifest.Entry
	// memo is the watcher's memo that the changed paths are relative
	// to, and files the stats of the files at those paths, as the
	// restores that placed them noted them.
	memo  *captureMemo
	files map[string]fileStat
	// secrets are the paths DefaultSecrets leaves out of the tree, as
	// the backup of the restore before found them.
	secrets []string
}

// restoredKey is the memo key of a capture of root with opts's rules.
func restoredKey(s *pf.Store, root string, opts RestoreOptions) memoKey {
	return memoKey{
		root: root, store: s.Path(), ignore: strings.Join(opts.Ignore, "\x00"),
		noDefaultIgnores: opts.NoDefaultIgnores, includeSecrets: opts.IncludeSecrets,
	}
}

// keepRestored returns what keeps a restoredState for the next restore,
// nil unless the restore that wrote plan to root left the directory
// exactly as its image's tree and the watcher can vouch for every path
// that changed. The check comes after a barrier (Begin), from which on
// any change makes the watcher drop what is kept: a change before it is
// among the paths checked, one after it keeps nothing, even once the
// check has ended (see KeptResult.Keep). The restore keeps it once its
// commit has moved the head to the image.
func keepRestored(ctx context.Context, s *pf.Store, root string, opts RestoreOptions, head *pf.HeadRef, image manifest.Digest, plan *checkoutPlan, secrets []string) (keep func()) {
	cs, err := opts.Changes.Begin(ctx)
	if err != nil {
		return nil
	}
	defer cs.End(nil) // the changes stay for the next capture
	kept, ok1 := cs.(KeptResult)
	changed, ok2 := cs.(ChangedPaths)
	own, ok3 := cs.(OwnChanges)
	memo, ok4 := cs.Memo().(*captureMemo)
	key := restoredKey(s, root, opts)
	if !ok1 || !ok2 || !ok3 || !ok4 || memo.key != key || memo.unsure {
		return nil
	}
	// A directory a capture must read again whatever the watcher says
	// may have changed with no event.
	for _, m := range memo.dirs {
		if m.volatile {
			return nil
		}
	}
	paths, ok := changed.ChangedPaths()
	if !ok {
		return nil
	}
	st := &restoredState{
		key: key, head: *head, image: image, sorted: plan.sorted, memo: memo,
		files: make(map[string]fileStat, len(paths)), secrets: slices.Clone(secrets),
	}
	for _, path := range paths {
		if isRestoreTemp(baseName(path)) {
			continue // never in a tree, whatever lies there
		}
		e, inImage, ok := st.expected(root, path)
		if !ok {
			return nil
		}
		if !inImage {
			continue // absent, as in the image
		}
		// The file the restore renamed into place, with no event since:
		// what the restore noted of it is what lies there, but for a
		// write with no event, which the next restore's look at its stat
		// finds (takeRestored).
		note, ok := own.Own(path)
		w, isOwn := note.(ownWrite)
		if !ok || !isOwn || w.blob != e.Blob || w.stat.size != e.Size || w.stat.mode != e.Mode {
			return nil
		}
		st.files[path] = w.stat
	}
	return func() { kept.Keep(st) }
}

// expected returns the image's entry at the changed path, if any, and
// whether it may be as the image has it: only an absent entry, which the
// directory must lack too (a look at it), or a file, which the caller
// checks, pass. A directory or link at a changed path, an ignore file
// (whose rules may change what a walk finds), a secret that went (which
// the state would still name), anything where the image has nothing,
// fail.
func (st *restoredState) expected(root, path string) (e manifest.Entry, inImage, ok bool) {
	if slices.Contains(ignoreFiles, baseName(path)) {
		return e, false, false
	}
	i, inImage := slices.BinarySearchFunc(st.sorted, path, func(e manifest.Entry, p string) int { return manifest.ComparePaths(e.Path, p) })
	if !inImage {
		_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(path)))
		return e, false, errors.Is(err, fs.ErrNotExist) && !isSecretFound(st.secrets, path)
	}
	e = st.sorted[i]
	return e, true, e.Kind == manifest.KindFile
}

// takeRestored returns the state the last restore of root kept, when
// nothing at all changed since and it holds for this restore: the same
// store, rules and head, the head still its image, and each file it
// checked still with the stat it had (a write through a hard link made
// from outside the tree has no event here).
func takeRestored(ctx context.Context, s *pf.Store, root string, opts RestoreOptions, head *pf.HeadRef) *restoredState {
	cs, err := opts.Changes.Begin(ctx)
	if err != nil {
		return nil
	}
	var st *restoredState
	if kept, ok := cs.(KeptResult); ok {
		st, _ = kept.Kept().(*restoredState)
	}
	memo := cs.Memo()
	unchanged := false
	if u, ok := cs.(Unchanged); ok {
		unchanged = u.Unchanged()
	}
	cs.End(nil)
	if st == nil && !unchanged {
		return nil // no state to take: no read of the head
	}
	h, ok, err := s.Head(ctx, head.Dir, head.Session)
	if err != nil || !ok {
		return nil
	}
	if st == nil { // and unchanged, as above
		if m, ok := memo.(*captureMemo); ok {
			st = capturedState(ctx, s, root, opts, head, h.ID, m)
		}
	}
	if st == nil || len(st.sorted) == 0 || memo != any(st.memo) || st.key != restoredKey(s, root, opts) || st.head != *head || h.ID != st.image {
		return nil
	}
	for path, want := range st.files {
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(path)))
		if err != nil || !fi.Mode().IsRegular() || linkCount(fi) != 1 || statOf(fi) != want {
			return nil
		}
	}
	return st
}

// capturedState returns the state of a directory that nothing at all
// changed in since the capture that made memo (the watcher's Unchanged,
// which an unchanged served snapshot takes its whole walk on), when that
// capture's tree is the one of image, the head: the checkpoint an agent
// took of its last turn, say, before the restore that takes it back. The
// capture walked the directory with the watcher from its Begin on, so a
// walk now would find the tree it put, unless it met what may change
// with no event (memo.unsure: a file skipped, a temporary name; a
// volatile directory); its files, which the restore may replace, are
// checked against their recorded stats as a kept state's are
// (asRecorded). Its files map is empty: no path changed since.
func capturedState(ctx context.Context, s *pf.Store, root string, opts RestoreOptions, head *pf.HeadRef, image manifest.Digest, memo *captureMemo) *restoredState {
	key := restoredKey(s, root, opts)
	put := memo.lastPut()
	if memo.key != key || memo.unsure || put == nil || put.tree == nil {
		return nil
	}
	for _, m := range memo.dirs {
		if m.volatile {
			return nil
		}
	}
	img, err := s.Image(ctx, image)
	if err != nil || img.Manifest.World.FS != put.fs {
		return nil
	}
	return &restoredState{key: key, head: *head, image: image, sorted: put.tree.Entries, memo: memo, secrets: slices.Clone(put.secrets)}
}

// asRecorded reports whether every file the plan replaces, removes or
// changes the mode of has the stat now that the state knows of it: the
// watcher hears of no write through a shared memory mapping (see Restore).
// The files the state checked itself, takeRestored has just looked at.
func (st *restoredState) asRecorded(rs *restorer) bool {
	for path, ch := range rs.changes {
		if ch.Kind == Added || ch.Old.Kind != manifest.KindFile {
			continue
		}
		if _, ok := st.files[path]; ok {
			continue // looked at by takeRestored a moment ago
		}
		want, ok := st.memo.recordedStat(path)
		if !ok {
			return false
		}
		fi, err := os.Lstat(filepath.Join(st.key.root, filepath.FromSlash(path)))
		if err != nil || !fi.Mode().IsRegular() || statOf(fi) != want {
			return false
		}
	}
	return true
}

// isSecretFound reports whether path is among secrets, sorted.
func isSecretFound(secrets []string, path string) bool {
	_, found := slices.BinarySearch(secrets, path)
	return found
}
