//go:build linux

package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/processfork/pf/worktree"
	"golang.org/x/sys/unix"
)

// barrierTimeout bounds the wait for a cookie's event; past it the
// capture walks everything.
const barrierTimeout = 2 * time.Second

// localFileSystems are the file systems whose changes inotify reports
// whoever makes them: on a network or FUSE file system, a change made
// elsewhere has no event here.
var localFileSystems = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:      true, // ext2, ext3 and ext4
	unix.XFS_SUPER_MAGIC:       true,
	unix.BTRFS_SUPER_MAGIC:     true,
	unix.TMPFS_MAGIC:           true,
	unix.F2FS_SUPER_MAGIC:      true,
	unix.OVERLAYFS_SUPER_MAGIC: true,
	0x2fc12fc1:                 true, // zfs
}

// A Watcher watches the directories of one workspace that a capture
// enters, through one inotify instance, and keeps the set of directories
// that changed since the last capture (see worktree.Changes).
type Watcher struct {
	root    string // absolute, links resolved
	fsw     *fsnotify.Watcher
	cookies string   // a private directory outside root for the barrier
	lock    *os.File // cookies' lock file, locked while the watcher lives

	// capture is held by a capture from Begin to End.
	capture sync.Mutex

	mu       sync.Mutex
	watched  map[string]bool            // paths watched, relative to root: true for a directory
	dirty    map[string]bool            // directories changed
	names    map[string]map[string]bool // by directory, the names of its entries changed
	whole    map[string]bool            // directories changed otherwise than by an entry's change
	subtrees map[string]bool            // paths whose whole subtree changed
	unknown  bool                       // events lost: everything changed
	waiting  map[string]chan struct{}   // cookie name → its event
	// The files a restore renamed into place (see worktree.OwnWrites):
	// renames expected and not yet paired with their event, by path, and
	// by path what the restore placed, once its rename's event came.
	expected map[string]int
	own      map[string]*ownFile
	// temps are the restores' temporary files made since the last
	// Begin, whose paths no event named before: once renamed into place
	// (or removed), they leave no trace to look at (see noteTemp).
	temps map[string]bool
	memo  any
	// kept is what the last capture left with Keep (see
	// worktree.KeptResult), valid while quiet: no change at all was
	// noted since that capture's Begin, which began generation gen.
	kept  any
	quiet bool
	gen   uint64
	next  int
	// cookie is the name the cookie file has now, "" before the first
	// barrier (see nameCookie); the barrier's, under capture.
	cookie string
	done   chan struct{}
	// filesWatched is closed once the watches of the files the last
	// capture found are in place (see changeSet.End); nil when none were
	// left to add. unwatched are the files whose watch could not be added
	// (the inotify limits): every capture looks at them again.
	filesWatched chan struct{}
	unwatched    map[string]bool
	// fileWatches starts adding those watches, once: at StartFileWatches,
	// the next Begin or Close, whichever comes first. nil once started
	// or when none are left to add; under mu.
	fileWatches func()
}

// eventBuffer is how many events inotify's reader may hand on before
// the watcher takes them: a read's worth, about.
const eventBuffer = 1024

// supported reports whether a watcher on root sees every change.
func supported(root string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return false
	}
	return localFileSystems[int64(st.Type)]
}

// newWatcher starts watching root (absolute, links resolved), where
// nothing is watched until a capture lists a directory.
func newWatcher(root string) (*Watcher, error) {
	if !supported(root) {
		return nil, fmt.Errorf("%s: not on a local file system inotify watches fully", root)
	}
	cookies, lock, err := cookieDir(root)
	if err != nil {
		return nil, err
	}
	// Buffered: inotify's reader hands a read's events on without
	// waking this watcher's goroutine for each one (a restore's writes
	// make four or five events a file). A channel keeps their order,
	// which the barrier needs; an error (an overflow) is handled once
	// the events handed on before it are (see run).
	fsw, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		removeCookieDir(cookies, lock)
		return nil, err
	}
	if err := fsw.Add(cookies); err != nil {
		fsw.Close()
		removeCookieDir(cookies, lock)
		return nil, err
	}
	w := &Watcher{
		root: root, fsw: fsw, cookies: cookies, lock: lock,
		watched: map[string]bool{}, dirty: map[string]bool{}, subtrees: map[string]bool{},
		names: map[string]map[string]bool{}, whole: map[string]bool{},
		unknown: true, waiting: map[string]chan struct{}{}, done: make(chan struct{}),
		expected: map[string]int{}, own: map[string]*ownFile{}, temps: map[string]bool{}, unwatched: map[string]bool{},
	}
	go w.run()
	return w, nil
}

