package worktree

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/processfork/pf/manifest"
)

// Changes is what a file-system watcher knows of a directory: which of
// its directories changed since a capture, so that the next capture reads
// only those and takes the others from what that capture found. pf serve
// keeps one for each directory it captures (on Linux, through inotify).
// A capture with Changes makes the tree a capture without would make; a
// Changes that cannot tell what changed (its watcher lost events, say)
// makes the capture walk everything.
type Changes interface {
	// Begin is called as a capture of the directory starts. It waits
	// until every change made to the directory before the call is known
	// (a barrier), and returns the changes since the last capture that
	// ended keeping a memo, with that memo. The Changes belongs to the
	// capture until it calls End.
	Begin(ctx context.Context) (ChangeSet, error)
}

// A ChangeSet is what changed in a directory since the capture that left
// its Memo.
type ChangeSet interface {
	// Memo is what the last capture kept (see End), nil if none or if
	// the watcher cannot tell what changed since.
	Memo() any
	// Dirty reports whether the directory at dir (slash-separated,
	// relative to the root; "" is the root) may differ from what the
	// memo recorded of it: its list of entries, or the kind, mode or
	// bytes of any of them.
	Dirty(dir string) bool
	// Watch is called before the capture lists the directory at path
	// (dir set) or reads the file there: every change to it from then on
	// must make its directory dirty for the next capture. Captures on
	// several goroutines call it concurrently.
	Watch(path string, dir bool)
	// End ends the capture. A memo is what the capture found, for the
	// next one to start from, and means that the changes this set
	// reported are captured; nil (a capture that failed, or one that
	// records nothing, as Status) keeps the last memo and the changes.
	End(memo any)
}

// FileMemo is what the memo a capture gives End also tells: whether a
// file is still as the capture found it. A watcher that adds the
// watches of the files only once the capture ended asks it of each file
// whose watch is in place, and makes the next capture look again at
// those of which it says no: a change between the capture's look at the
// file and its watch had no event.
type FileMemo interface {
	// SameFiles returns the test of the files of the directory dir (as
	// Dirty's): whether its file name, whose stat fi was taken now, is
	// the one the capture recorded (size, times, inode) and has no other
	// hard link. A name the capture did not record (ignored, say) passes.
	SameFiles(dir string) func(name string, fi fs.FileInfo) bool
	// SameDir reports whether the directory dir, whose stat fi was
	// taken now, is as it was before the capture listed it: no entry
	// made, removed or renamed in it, its mode unchanged. A watcher that
	// adds a directory's watch only once the capture ended asks it, as
	// SameFiles, once the watch is in place.
	SameDir(dir string, fi fs.FileInfo) bool
}

// SameDir implements FileMemo. A directory changed in the second the
// capture began, or later, may have changed again after its listing with
// the same times (a file system's clock ticks coarsely): it is not the
// same, as the stat cache takes such a file as racy.
func (m *captureMemo) SameDir(dir string, fi fs.FileInfo) bool {
	d := m.dirs[dir]
	return d != nil && d.seen.ino != 0 && statOf(fi) == d.seen && settledBefore(d.seen, m.started)
}

// settledBefore reports whether st's times lie before the second of
// started (Unix ns).
func settledBefore(st fileStat, started int64) bool {
	return unixSecond(max(st.mtime, st.ctime)) < unixSecond(started)
}

// SameFiles implements FileMemo.
func (m *captureMemo) SameFiles(dir string) func(name string, fi fs.FileInfo) bool {
	var recorded map[string]fileStat
	if d := m.dirs[dir]; d != nil {
		recorded = make(map[string]fileStat, len(d.stats))
		files := 0
		for _, e := range d.entries {
			if e.Kind == manifest.KindFile {
				recorded[baseName(e.Path)] = d.stats[files]
				files++
			}
		}
	}
	return func(name string, fi fs.FileInfo) bool {
		st, ok := recorded[name]
		return !ok || statOf(fi) == st && linkCount(fi) == 1
	}
}

// LaterDirWatches is what a ChangeSet may also do: watch a directory
// only once the capture has ended, in place of Watch before its listing,
// and then ask the memo's SameDir (see FileMemo) whether it changed
// meanwhile. A capture that makes a memo asks it for the directories
// its stat shows unchanged since before the second the capture began
// (see captureMemo.SameDir); the others it watches at once.
type LaterDirWatches interface {
	WatchDirLater(path string)
}

// DirtyNames is what a ChangeSet may also know: which entries of a
// dirty directory changed. A capture then looks at those entries alone
// and takes the others from the memo, so that a file changed in a
// directory of thousands costs one stat, not thousands.
type DirtyNames interface {
	// DirtyNames returns the names of the entries of the directory dir
	// (as Dirty's) that may differ from what the memo recorded of them:
	// kind, mode, bytes, or whether they exist. ok is false when more
	// than those may differ (the directory was made, moved, or changed
	// itself): it is read whole.
	DirtyNames(dir string) (names []string, ok bool)
}

// Unchanged is what a ChangeSet may also know: that nothing at all in the
// directory changed since its memo. A capture then takes the whole tree
// from that memo, when the capture that made it checked every file of it
// against the stat cache (see wholeWalk), at the cost of no directory.
type Unchanged interface {
	Unchanged() bool
}

// KeptResult is what a ChangeSet may also do: keep a result of the
// capture for the next one, which takes it back when nothing at all
// changed in the directory since this capture began. A status keeps its
// changes so: the next status of the same head, with nothing changed,
// answers from them without a walk.
type KeptResult interface {
	// Kept returns what the capture before this one kept, when no
	// change at all was noted since it began (no event, none lost, no
	// watch missing); nil otherwise.
	Kept() any
	// Keep keeps v for the next capture; it may be called after End.
	Keep(v any)
}

// OwnWrites is what a Changes may also do: tell the files a restore
// renamed into place from anyone else's changes, so that the next capture
// need not read them again. A restore calls Expect before it renames a
// file it wrote to path, then Placed once the rename is done, with what
// the file is (nil: the rename failed). The watcher pairs the expected
// rename with its event; a later event of the path, or one it cannot
// pair, forgets the file (see OwnChanges).
type OwnWrites interface {
	Expect(path string)
	Placed(path string, note any)
}

// ChangedPaths is what a ChangeSet may also tell: every path an event
// was of since its memo. A restore that finds each of them as it left
// it knows the whole directory is its image's tree without a walk (see
// restoredState).
type ChangedPaths interface {
	// ChangedPaths returns the paths (as Dirty's) whose entries may
	// differ from what the memo recorded, each a file, link or
	// directory made, changed or removed there; ok is false when more
	// than their entries may differ: events were lost, or a directory
	// changed otherwise than by its entries' changes.
	ChangedPaths() (paths []string, ok bool)
}

// OwnChanges is what a ChangeSet of an OwnWrites may also know: the note
// Placed gave of the file at path, when the last event of that path was
// the restore's own rename and none was lost since.
type OwnChanges interface {
	Own(path string) (note any, ok bool)
}

// ownWrite is the note a restore gives of a file it placed: its stat
// once renamed into place, and its bytes' digest. A capture that finds
// the file with this same stat, and no event since the rename, takes the
// digest without reading it (see walker.ownWrite): the racy-clean rule
// of the stat cache, which guards against a write in the same tick as
// the stat, is what the watcher's order of events answers here.
type ownWrite struct {
	stat fileStat
	blob manifest.Digest
}

// ownWrite returns the digest of the file at rel that the restore before
// this capture wrote, if the watcher saw no change of it since and its
// stat st is still the one the restore took.
func (wk *walker) ownWrite(rel string, st fileStat) (manifest.Digest, bool) {
	own, ok := wk.changes.(OwnChanges)
	if !ok {
		return manifest.Digest{}, false
	}
	note, ok := own.Own(rel)
	if !ok {
		return manifest.Digest{}, false
	}
	w, ok := note.(ownWrite)
	if !ok || w.stat != st {
		return manifest.Digest{}, false
	}
	return w.blob, true
}

// A captureMemo is what a capture with Changes found, directory by
// directory, for the next capture with the same Changes.
type captureMemo struct {
	key  memoKey
	dirs map[string]*dirMemo // by slash path, "" the root
	// The capture's stat cache, which the next capture resumes from
	// once its save is committed (resumeStatCache).
	cache *statCache
	// The tree the capture put, when known: a status against it need
	// not decode it. Set once the tree is put, after End.
	tree atomic.Pointer[putTree]
	// whole is the capture's result, for a next capture that nothing
	// changed before (see Unchanged); nil when it cannot be taken whole.
	// Set with tree.
	whole atomic.Pointer[wholeWalk]
	// unsure says the capture met what may change with no event of the
	// watcher (see walker.unsure).
	unsure bool
	// started is when the capture began (Unix ns), before any stat it
	// took (see SameDir).
	started int64
}