// cookieDir makes the private directory of a watcher's cookies, outside
// root (pf never writes into a workspace it captures), and locks it for
// as long as the watcher lives: the lock, not a process id, tells a
// later watcher that the directory's owner was killed (see
// sweepCookieDirs), and it holds across pid namespaces sharing the
// directory.
func cookieDir(root string) (string, *os.File, error) {
	for _, tmp := range []string{os.TempDir(), "/dev/shm"} {
		if tmp, err := filepath.EvalSymlinks(tmp); err != nil || tmp == root || strings.HasPrefix(tmp, root+"/") || root == "/" {
			continue
		}
		sweepCookieDirs(tmp)
		dir, err := os.MkdirTemp(tmp, cookieDirPrefix)
		if err != nil {
			return "", nil, err
		}
		// The lock file gets its name only once locked, so that a sweep
		// never finds it free while its watcher starts.
		unnamed := filepath.Join(dir, cookieLockName+cookieLockUnnamed)
		lock, err := os.OpenFile(unnamed, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err == nil {
			err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		}
		if err == nil {
			err = os.Rename(unnamed, filepath.Join(dir, cookieLockName))
		}
		if err != nil {
			removeCookieDir(dir, lock)
			return "", nil, err
		}
		return dir, lock, nil
	}
	return "", nil, fmt.Errorf("%s: no directory outside it for the watcher's cookies", root)
}

// Root is the directory watched.
func (w *Watcher) Root() string { return w.root }

// Close stops watching, once the capture under way ends.
func (w *Watcher) Close() error {
	w.capture.Lock()
	defer w.capture.Unlock()
	err := w.fsw.Close()
	<-w.done
	w.StartFileWatches()
	if w.filesWatched != nil {
		<-w.filesWatched // its adds fail once closed
	}
	removeCookieDir(w.cookies, w.lock)
	return err
}

// run takes the watcher's events and errors, in the order inotify queued
// them, until it is closed.
func (w *Watcher) run() {
	defer close(w.done)
	events, errs := w.fsw.Events, w.fsw.Errors
	for events != nil || errs != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			w.note(ev)
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow (ErrEventOverflow) or any other error: events
			// may be lost. The events queued before it were handed on
			// before it, but may wait in the buffer: they are noted
			// first, as they came: this goroutine alone receives, so
			// what the buffer holds is there to take.
			for events != nil && len(events) > 0 {
				w.note(<-events)
			}
			w.lose()
		}
	}
	w.lose()
}

// lose notes that events may have been lost: the next capture walks
// everything.
func (w *Watcher) lose() {
	w.mu.Lock()
	w.unknown, w.quiet = true, false
	clear(w.own)
	w.mu.Unlock()
}

// An ownFile is a file a restore renamed into place: evented once the
// rename's event came, note what the restore said of it once done.
type ownFile struct {
	evented bool
	note    any
}

// maxOwn bounds the files a watcher keeps as a restore's own: past it,
// it forgets them all, and the next capture reads them.
const maxOwn = 1 << 17

// Expect implements worktree.OwnWrites: the next event of path that
// makes a file there is the rename that the restore is about to make.
func (w *Watcher) Expect(path string) {
	w.mu.Lock()
	w.quiet = false
	if len(w.own) >= maxOwn {
		clear(w.own)
		clear(w.expected)
	}
	w.expected[path]++
	w.own[path] = &ownFile{}
	// The file there now is about to go: its own watch would report the
	// rename's drop of its link after the rename (an event that would
	// make the new file not the restore's alone), and it has no use once
	// the path names the new file.
	isDir, watched := w.watched[path]
	unwatch := watched && !isDir
	if unwatch {
		delete(w.watched, path)
	}
	w.mu.Unlock()
	// Removed before the rename, as Expect returns, but off the lock,
	// which the event goroutine and the other writers wait for: no file
	// watch is added at a path expected (watchDirFiles), and one removed
	// twice (an event's, meanwhile) is no harm.
	if unwatch {
		w.fsw.Remove(filepath.Join(w.root, filepath.FromSlash(path)))
	}
}