// putTree is a tree a capture put, sorted, and its digest.
type putTree struct {
	fs   manifest.Digest
	tree *manifest.Tree
	// enc is the tree's encoding, when the capture made one, from which
	// the next capture encodes its tree (manifest.Tree.EncodeFrom).
	enc *manifest.EncodedTree
	// secrets are the paths DefaultSecrets left out of the tree, sorted,
	// as the capture found them: a restore that takes the tree as the
	// directory's reports them (see capturedState).
	secrets []string
}

// lastPut returns the tree m's capture put, or nil.
func (m *captureMemo) lastPut() *putTree {
	if m == nil {
		return nil
	}
	return m.tree.Load()
}

// dropEncoding lets go of the encoding of the tree m's capture put, once
// the next capture made its own from it: a memo may outlive its capture
// (a directory's memo points at the capture that made it), and each
// encoding of a tree of 100,000 files is tens of MB (27 MiB for
// pf-bench's checkpoints-small tree).
func (m *captureMemo) dropEncoding() {
	if t := m.lastPut(); t != nil && t.enc != nil {
		m.tree.CompareAndSwap(t, &putTree{fs: t.fs, tree: t.tree, secrets: t.secrets})
	}
}

// treeOf returns the tree of m if its digest is fs.
func (m *captureMemo) treeOf(fs manifest.Digest) *manifest.Tree {
	if t := m.lastPut(); t != nil && t.fs == fs {
		return t.tree
	}
	return nil
}

// memoKey is what makes the memo of a capture valid for another: the same
// directory, store and rules.
type memoKey struct {
	root, store      string
	ignore           string
	noDefaultIgnores bool
	includeSecrets   bool
}

func (c *Capture) memoKey() memoKey {
	return memoKey{
		root: c.root, store: c.Store.Path(), ignore: strings.Join(c.Ignore, "\x00"),
		noDefaultIgnores: c.NoDefaultIgnores, includeSecrets: c.IncludeSecrets,
	}
}

// A dirMemo is what a capture found in one directory, without what lies
// in its subdirectories.
type dirMemo struct {
	ignoreFile  string   // the ignore file in force here, "" none
	ignoreLines []string // its lines
	rules       *ignoreRules

	entries []manifest.Entry // the files and symbolic links
	stats   []fileStat       // of the files, in the order of entries
	// The stat cache's entries of the files, in the order of stats, as
	// the last recall of the directory found them in the cache whose
	// lineage is cachedIn (statCache.marks), so that the next recall
	// of a directory nothing changed in looks none up in the cache's
	// map; an entry the cache dropped since (see resumeStatCache) is
	// looked up again.
	cached   []*loadedEntry
	cachedIn *cacheMarks
	subdirs  []subdirMemo
	// order is the order of entries and subdirs by name, once a walk
	// laid them out in a tree (see sortedOrder).
	order   []int32
	ignored int
	secrets []string

	// seen is the directory's stat, taken before it was listed (zero
	// if none could be: see captureMemo.SameDir).
	seen fileStat

	// volatile says the directory must be read again, whatever the
	// watcher says: a file in it changed while it was read, an entry was
	// skipped with a warning (which a later capture must give again), a
	// file has other hard links, the directory is on another file system
	// than the root, or restore's temporary files lie in it.
	volatile bool
}

type subdirMemo struct {
	name string
	mode fs.FileMode
	dev  uint64
	// The memo the capture whose memo is memoOf made of the
	// subdirectory, kept where the walk meets it so that the next
	// capture's recall of a directory nothing changed in need not look
	// it up in that memo's map of every directory by path. Set by a
	// walk that came through this (recalled) parent; a capture that
	// failed, or whose memo the next does not start from, leaves one
	// that no longer matches, and the map is asked.
	memo   *dirMemo
	memoOf *captureMemo
}