// Placed implements worktree.OwnWrites. A nil note, a rename that
// failed, takes back the expected rename.
func (w *Watcher) Placed(path string, note any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.quiet = false
	if note == nil {
		if w.expected[path]--; w.expected[path] <= 0 {
			delete(w.expected, path)
		}
		delete(w.own, path)
		// The file that stays may have lost its watch (Expect): the next
		// capture looks at it, and watches it, again.
		w.dirty[parent(path)] = true
		w.subtrees[path] = true
		return
	}
	if f := w.own[path]; f != nil {
		f.note = note
	}
}

// noteOwn pairs the event ev of rel with the rename a restore expected
// there; any other event of rel means the file there is not, or no
// longer, the restore's alone. Called with w.mu held.
func (w *Watcher) noteOwn(rel string, ev fsnotify.Event) {
	if n := w.expected[rel]; n > 0 && ev.Op == fsnotify.Create {
		if n == 1 {
			delete(w.expected, rel)
		} else {
			w.expected[rel] = n - 1
		}
		if f := w.own[rel]; f != nil && !f.evented {
			f.evented = true
			return
		}
	}
	delete(w.own, rel)
}

// noteTemp keeps a restore's temporary file made since the last Begin
// out of what changed once it is renamed into place or removed: the
// path was free before its event and is free again, so the next capture
// need not look at it, and a restore after restore, with no capture
// between, no longer leaves one name a file in the changes (the next
// one's check of every changed path walked them all). True: ev was that
// rename or removal, and there is nothing else to note. Called with
// w.mu held.
func (w *Watcher) noteTemp(rel string, ev fsnotify.Event) bool {
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	if !worktree.IsRestoreTemp(name) {
		return false
	}
	dir := parent(rel)
	if ev.Op == fsnotify.Create {
		// Only a path no event named since the Begin: one removed
		// first was there before, and the capture must look at it.
		if _, watched := w.watched[rel]; !watched && !w.names[dir][name] && !w.subtrees[rel] && !w.dirty[rel] {
			w.temps[rel] = true
		}
		return false
	}
	if !w.temps[rel] || !ev.Has(fsnotify.Rename|fsnotify.Remove) {
		return false
	}
	delete(w.temps, rel)
	delete(w.names[dir], name) // the map stays: dir is dirty for its entries alone
	delete(w.dirty, rel)
	delete(w.subtrees, rel)
	return true
}

// note records what the event ev says changed.
func (w *Watcher) note(ev fsnotify.Event) {
	if dir, name := filepath.Split(ev.Name); filepath.Clean(dir) == w.cookies {
		w.mu.Lock()
		if ch := w.waiting[name]; ch != nil && ev.Has(fsnotify.Create) {
			close(ch)
			delete(w.waiting, name)
		}
		w.mu.Unlock()
		return
	}
	rel, ok := w.rel(ev.Name)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.quiet = false
	if !ok || rel == "" && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		w.unknown = true // the root itself went, or an event of nowhere
		clear(w.own)
		return
	}
	w.noteOwn(rel, ev)
	if w.noteTemp(rel, ev) {
		return
	}
	// The event may be of an entry in a watched directory, or of a
	// watched directory itself: both count as changed.
	w.dirty[rel] = true
	// The entry rel of its directory changed. If rel is a directory the
	// event may be of the directory itself (its own watch's): it is read
	// whole, as the root is.
	if isDir, ok := w.watched[rel]; rel == "" || ok && isDir {
		w.whole[rel] = true
	}
	if rel != "" {
		w.changed(rel)
	} else {
		w.dirty[""] = true
	}
	if !ev.Has(fsnotify.Create | fsnotify.Remove | fsnotify.Rename) {
		return
	}
	// A path made, removed or moved: what lies below is new, and the
	// path names another file now, or none, so its watch is dropped. The
	// watches below a directory moved away still report it under its old
	// path, and are dropped too: the next capture watches them anew.
	w.subtrees[rel] = true
	delete(w.unwatched, rel)
	isDir, ok := w.watched[rel]
	if !ok {
		return
	}
	w.fsw.Remove(ev.Name)
	delete(w.watched, rel)
	if isDir {
		for path := range w.watched {
			if strings.HasPrefix(path, rel+"/") {
				w.fsw.Remove(filepath.Join(w.root, path))
				delete(w.watched, path)
			}
		}
		for path := range w.unwatched {
			if strings.HasPrefix(path, rel+"/") {
				delete(w.unwatched, path)
			}
		}
		// Files moved away with it may change without an event here.
		for path := range w.own {
			if strings.HasPrefix(path, rel+"/") {
				delete(w.own, path)
			}
		}
	}
}