// keepIn keeps m, the memo this walk made of a directory, in the
// directory's slot in its parent's memo (nil: none).
func (wk *walker) keepIn(slot *subdirMemo, m *dirMemo) {
	if slot != nil && wk.memo != nil {
		slot.memo, slot.memoOf = m, wk.memo
	}
}

func (m *dirMemo) addFile(e manifest.Entry, st fileStat) {
	m.entries = append(m.entries, e)
	m.stats = append(m.stats, st)
}

// recall returns the memo of the directory rel, and marks its files seen
// and hit in the stat cache, when the last capture's memo holds it and
// nothing in it changed since; nil to read the directory. slot is the
// directory's place in its parent's memo, if the walk came through one.
func (wk *walker) recall(rel string, slot *subdirMemo) *dirMemo {
	if wk.lastMemo == nil || wk.cache == nil || wk.changes.Dirty(rel) {
		return nil
	}
	var m *dirMemo
	if slot != nil && slot.memoOf == wk.lastMemo {
		m = slot.memo
	} else {
		m = wk.lastMemo.dirs[rel]
	}
	if m == nil || m.volatile {
		return nil
	}
	if wk.c.omitted != nil {
		// A scan against the memo's own tree takes no digest from it
		// (see Capture.omitted): what the stat cache holds does not
		// matter, and the scan saves no cache.
		return m
	}
	// A file's digest is taken from the memo only while the stat cache
	// holds it, with the same stat, as stored for good: a blob collected
	// since (gc) is read again.
	// Each file's cache entry is looked up once, kept here until all
	// are known to match, then marked: a directory of a few files keeps
	// them on the stack.
	var buf [32]*loadedEntry
	found := buf[:0]
	kept := m.cachedIn == wk.cache.marks && len(m.cached) == len(m.stats)
	lookedUp := !kept
	for i := range m.entries {
		e := &m.entries[i]
		if e.Kind != manifest.KindFile {
			continue
		}
		var ce *loadedEntry
		if kept {
			ce = m.cached[len(found)]
		}
		if ce == nil || ce.dropped.Load() {
			ce = wk.cache.entries[e.Path]
			lookedUp = true
		}
		if ce == nil || !ce.usable || ce.digest != e.Blob || ce.stat != m.stats[len(found)] {
			return nil
		}
		found = append(found, ce)
	}
	wk.cache.markHits(found)
	if lookedUp {
		m.cached, m.cachedIn = append(m.cached[:0], found...), wk.cache.marks
	}
	return m
}

// recallExcept returns, for the dirty directory rel, the memo the last
// capture made of it and the names of its entries that changed since,
// when the watcher knows them and the memo's files but those are still
// as the stat cache holds them (marked seen and hit); nil to read the
// directory whole. A change of its ignore file, or of a name the rules
// ignore (whose count the memo keeps, not its name), reads it whole.
func (wk *walker) recallExcept(rel string, segs []string) (*dirMemo, map[string]bool) {
	named, ok := wk.changes.(DirtyNames)
	if wk.lastMemo == nil || wk.cache == nil || !ok {
		return nil, nil
	}
	m := wk.lastMemo.dirs[rel]
	if m == nil || m.volatile {
		return nil, nil
	}
	names, ok := named.DirtyNames(rel)
	if !ok {
		return nil, nil
	}
	ignoredHere := m.rules.all.inDir(segs)
	changed := make(map[string]bool, len(names))
	for _, name := range names {
		childSegs := append(segs[:len(segs):len(segs)], name)
		if slices.Contains(ignoreFiles, name) || ignoredHere.match(childSegs, name, false) || ignoredHere.match(childSegs, name, true) {
			return nil, nil
		}
		changed[name] = true
	}
	// Each unchanged file's cache entry is the one the last recall of
	// the directory kept (see dirMemo.cached), when it did and the cache
	// has not dropped it since, else looked up, as recall does: a dirty
	// directory of hundreds of files cost as many lookups in the cache's
	// map of every file, twice.
	kept := m.cachedIn == wk.cache.marks && len(m.cached) == len(m.stats)
	hits := make([]*loadedEntry, 0, len(m.stats))
	files := 0
	for i := range m.entries {
		e := &m.entries[i]
		if e.Kind != manifest.KindFile {
			continue
		}
		st := m.stats[files]
		var ce *loadedEntry
		if kept {
			ce = m.cached[files]
		}
		files++
		if changed[baseName(e.Path)] {
			continue
		}
		if ce == nil || ce.dropped.Load() {
			ce = wk.cache.entries[e.Path]
		}
		if ce == nil || !ce.usable || ce.digest != e.Blob || ce.stat != st {
			return nil, nil
		}
		hits = append(hits, ce)
	}
	wk.cache.markHits(hits)
	return m, changed
}