// changed notes that the entry rel (not the root) of its directory
// changed. Called with w.mu held.
func (w *Watcher) changed(rel string) {
	dir := parent(rel)
	w.dirty[dir] = true
	if w.names[dir] == nil {
		w.names[dir] = map[string]bool{}
	}
	w.names[dir][rel[strings.LastIndexByte(rel, '/')+1:]] = true
}

// rel is path relative to the root, slash-separated.
func (w *Watcher) rel(path string) (string, bool) {
	if path == w.root {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, w.root+string(filepath.Separator))
	return filepath.ToSlash(rel), ok
}

func parent(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

// barrier returns once every event queued before the call has been
// noted: it gives the cookie file in the cookie directory a new name
// and waits for its event, which inotify queues after them. False: it
// timed out, or the cookie could not be named.
func (w *Watcher) barrier(ctx context.Context) (bool, error) {
	w.mu.Lock()
	w.next++
	name := "c" + strconv.Itoa(w.next)
	ch := make(chan struct{})
	w.waiting[name] = ch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.waiting, name)
		w.mu.Unlock()
	}()
	if !w.nameCookie(name) {
		return false, nil
	}
	timer := time.NewTimer(barrierTimeout)
	defer timer.Stop()
	select {
	case <-ch:
		return true, nil
	case <-w.done:
		return false, nil
	case <-timer.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// nameCookie gives the watcher's one cookie file the new name, which
// makes the event a new file would (inotify's IN_MOVED_TO, a Create to
// fsnotify): a rename takes no inode, where a file made and removed at
// each barrier took one. On ext4, after many files were deleted (a
// restore, another process's temporary files), allocating that inode
// scanned the recently deleted ones and took 1.4 ms of a served turn of
// 17 ms; the rename takes 10 us. The cookie is made if it is missing.
// False: the cookie could not be named.
func (w *Watcher) nameCookie(name string) bool {
	path := filepath.Join(w.cookies, name)
	if w.cookie != "" {
		err := os.Rename(filepath.Join(w.cookies, w.cookie), path)
		if err == nil {
			w.cookie = name
			return true
		}
		w.cookie = ""
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	w.cookie = name
	return true
}

// Begin implements worktree.Changes.
func (w *Watcher) Begin(ctx context.Context) (worktree.ChangeSet, error) {
	w.capture.Lock()
	w.StartFileWatches()
	if w.filesWatched != nil {
		select {
		case <-w.filesWatched:
			w.filesWatched = nil
		case <-ctx.Done():
			w.capture.Unlock()
			return nil, ctx.Err()
		}
	}
	ok, err := w.barrier(ctx)
	if err != nil {
		w.capture.Unlock()
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for path := range w.unwatched {
		w.changed(path)
	}
	set := &changeSet{w: w, dirty: w.dirty, names: w.names, whole: w.whole, subtrees: w.subtrees, unknown: w.unknown || !ok, memo: w.memo}
	if ok && w.quiet && !w.unknown && len(w.unwatched) == 0 {
		set.kept = w.kept
	}
	w.kept, w.quiet = nil, true
	w.gen++
	set.gen = w.gen
	// A rename expected and not seen by now had no event (a directory
	// not watched) or did not happen: a later event there is not it.
	clear(w.expected)
	clear(w.temps) // their names go with the set, which holds them now
	for path, f := range w.own {
		if !f.evented {
			delete(w.own, path)
		}
	}
	w.dirty, w.subtrees, w.unknown = map[string]bool{}, map[string]bool{}, false
	w.names, w.whole = map[string]map[string]bool{}, map[string]bool{}
	return set, nil
}

// A changeSet is what changed between the memo it holds and its Begin.
type changeSet struct {
	w                      *Watcher
	dirty, whole, subtrees map[string]bool
	names                  map[string]map[string]bool
	unknown                bool
	memo                   any
	ended                  bool
	kept                   any
	gen                    uint64

	filesMu sync.Mutex
	// To watch once the capture ends (see Watch): the directories in the
	// order the capture listed them, and the files.
	dirs, files []string
}

func (s *changeSet) Memo() any {
	if s.unknown {
		return nil
	}
	return s.memo
}

func (s *changeSet) Dirty(dir string) bool {
	if s.unknown || s.dirty[dir] {
		return true
	}
	for p := dir; ; p = parent(p) {
		if s.subtrees[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// Unchanged implements worktree.Unchanged: no event since the memo, none
// lost.
func (s *changeSet) Unchanged() bool {
	return !s.unknown && len(s.dirty) == 0 && len(s.whole) == 0 && len(s.subtrees) == 0 && len(s.names) == 0
}

// DirtyNames implements worktree.DirtyNames: the names of dir's entries
// that events were of, unless dir itself was made, moved or changed, or
// events were lost.
func (s *changeSet) DirtyNames(dir string) ([]string, bool) {
	if s.unknown || s.whole[dir] {
		return nil, false
	}
	for p := dir; ; p = parent(p) {
		if s.subtrees[p] {
			return nil, false
		}
		if p == "" {
			break
		}
	}
	names := make([]string, 0, len(s.names[dir]))
	for name := range s.names[dir] {
		names = append(names, name)
	}
	return names, true
}

// ChangedPaths implements worktree.ChangedPaths: the entries events
// were of, and the paths made, removed or moved; not ok when events were
// lost or a directory itself changed (its listing may hold what no event
// named: a directory watched only once made, say).
func (s *changeSet) ChangedPaths() ([]string, bool) {
	if s.unknown || len(s.whole) > 0 {
		return nil, false
	}
	set := make(map[string]bool, len(s.subtrees)+len(s.names))
	for dir, names := range s.names {
		for name := range names {
			if dir == "" {
				set[name] = true
			} else {
				set[dir+"/"+name] = true
			}
		}
	}
	for path := range s.subtrees {
		set[path] = true
	}
	// Every dirty directory is the parent of a changed entry, or a path
	// changed itself; any other is a change these paths do not tell.
	for dir := range s.dirty {
		if !set[dir] && s.names[dir] == nil {
			return nil, false
		}
	}
	paths := make([]string, 0, len(set))
	for path := range set {
		paths = append(paths, path)
	}
	return paths, true
}

// Kept implements worktree.KeptResult: what the capture before this one
// left with Keep, when nothing at all was noted since it began (no
// event, none lost, no file left unwatched).
func (s *changeSet) Kept() any { return s.kept }

// Keep implements worktree.KeptResult. It keeps v only while no capture
// began since this one: a later Begin has already judged what changed
// since this one's.
func (s *changeSet) Keep(v any) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gen == s.gen {
		w.kept = v
	}
}

// Own implements worktree.OwnChanges.
func (s *changeSet) Own(path string) (any, bool) {
	if s.unknown {
		return nil, false
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	f := s.w.own[path]
	if f == nil || !f.evented || f.note == nil {
		return nil, false
	}
	return f.note, true
}

// Watch adds a watch on path. A directory is watched at once, before
// the capture lists it, and anew even if it has a watch (one moved here
// keeps the watch of its old path, which names it there); a watch that
// cannot be added (the inotify limits) leaves the next capture walking
// everything; a directory gone has its parent changed.
//
// Files are watched too, for their hard links: a file written through
// another link, or linked from elsewhere, has events on its own watch
// only, not on its directory's. Their watches are added after the
// capture, once StartFileWatches is called (see watchFiles), off its
// way: a change between the capture's look at a file and its watch is
// told by the file's stat then.
func (s *changeSet) Watch(path string, dir bool) {
	if !dir {
		s.filesMu.Lock()
		s.files = append(s.files, path)
		s.filesMu.Unlock()
		return
	}
	w := s.w
	err := w.fsw.Add(filepath.Join(w.root, filepath.FromSlash(path)))
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dirWatchAdded(path, err)
}

// dirWatchAdded records, w.mu held, how adding the watch of the
// directory at path went (err): in place, gone (its parent's watch or
// stat tells), or refused (the inotify limits), which leaves the next
// capture walking everything. It reports whether the watch is in place.
func (w *Watcher) dirWatchAdded(path string, err error) bool {
	switch {
	case err == nil:
		w.watched[path] = true
		return true
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR):
	default:
		w.unknown, w.quiet = true, false
	}
	return false
}

// WatchDirLater implements worktree.LaterDirWatches: the directory's
// watch is added as the files' are, after the capture (see watchFiles),
// as Watch would add it otherwise, and its stat then compared with the
// memo's. On a served first checkpoint of pf-bench's 100,000 small files
// the 30,870 directories' watches (inotify_add_watch by paths up to 20
// directories deep, and fsnotify's maps) took about 0.33 s of the
// capture's CPU.
func (s *changeSet) WatchDirLater(path string) {
	s.filesMu.Lock()
	s.dirs = append(s.dirs, path)
	s.filesMu.Unlock()
}

// beforeFileWatches, set by tests, is called once, with the files the
// next capture found before their watches are added. Atomic: the
// watches are added on a goroutine of their own, which a test's later
// captures outlive.
var beforeFileWatches atomic.Pointer[func(files []string)]

// watchFiles adds the watches of the directories, then of the files, a
// capture listed, then closes done. A file keeps the watch it has:
// events that made, removed or moved anything at its path dropped it.
// Once a watch is in place, memo (the capture's) tells whether the
// directory or file changed since the capture looked at it, while it
// had no watch: the next capture looks at those again, and at the
// files whose watch could not be added. Without a memo (a capture that
// recorded nothing, as Status) the next capture looks again at
// everything this one looked at.
//
// They take, on a served first checkpoint of $GOROOT/src, about 80 ms
// of CPU, more than the commit's, 70% of it the kernel's
// inotify_add_watch and lstat, so they wait for StartFileWatches. The
// files go directory by directory in the order the capture listed them,
// grouped by a map, where sorting the 11,000 paths took 4% of that.
func (w *Watcher) watchFiles(dirs, files []string, memo worktree.FileMemo, done chan struct{}) {
	defer close(done)
	if hook := beforeFileWatches.Swap(nil); hook != nil {
		(*hook)(files)
	}
	// Each directory before its subdirectories and files, in the
	// capture's order: a change that one's watch misses, its parent's
	// has seen, or its stat tells.
	for i, dir := range dirs {
		if !w.watchDir(dir, memo) {
			return
		}
		if i%64 == 63 {
			runtime.Gosched() // lets a waiting goroutine run, as below
		}
	}
	// The memo is asked directory by directory: captures on several
	// goroutines interleave their directories' files.
	var fileDirs []string
	byDir := map[string][]string{}
	for _, path := range files {
		d := parent(path)
		if _, ok := byDir[d]; !ok {
			fileDirs = append(fileDirs, d)
		}
		byDir[d] = append(byDir[d], path)
	}
	var full error // the limit reached: the other files are not tried
	for _, dir := range fileDirs {
		if !w.watchDirFiles(dir, byDir[dir], memo, &full) {
			return
		}
		// Its syscalls are too short for the runtime to hand its P
		// over: a goroutine of the commit that wakes meanwhile (from an
		// fdatasync, a channel) would wait for a P until this one is
		// preempted, 10 ms later. Between directories it lets them run.
		runtime.Gosched()
	}
}

// watchDir adds the watch of the directory at path, which a capture
// listed, and then takes its stat: if memo does not find it as the
// capture did before listing it (an entry made, removed or renamed, its
// mode changed, in the meantime), the directory is changed, as an event
// of the directory itself would have it. False: the watcher was closed.
func (w *Watcher) watchDir(path string, memo worktree.FileMemo) bool {
	abs := filepath.Join(w.root, filepath.FromSlash(path))
	err := w.fsw.Add(abs)
	if errors.Is(err, fsnotify.ErrClosed) {
		return false
	}
	changed := false
	if err == nil && memo != nil {
		fi, statErr := os.Lstat(abs)
		// Gone: its parent's watch saw it go, or its parent's stat
		// tells.
		changed = statErr == nil && !memo.SameDir(path, fi)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirWatchAdded(path, err) {
		return true
	}
	if changed {
		w.dirty[path], w.whole[path] = true, true
		if path != "" {
			w.changed(path)
		}
	}
	if changed || memo == nil {
		w.quiet = false
	}
	return true
}

// watchDirFiles is watchFiles for the files of one directory. False:
// the watcher was closed.
func (w *Watcher) watchDirFiles(dir string, files []string, memo worktree.FileMemo, full *error) bool {
	var same func(string, fs.FileInfo) bool
	if memo != nil {
		same = memo.SameFiles(dir)
	}
	for _, path := range files {
		w.mu.Lock()
		_, watched := w.watched[path]
		// A file a restore is about to replace: the next capture watches
		// the one it puts there (see Expect).
		replaced := w.expected[path] > 0
		w.mu.Unlock()
		if watched || replaced {
			continue
		}
		abs := filepath.Join(w.root, filepath.FromSlash(path))
		err := *full
		if err == nil {
			err = w.fsw.Add(abs)
		}
		switch {
		case errors.Is(err, fsnotify.ErrClosed):
			return false
		case errors.Is(err, syscall.ENOSPC):
			*full = err
		}
		changed := false
		if err == nil && memo != nil {
			fi, statErr := os.Lstat(abs)
			// Gone: its directory's watch saw it go.
			changed = statErr == nil && !same(path[strings.LastIndexByte(path, '/')+1:], fi)
		}
		w.mu.Lock()
		switch {
		case err == nil:
			w.watched[path] = false
			delete(w.unwatched, path)
			if changed {
				w.changed(path)
			}
			if changed || memo == nil {
				// A change between the capture's look at the file
				// and this watch had no event.
				w.quiet = false
			}
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR):
			delete(w.unwatched, path)
		default:
			w.unwatched[path] = true
			w.quiet = false
		}
		w.mu.Unlock()
	}
	return true
}

func (s *changeSet) End(memo any) {
	if s.ended {
		return
	}
	s.ended = true
	w := s.w
	w.mu.Lock()
	if memo != nil {
		w.memo = memo
	} else {
		for dir := range s.dirty {
			w.dirty[dir] = true
		}
		for dir := range s.whole {
			w.whole[dir] = true
		}
		for dir, names := range s.names {
			if w.names[dir] == nil {
				w.names[dir] = map[string]bool{}
			}
			for name := range names {
				w.names[dir][name] = true
			}
		}
		for path := range s.subtrees {
			w.subtrees[path] = true
		}
		w.unknown = w.unknown || s.unknown
	}
	w.mu.Unlock()
	s.filesMu.Lock()
	dirs, files := s.dirs, s.files
	s.dirs, s.files = nil, nil
	s.filesMu.Unlock()
	if len(dirs) > 0 || len(files) > 0 {
		fm, _ := memo.(worktree.FileMemo)
		done := make(chan struct{})
		w.filesWatched = done
		w.mu.Lock()
		w.fileWatches = func() { go w.watchFiles(dirs, files, fm, done) }
		w.mu.Unlock()
	}
	w.capture.Unlock()
}

// StartFileWatches starts adding the watches of the files the last
// capture found, if they wait (see changeSet.End). A capture's End
// leaves them for its caller to start once the snapshot has committed:
// begun at once, they ran beside the snapshot's tree, stat cache and
// commit and took a core of two from them, about a second of CPU for a
// first checkpoint of 100,000 small files (inotify_add_watch and lstat
// by paths up to 20 directories deep). The next Begin, or Close, starts
// them if no one did.
func (w *Watcher) StartFileWatches() {
	w.mu.Lock()
	start := w.fileWatches
	w.fileWatches = nil
	w.mu.Unlock()
	if start != nil {
		start()
	}
}