func baseName(rel string) string { return rel[strings.LastIndexByte(rel, '/')+1:] }

// replay adds what the memo m of the directory rel holds, as a walk of
// it would, but for its subdirectories; changed names the entries left
// out of m, which the walk looks at again (nil: none).
func (wk *walker) replay(rel string, m *dirMemo, changed map[string]bool) error {
	for i := range m.entries {
		e := m.entries[i]
		if e.Kind == manifest.KindSymlink {
			// Stored again: the blob may have been collected since.
			if _, err := wk.w.PutBytes(wk.ctx, []byte(e.LinkTarget)); err != nil {
				return err
			}
		}
	}
	wk.mu.Lock()
	if wk.c.omitted != nil {
		// A scan against the tree whose memos these are: the entries
		// are that tree's, and the scan leaves them out.
		wk.c.omitted[rel] = changed
	} else {
		wk.entries = append(wk.entries, m.entries...)
	}
	for i := range m.entries {
		e := &m.entries[i]
		switch e.Kind {
		case manifest.KindFile:
			wk.stats.Files++
			wk.stats.Bytes += e.Size
			wk.stats.CacheHits++
			wk.stats.Recalled++
		case manifest.KindSymlink:
			wk.stats.Symlinks++
		}
	}
	if wk.c.skipHash != nil && wk.c.omitted == nil {
		// A scan gives no digest for a file it need not read, unless
		// the stat cache has it (not racy-clean), as it does walking.
		first := len(wk.entries) - len(m.entries)
		for i := first; i < len(wk.entries); i++ {
			e := &wk.entries[i]
			if e.Kind != manifest.KindFile || !wk.c.skipHash(e.Path, e.Size) {
				continue
			}
			if ce := wk.cache.entries[e.Path]; unixSecond(ce.stat.mtime) >= unixSecond(ce.recorded) {
				e.Blob = manifest.Digest{}
			}
		}
	}
	wk.stats.Ignored += m.ignored
	wk.secrets = append(wk.secrets, m.secrets...)
	if wk.memo != nil {
		wk.memo.dirs[rel] = m
	}
	wk.mu.Unlock()
	files := int64(len(m.stats))
	wk.unchangedFiles.Add(files)
	wk.doneFiles.Add(files)
	return nil
}

// remember keeps m as what the walk found in the directory rel.
func (wk *walker) remember(rel string, m *dirMemo) {
	if wk.memo == nil {
		return
	}
	wk.mu.Lock()
	wk.memo.dirs[rel] = m
	wk.mu.Unlock()
}

// sameIgnoreFile reports whether the memo m found the ignore file name
// with lines, as the walk finds it now.
func (m *dirMemo) sameIgnoreFile(name string, lines []string) bool {
	return m.ignoreFile == name && slices.Equal(m.ignoreLines, lines)
}

// recordedStat is the stat the capture holds for the file at rel: one it
// took, or, in a directory it took from the last capture without a look,
// the one that capture took. A scan makes no memo of its own: the last
// capture's stat is given, which is older than the scan's own for a
// directory it read. False: no memo holds such a file.
func (c *Capture) recordedStat(rel string) (fileStat, bool) {
	memo := c.made
	if memo == nil {
		memo = c.last
	}
	return memo.recordedStat(rel)
}

// recordedStat is the stat the memo holds for the file at rel; false if
// none (no such file, or a nil memo).
func (memo *captureMemo) recordedStat(rel string) (fileStat, bool) {
	if memo == nil {
		return fileStat{}, false
	}
	dir := ""
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dir = rel[:i]
	}
	m := memo.dirs[dir]
	if m == nil {
		return fileStat{}, false
	}
	files := 0
	for i := range m.entries {
		if m.entries[i].Kind != manifest.KindFile {
			continue
		}
		if m.entries[i].Path == rel {
			return m.stats[files], true
		}
		files++
	}
	return fileStat{}, false
}
