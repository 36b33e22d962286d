package worktree

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// Capture is the world layer of a snapshot of a directory: the tree of
// Root, the environment and the process-state marker. Set the fields,
// pass it as pf.Snapshot.World, and read Stats once the snapshot returns.
// A Capture captures once at a time.
type Capture struct {
	// Root is the directory to capture. A symbolic link as Root is
	// followed; none below it is.
	Root string
	// Ignore holds extra gitignore patterns, relative to Root, that win
	// over every ignore file (a "!pattern" re-includes).
	Ignore []string
	// NoDefaultIgnores captures what DefaultIgnores would leave out.
	NoDefaultIgnores bool
	// IncludeSecrets stores the files DefaultSecrets names, which a
	// capture otherwise leaves out (see Secrets).
	IncludeSecrets bool
	// Strict fails the capture on a file that keeps changing while it is
	// read, instead of storing the bytes read (see ErrChangedWhileRead).
	Strict bool
	// Store is the store the snapshot goes into. It keeps the stat cache
	// that spares re-reading unchanged files, and its file is never
	// captured. Nil hashes every file.
	Store *pf.Store
	// Changes, if set with Store, tells which directories changed since
	// the last capture with the same Changes: the others are taken from
	// what that capture found, without reading them (see Changes).
	Changes Changes

	// Environ is the environment to record, as "NAME=value" strings; nil
	// means os.Environ(), an empty slice none. Values of secret-like
	// names (see IsSecretName) and of names ScrubEnv matches are recorded
	// as "<redacted>", credentials inside other values too, and
	// ShellNoise is left out.
	Environ  []string
	ScrubEnv []*regexp.Regexp
	// Cwd is the working directory to record; "" means the captured
	// directory (Root, absolute, links resolved).
	Cwd string

	// Workers bounds how many files are read at once; 0 means a default
	// suited to the machine.
	Workers int
	// Warn, if set, hears of each entry the capture skips (sockets,
	// devices, named pipes, unreadable files and directories, files that
	// vanished during the walk, names that are not valid UTF-8: errors
	// wrapping ErrSkipped), and of each file stored as it was read while
	// it changed (ErrChangedWhileRead). Calls are serialized. Secret files
	// left out are not warned of one by one: see Secrets.
	Warn func(path string, err error)
	// Progress, if set, is called about every ProgressInterval while the
	// capture runs, and once at the end with Done set.
	Progress func(Progress)

	root    string       // Root as the last capture walked it
	last    *captureMemo // what Changes kept of the capture before, if valid for this one
	made    *captureMemo // what this capture found, when it made a memo
	cache   *statCache   // the stat cache the walk used, nil without a store
	stats   Stats
	secrets []string
	temps   []string // restore's temporary files the walk met
	hooks   *testHooks

	// scan makes a capture that stores nothing: it hashes the files the
	// stat cache does not know, and leaves the stat cache as it was.
	scan bool
	// skipHash, in a scan, says which files need no digest: a file whose
	// size alone shows that it changed, say. Their entries have a zero
	// Blob.
	skipHash func(rel string, size int64) bool
	// scanBase, in a scan, is the tree that skipHash compares with. When
	// it is the tree the last capture put, whose memos the scan replays,
	// the files and links of a directory replayed are that tree's: the
	// scan leaves them out of its tree, and omitted says which
	// directories it left out so, each with the names of the entries it
	// looked at again there, whose entries are in the tree (as are its
	// subdirectories).
	scanBase manifest.Digest
	omitted  map[string]map[string]bool
	// knownTree is a stored tree the capture may find, as a restore's
	// backup finds the tree the restore before it wrote: when the walk's
	// entries are its entries, its digest is the walk's tree's, without
	// encoding, hashing and putting the tree again.
	knownTree *putTree
	// statCacheLoad is the stat cache of the directory, loading since
	// the caller started it (a status that asks it of the head's tree),
	// for a capture without Changes; nil: the walk loads it.
	statCacheLoad *statCacheLoad
	// begun is the change set of Changes that the caller began for this
	// capture (a status that looked for a kept result first); nil: the
	// walk begins one.
	begun ChangeSet
	// unsure says the last walk met what a watcher's events do not
	// vouch for (see walker.unsure).
	unsure bool
}

// Stats sum up a capture.
type Stats struct {
	Files, Dirs, Symlinks int
	Bytes                 int64 // the files' bytes in all
	Hashed                int   // files read (the others came from the stat cache)
	HashedBytes           int64
	CacheHits             int
	// Recalled counts the files, among CacheHits, taken from the last
	// capture without a look at them, the watcher (Capture.Changes)
	// having seen no change in their directory.
	Recalled int
	Racy     int // files read again because they changed in the second the cache saw them
	Reread   int // files read again because they changed while they were read
	Ignored  int // entries left out by ignore rules
	Skipped  int // entries Warn heard of
	// OwnWrites counts the files taken unread as the restore before the
	// capture wrote them: the watcher saw no other change of them since
	// (see OwnWrites).
	OwnWrites int
	// TreeCached says the tree was the one the last capture of the
	// directory made, known from the stat cache without encoding it.
	TreeCached bool
	// Whole says the tree was the last capture's through the same
	// Capture.Changes, taken whole: nothing changed since, and that
	// capture found every file as the stat cache held it.
	Whole bool
	// CacheKept says the stat cache was the one the last capture through
	// the same Capture.Changes saved, kept in memory, not read from the
	// store (which still held exactly it).
	CacheKept bool
}

// Progress is how far a capture or checkout has come.
type Progress struct {
	Files   int   // files done so far
	Bytes   int64 // bytes read (capture) or written (checkout) so far
	Elapsed time.Duration
	Done    bool
}

// ProgressInterval is how often Progress is reported.
const ProgressInterval = 200 * time.Millisecond

// CIDFile is the file at the root of a checkout that names the image it
// came from, and that a capture never records.
const CIDFile = ".pfcid"

// procsUnsupported is the world.procs blob: this capture records no
// process state. It is the reference CLI's (pf-cli/src/commands/
// snapshot.rs, keys sorted), naming the system as Rust does.
var procsUnsupported = []byte(`{"kind":"procs.unsupported.v1","note":"pf snapshot does not capture in-flight subprocesses without the CRIU adapter","unsupported_on":"` + rustOS(runtime.GOOS) + `"}`)

// rustOS is the name Rust's std::env::consts::OS gives the system Go calls
// goos ("darwin" is "macos"), which the reference writes into the blobs
// that name the system.
func rustOS(goos string) string {
	if goos == "darwin" {
		return "macos"
	}
	return goos
}

// ErrSkipped marks what Capture.Warn hears of an entry left out of the
// tree.
var ErrSkipped = errors.New("skipped")

// ErrChangedWhileRead marks what Capture.Warn hears of a file that kept
// changing while it was read (a log being appended): the tree holds the
// bytes that were read, which were in the file, bounded by its size when
// the last read began, and their size.
var ErrChangedWhileRead = errors.New("changed while it was read")

// Errors of the walk that skip an entry rather than fail the capture.
var (
	errVanished    = skipped("vanished during the walk")
	errUnreadable  = skipped("unreadable: permission denied")
	errSpecial     = skipped("not a regular file, directory or symbolic link")
	errBadName     = skipped("name is not valid UTF-8, which fs.tree.v1 cannot hold")
	errBadTarget   = skipped("symbolic link target is not valid UTF-8 or contains NUL")
	errChangedType = skipped("changed type during the walk")
	errStoreFile   = skipped("is the store file itself")
)

// skipped wraps ErrSkipped as fmt.Errorf("%w: %s") would, without
// running fmt at package initialization: every pf process, whatever its
// command, initializes this package.
func skipped(why string) error { return &skippedError{why} }

type skippedError struct{ why string }

func (e *skippedError) Error() string { return ErrSkipped.Error() + ": " + e.why }
func (e *skippedError) Unwrap() error { return ErrSkipped }

// Reads of a file that changes while it is read: a strict capture fails
// after maxReads, another stores what its liveReads-th read got.
const (
	maxReads  = 3
	liveReads = 2
)

// Stats returns the figures of the last capture.
func (c *Capture) Stats() Stats { return c.stats }

// Secrets returns the paths of the last capture that DefaultSecrets left
// out, sorted.
func (c *Capture) Secrets() []string { return slices.Clone(c.secrets) }

// CaptureWorld implements pf.WorldCapture.
func (c *Capture) CaptureWorld(ctx context.Context, w pf.BlobWriter) (manifest.World, error) {
	walked, err := c.walk(ctx, w, true)
	if err != nil {
		return manifest.World{}, err
	}
	fs, err := walked.putTree(ctx, w)
	if err != nil {
		return manifest.World{}, err
	}
	walked.keepTree(fs)
	walked.keepWhole()
	return c.worldOf(ctx, w, fs)
}

// worldOf puts the environment and the procs marker beside the tree fs.
func (c *Capture) worldOf(ctx context.Context, w pf.BlobWriter, fs manifest.Digest) (manifest.World, error) {
	world := manifest.World{FS: fs}
	env, err := c.envBlob()
	if err != nil {
		return manifest.World{}, err
	}
	if world.Env, err = w.PutBytes(ctx, env); err != nil {
		return manifest.World{}, err
	}
	if world.Procs, err = w.PutBytes(ctx, procsUnsupported); err != nil {
		return manifest.World{}, err
	}
	return world, nil
}

func (c *Capture) envBlob() ([]byte, error) {
	environ := c.Environ
	if environ == nil {
		environ = os.Environ()
	}
	cwd := c.Cwd
	if cwd == "" {
		cwd = c.root
	}
	return encodeEnv(cwd, environ, c.ScrubEnv), nil
}

// A walker is one capture under way.
type walker struct {
	c       *Capture
	root    string
	w       pf.BlobWriter
	cache   *statCache // nil without a store
	storeFi fs.FileInfo
	started time.Time
	hooks   *testHooks

	// With Capture.Changes: what changed since lastMemo, and the memo
	// this walk makes (nil in a scan, which records nothing).
	changes  ChangeSet
	lastMemo *captureMemo
	memo     *captureMemo
	rootSeen fileStat // the root's stat, taken before the walk
	// unsure is set when the walk meets what may change with no event
	// of the watcher, or must be told again: a file with other hard
	// links, a directory on another file system, a file that changed
	// while it was read, an entry warned of. What makes a directory's
	// memo volatile, known to a scan too, which makes no memo.
	unsure atomic.Bool

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	entries []manifest.Entry
	stats   Stats
	secrets []string
	temps   []string

	warnMu sync.Mutex

	// dirSlots bounds the extra goroutines walking directories; dirs
	// waits for them.
	dirSlots chan struct{}
	dirs     sync.WaitGroup

	// For Progress.
	doneFiles atomic.Int64
	doneBytes atomic.Int64

	// unchangedFiles counts the files whose stat and digest are the stat
	// cache's: cache hits, and files read again that proved the same.
	unchangedFiles atomic.Int64

	// cacheLoad, in a walk without Changes, is the stat cache loading
	// beside the walk (cache is nil until run has waited for it). Until
	// it is loaded, the walk stats every file it lists and sets aside
	// the regular ones in waiting (under mu), which run then looks up.
	cacheLoad *statCacheLoad
	waiting   []waitingFile
	listed    chan struct{} // closed once the walk listed the tree, if a test hook waits for it
}

// A waitingFile is a regular file listed, with its stat, before the stat
// cache was loaded.
type waitingFile struct {
	rel, dirAbs, name string
	fi                fs.FileInfo
}

// cacheSoFar returns the stat cache (nil without a store) and whether it
// is known yet: false while it loads beside the walk.
func (wk *walker) cacheSoFar() (*statCache, bool) {
	if wk.cacheLoad != nil {
		return wk.cacheLoad.loaded()
	}
	return wk.cache, true
}

type fileJob struct {
	rel, abs string
	memo     *dirMemo // of the file's directory, nil if none is made
	// dir is the file's directory, held open for the job (nil: open by
	// abs), and name the file's name in it.
	dir  *dirHandle
	name string
	// unlisted says the listing took no stat of the file (statDeferred):
	// the job makes the checks the walk makes of a listed file's stat.
	unlisted bool
}

// captureTree walks the directory, saves the stat cache (unless c.scan)
// and returns the tree, sorted. A capture that puts the tree uses
// walkTree and putTree instead, which may spare encoding it.
func (c *Capture) captureTree(ctx context.Context, w pf.BlobWriter) (*manifest.Tree, error) {
	walked, err := c.walkTree(ctx, w)
	if err != nil {
		return nil, err
	}
	if err := walked.saveCache(ctx, w, nil); err != nil {
		return nil, err
	}
	return walked.sortedTree(), nil
}

// A walked is a walk done: its entries, unsorted, and the stat cache it
// read, not yet saved.
type walked struct {
	wk *walker
	// rest sums up the entries that the stat cache does not record:
	// directories and symbolic links. Taken when first asked: a served
	// status never asks, and on 30,000 directories it is a sort and a
	// hash of megabytes.
	rest   func() manifest.Digest
	sorted bool
	// whole is the last capture's whole walk, when this one took it.
	whole *wholeWalk
	// enc is the tree's encoding, once putTree made one.
	enc *manifest.EncodedTree
}

// walkTree walks the directory (see Capture) and returns what it found.
func (c *Capture) walkTree(ctx context.Context, w pf.BlobWriter) (*walked, error) {
	return c.walk(ctx, w, false)
}

// walk is walkTree; mayTakeWhole lets it take the last capture's whole
// walk (see wholeWalk), whose entries it then shares: for a caller that
// changes none.
func (c *Capture) walk(ctx context.Context, w pf.BlobWriter, mayTakeWhole bool) (*walked, error) {
	c.stats = Stats{}
	c.secrets, c.temps = nil, nil
	// The errors of these name the path already.
	root, err := filepath.Abs(c.Root)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return nil, err
	}
	rootFi, err := os.Stat(root)
	if err != nil {
		return nil, err
	} else if !rootFi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", c.Root)
	}
	c.root, c.last = root, nil
	wk := &walker{c: c, root: root, w: w, started: time.Now(), hooks: c.hooks}
	wk.rootSeen = statOf(rootFi)
	if wk.hooks == nil {
		wk.hooks = &testHooks{}
	}
	// wk.ctx is cancelled on failure only: the blob writer may finish
	// writing what a put staged in the background, under the put's
	// context, after the capture returns.
	wk.ctx, wk.cancel = context.WithCancelCause(ctx)

	if c.Changes != nil && c.Store != nil {
		if c.begun != nil {
			wk.changes, c.begun = c.begun, nil
		} else if wk.changes, err = c.Changes.Begin(ctx); err != nil {
			return nil, err
		}
		key := c.memoKey()
		if m, ok := wk.changes.Memo().(*captureMemo); ok && m.key == key {
			wk.lastMemo, c.last = m, m
		}
	}
	c.omitted = nil
	if c.scan && c.scanBase != (manifest.Digest{}) && wk.lastMemo.treeOf(c.scanBase) != nil {
		c.omitted = map[string]map[string]bool{}
	}
	if c.Store != nil {
		if wk.lastMemo != nil {
			wk.cache, err = resumeStatCache(ctx, c.Store, root, wk.lastMemo.cache)
			wk.stats.CacheKept = wk.cache != nil
		}
		switch {
		case wk.cache != nil || err != nil:
		case c.statCacheLoad != nil && wk.lastMemo == nil && c.statCacheLoad.root == root:
			wk.cacheLoad = c.statCacheLoad
		case wk.changes == nil && (c.scan || wk.hooks.loadCacheBeside || wk.hooks.loadCacheAfterListing):
			// A plain scan lists directories while the cache loads
			// (see walker.cacheLoad); with Changes, the memos made
			// as the walk goes need the cache from the start. A
			// snapshot loads it first: beside its walk, a turn of 10
			// files changed on GOROOT/src took 330 ms instead of 210
			// (a cause not found yet).
			if wk.hooks.loadCacheAfterListing {
				wk.listed = make(chan struct{})
			}
			wk.cacheLoad = startStatCacheLoad(ctx, c.Store, root, wk.listed)
		default:
			wk.cache, err = loadStatCache(ctx, c.Store, root)
		}
		if err != nil {
			if wk.changes != nil {
				wk.changes.End(nil)
			}
			return nil, fmt.Errorf("%s: stat cache: %w", c.Root, err)
		}
		wk.storeFi, _ = os.Stat(c.Store.Path())
	}
	var whole *wholeWalk
	if mayTakeWhole && !c.scan {
		whole = wk.takeWhole()
	}
	if wk.changes != nil && !c.scan {
		wk.memo = &captureMemo{key: c.memoKey(), cache: wk.cache, started: wk.started.UnixNano()}
		if whole == nil {
			wk.memo.dirs = make(map[string]*dirMemo, 1+len(wk.cache.entries)/8)
		}
	}
	stopProgress := wk.reportProgress()
	if whole != nil {
		err = wk.replayWhole(whole)
	} else {
		if wk.cache != nil {
			if c.omitted == nil {
				// Room for the files the last capture met, and some,
				// or for its whole tree, directories too, when it is
				// known: 100,000 files lie in 30,000 directories.
				n := len(wk.cache.entries)
				if wk.lastMemo != nil {
					if t := wk.lastMemo.tree.Load(); t != nil {
						n = max(n, len(t.tree.Entries))
					}
				}
				wk.entries = make([]manifest.Entry, 0, n*9/8+64)
			}
			wk.cache.marks.used = true
		}
		err = wk.run()
	}
	stopProgress()
	if wk.cacheLoad != nil && err == nil {
		wk.cache, _ = wk.cacheLoad.loaded() // run waited for it
	}
	sorted := false
	if err == nil && wk.memo != nil && whole == nil && c.omitted == nil {
		if entries := wk.treeOfMemos(); entries != nil {
			wk.entries, sorted = entries, true
		}
	}
	if wk.changes != nil {
		if err == nil && wk.memo != nil {
			wk.memo.unsure = wk.unsure.Load() || len(wk.temps) != 0
			wk.changes.End(wk.memo)
		} else {
			wk.changes.End(nil)
		}
	}
	c.stats, c.made, c.cache = wk.stats, wk.memo, wk.cache
	c.unsure = wk.unsure.Load() || len(wk.temps) != 0
	slices.Sort(wk.secrets)
	c.secrets, c.temps = wk.secrets, wk.temps
	if err != nil {
		return nil, err
	}
	if whole != nil {
		return &walked{wk: wk, rest: func() manifest.Digest { return whole.rest }, sorted: true, whole: whole}, nil
	}
	entries := wk.entries
	return &walked{wk: wk, rest: sync.OnceValue(func() manifest.Digest { return restOf(entries) }), sorted: sorted}, nil
}

// keepTree keeps in the walk's memo, if it made one, the tree it put,
// fs, for a status against it (see Status).
func (wd *walked) keepTree(fs manifest.Digest) {
	wk := wd.wk
	if wk.memo == nil {
		return
	}
	put := &putTree{fs: fs, enc: wd.enc, secrets: wk.secrets} // sorted by walk, never changed after
	if last := wk.lastMemo.lastPut(); last != nil && last.fs == fs {
		// The last capture's tree, and its encoding if this capture
		// made none.
		put.tree = last.tree
		if put.enc == nil {
			put.enc = last.enc
		}
	} else {
		put.tree = wd.sortedTree()
	}
	wk.memo.tree.Store(put)
}

// sortedTree returns the walk's tree, sorted in the order of its
// encoding, which then need not copy it.
func (wd *walked) sortedTree() *manifest.Tree {
	tree := &manifest.Tree{Entries: wd.wk.entries}
	if !wd.sorted {
		sortWalked(tree.Entries)
		wd.sorted = true
	}
	return tree
}

// cachedTree returns the tree that the stat cache says the last capture
// made of its files, when this walk found exactly that: every file the
// cache records and no other, each with the stat and digest recorded,
// and the same directories and symbolic links. The tree then need not be
// encoded and hashed again to know its digest.
func (wd *walked) cachedTree() (manifest.Digest, bool) {
	c := wd.wk.cache
	if c == nil {
		return manifest.Digest{}, false
	}
	tree, ok := c.files.Tree()
	if !ok || tree.Rest != wd.rest() {
		return manifest.Digest{}, false
	}
	files := int64(wd.wk.stats.Files)
	if files != int64(len(c.entries)) || wd.wk.unchangedFiles.Load() != files {
		return manifest.Digest{}, false
	}
	return tree.Blob, true
}

// putTree puts the walk's tree through w, unless the stat cache shows it
// is the tree the last capture put, and saves the stat cache with the
// tree's digest. It returns that digest.
func (wd *walked) putTree(ctx context.Context, w pf.BlobWriter) (manifest.Digest, error) {
	fs, ok := wd.cachedTree()
	wd.wk.c.stats.TreeCached = ok
	if k := wd.wk.c.knownTree; !ok && k != nil && slices.Equal(k.tree.Entries, wd.sortedTree().Entries) {
		fs, ok = k.fs, true
	}
	var records func() *cacheRecords
	if !ok {
		records = wd.recordsBeside()
		var err error
		if wd.wk.memo == nil {
			fs, err = pf.PutTree(ctx, w, wd.sortedTree())
		} else {
			// A served capture encodes its tree from the last one's
			// encoding, whose entries are mostly its own, and keeps
			// its own for the next.
			var last *manifest.EncodedTree
			if t := wd.wk.lastMemo.lastPut(); t != nil {
				last = t.enc
			}
			fs, wd.enc, err = pf.PutTreeFrom(ctx, w, wd.sortedTree(), last)
			if err == nil {
				wd.wk.lastMemo.dropEncoding()
			}
		}
		if err != nil {
			records() // it reads the cache, which may go once this returns
			return manifest.Digest{}, err
		}
	}
	tree := &pf.CacheTree{Blob: fs, Rest: wd.rest()}
	if records != nil {
		return fs, wd.saveRecords(ctx, w, tree, records())
	}
	return fs, wd.saveCache(ctx, w, tree)
}

// recordsBeside starts making the records that saveCache would write
// (statCache.records) on a goroutine of their own, and returns what waits
// for them: nil when saveCache writes none. The put of a large tree
// leaves a core idle for much of its time (the sort and encoding of the
// tree run on one), and a first capture has a record for every file.
func (wd *walked) recordsBeside() func() *cacheRecords {
	wk := wd.wk
	if wk.cache == nil || wk.c.scan {
		return func() *cacheRecords { return nil }
	}
	done := make(chan struct{})
	var r cacheRecords
	go func() {
		defer close(done)
		r = wk.cache.records()
	}()
	return func() *cacheRecords {
		<-done
		return &r
	}
}

// saveCache saves the stat cache, with the tree made of it if known,
// unless the capture is a scan.
func (wd *walked) saveCache(ctx context.Context, w pf.BlobWriter, tree *pf.CacheTree) error {
	wk := wd.wk
	if wk.cache == nil || wk.c.scan {
		return nil
	}
	r := wk.cache.records()
	return wd.saveRecords(ctx, w, tree, &r)
}

// saveRecords is saveCache writing r, the records made of the stat cache
// after the walk (nil: none to write, as for a scan).
func (wd *walked) saveRecords(ctx context.Context, w pf.BlobWriter, tree *pf.CacheTree, r *cacheRecords) error {
	wk := wd.wk
	if r == nil {
		return nil
	}
	if tree != nil {
		wk.cache.files.SetTree(*tree)
	}
	if err := wk.cache.saveRecords(ctx, w, *r); err != nil {
		return fmt.Errorf("%s: save stat cache: %w", wk.c.Root, err)
	}
	return nil
}

// restOf sums up the entries of a tree that a stat cache does not record
// (directories and symbolic links: path, kind, mode, target) in a digest
// that differs when any of them does. restFormat changes with what a
// tree's encoding holds of them.
func restOf(entries []manifest.Entry) manifest.Digest {
	const restFormat = 1
	var rest []*manifest.Entry
	for i := range entries {
		if entries[i].Kind != manifest.KindFile {
			rest = append(rest, &entries[i])
		}
	}
	slices.SortFunc(rest, func(a, b *manifest.Entry) int { return strings.Compare(a.Path, b.Path) })
	h := sha256.New()
	b := []byte{restFormat}
	for _, e := range rest {
		b = append(b, e.Kind...)
		b = append(b, 0)
		b = append(b, e.Path...)
		b = append(b, 0)
		b = binary.BigEndian.AppendUint32(b, uint32(e.Mode))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Size))
		b = append(b, e.Blob[:]...)
		b = append(b, e.LinkTarget...)
		b = append(b, 0)
		if len(b) > 32<<10 {
			h.Write(b)
			b = b[:0]
		}
	}
	h.Write(b)
	return manifest.Digest(h.Sum(nil))
}

// run walks the tree, on this goroutine and up to GOMAXPROCS-1 more, and
// reads files on a pool of workers; the first error stops them all.
func (wk *walker) run() error {
	workers := wk.c.Workers
	if workers <= 0 {
		workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	jobs := make(chan fileJob, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				if wk.ctx.Err() != nil {
					job.dir.release()
					continue // drain
				}
				err := wk.storeFile(job)
				job.dir.release()
				if err != nil {
					wk.cancel(err)
				}
			}
		}()
	}
	// Directories are listed, and their entries stat'ed, on up to
	// GOMAXPROCS goroutines: on a re-snapshot that reads few files, the
	// walk is most of the time.
	wk.dirSlots = make(chan struct{}, runtime.GOMAXPROCS(0)-1)
	_, err := wk.walkDir("", nil, rootIgnoreRules(wk.c.NoDefaultIgnores, wk.c.Ignore), jobs, wk.lastMemo == nil, wk.rootSeen, nil, nil)
	wk.dirs.Wait()
	if wk.listed != nil {
		close(wk.listed)
	}
	if wk.cacheLoad != nil {
		// Waited for whatever happened: the load reads the store,
		// which may close once the capture returns.
		cache, loadErr := wk.cacheLoad.wait()
		if err == nil && loadErr != nil {
			err = fmt.Errorf("%s: stat cache: %w", wk.c.Root, loadErr)
		}
		if err == nil {
			cache.marks.used = true
			err = wk.lookUpWaiting(cache, jobs)
		}
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		wk.cancel(err)
	}
	return context.Cause(wk.ctx)
}

// lookUpWaiting goes on with the files the walk listed before the stat
// cache was loaded, as walkEntries does with the others. Each is opened,
// if it must be read, by its whole path: its directory was not held open.
func (wk *walker) lookUpWaiting(cache *statCache, jobs chan<- fileJob) error {
	waiting := wk.waiting
	wk.waiting = nil
	for _, f := range waiting {
		if err := wk.ctx.Err(); err != nil {
			return err
		}
		childAbs := func() string { return filepath.Join(f.dirAbs, f.name) }
		if err := wk.addListedFile(cache, nil, nil, f.rel, f.name, childAbs, f.fi, jobs); err != nil {
			return err
		}
	}
	return nil
}

// appendEntry adds e to the walk's entries; the caller holds mu. With
// the stat cache loading beside the walk, the entries are sized for the
// files it records once it is loaded, as walk sizes them when it loads
// it first: grown entry by entry, 12,000 entries would be copied a dozen
// times.
func (wk *walker) appendEntry(e manifest.Entry) {
	if len(wk.entries) == cap(wk.entries) && wk.cacheLoad != nil {
		if cache, ok := wk.cacheLoad.loaded(); ok && cache != nil {
			wk.entries = slices.Grow(wk.entries, max(0, len(cache.entries)*9/8+64-len(wk.entries)))
		}
	}
	wk.entries = append(wk.entries, e)
}

func (wk *walker) add(e manifest.Entry, count func(*Stats)) {
	wk.mu.Lock()
	wk.appendEntry(e)
	count(&wk.stats)
	wk.mu.Unlock()
}

// addFile adds the file e, whose stat was st, to the walk and to the
// memo m of its directory (nil: none is made).
func (wk *walker) addFile(m *dirMemo, e manifest.Entry, st fileStat, count func(*Stats)) {
	wk.mu.Lock()
	wk.appendEntry(e)
	count(&wk.stats)
	if m != nil {
		m.addFile(e, st)
	}
	wk.mu.Unlock()
}

func (wk *walker) warn(rel string, err error) {
	wk.warnIn(nil, rel, err)
}

// warnIn warns of an entry of the directory whose memo is m, which must
// then be read again by the next capture, to warn again.
func (wk *walker) warnIn(m *dirMemo, rel string, err error) {
	wk.mu.Lock()
	wk.stats.Skipped++
	if m != nil {
		m.volatile = true
	}
	wk.mu.Unlock()
	wk.warnOnly(rel, err)
}

// warnOnly tells Warn of an entry that the tree still holds.
func (wk *walker) warnOnly(rel string, err error) {
	wk.unsure.Store(true)
	if wk.c.Warn != nil {
		wk.warnMu.Lock()
		defer wk.warnMu.Unlock()
		wk.c.Warn(rel, err)
	}
}

// walkDir walks the directory at rel (segs are its segments) and reports
// whether it could be read; an unreadable directory below the root is
// skipped with a warning, the root fails the capture. With Changes, a
// directory that did not change since the last capture is taken from
// what that capture found, unless fresh (its subtree is new, or its
// ignore rules changed); seen is the directory's stat, taken before it
// is listed (its device alone when only that is known). slot, if not
// nil, is the directory's place in its parent's memo, which keeps the
// memo this walk makes of it (see subdirMemo.memo).
func (wk *walker) walkDir(rel string, segs []string, rules *ignoreRules, jobs chan<- fileJob, fresh bool, seen fileStat, slot *subdirMemo, up *dirMatches) (bool, error) {
	dev := seen.dev
	if err := wk.ctx.Err(); err != nil {
		return false, err
	}
	if !fresh && wk.changes != nil {
		if m := wk.recall(rel, slot); m != nil {
			if err := wk.replay(rel, m, nil); err != nil {
				return false, err
			}
			wk.keepIn(slot, m)
			for i := range m.subdirs {
				sub := &m.subdirs[i]
				childSegs := append(segs[:len(segs):len(segs)], sub.name)
				if err := wk.walkSubdir(join(rel, sub.name), childSegs, m.rules, jobs, false, *sub, fileStat{dev: sub.dev}, sub, nil); err != nil {
					return false, err
				}
			}
			return true, nil
		}
		if m, changed := wk.recallExcept(rel, segs); m != nil {
			if handled, err := wk.walkChanged(rel, segs, m, changed, jobs); handled || err != nil {
				return err == nil, err
			}
		}
	}
	var memo, last *dirMemo
	abs := filepath.Join(wk.root, filepath.FromSlash(rel))
	if wk.changes != nil {
		// Watched before it is listed, or, when the memo made can tell
		// a change since seen, once the capture ended: a change after
		// the listing reaches the next capture.
		if wk.memo != nil && seen.ino == 0 {
			// A directory whose parent was not listed: its stat now,
			// before its listing.
			if fi, err := os.Lstat(abs); err == nil {
				seen = statOf(fi)
			}
		}
		if later, ok := wk.changes.(LaterDirWatches); ok && wk.memo != nil && seen.ino != 0 && settledBefore(seen, wk.started.UnixNano()) {
			later.WatchDirLater(rel)
		} else {
			wk.changes.Watch(rel, true)
		}
		if wk.memo != nil {
			memo = &dirMemo{volatile: dev != wk.rootSeen.dev, seen: seen}
		}
		if dev != wk.rootSeen.dev {
			wk.unsure.Store(true)
		}
		if wk.lastMemo != nil {
			last = wk.lastMemo.dirs[rel]
		}
	}
	var watchFile func(name string)
	if wk.changes != nil {
		// Each file is watched before its stat is taken.
		watchFile = func(name string) { wk.changes.Watch(join(rel, name), false) }
	}
	// The cache is asked of a file's path in a buffer made once for the
	// directory: a path joined for each file was garbage for most files.
	var pathBuf []byte
	dirents, dir, err := wk.hooks.readDir(abs, watchFile, func(name string) bool {
		var need bool
		need, pathBuf = wk.needsListedStat(rel, name, pathBuf)
		return need
	})
	if len(segs) >= maxHeldDepth {
		// A walk holds open each directory above the one it lists:
		// deeper than this, files are opened by their whole path, so
		// that the descriptors it holds stay few however deep the tree.
		dir.release()
		dir = nil
	}
	defer dir.release()
	if err != nil {
		if rel == "" {
			return false, err
		}
		if skip := skipReason(err); skip != nil {
			wk.warn(rel, skip)
			return false, nil
		}
		return false, fmt.Errorf("read directory %q: %w", rel, err)
	}
	ignoreFile, ignoreLines := "", []string(nil)
	for _, name := range ignoreFiles {
		if !hasName(dirents, name) {
			continue
		}
		ignoreFile = name
		lines, err := readIgnoreFile(filepath.Join(abs, name))
		if err != nil {
			wk.warnIn(memo, join(rel, name), fmt.Errorf("ignore rules not read: %w", err))
		} else {
			rules = rules.with(lines, segs)
			ignoreLines = lines
		}
		break
	}
	// Below a directory the last capture did not see, or whose ignore
	// rules changed, nothing is taken from that capture.
	fresh = fresh || last == nil || !last.sameIgnoreFile(ignoreFile, ignoreLines)
	if memo != nil {
		memo.ignoreFile, memo.ignoreLines, memo.rules = ignoreFile, ignoreLines, rules
	}
	if ok, err := wk.walkEntries(rel, segs, abs, dir, rules, dirents, memo, jobs, fresh, up); !ok {
		return false, err
	}
	if memo != nil {
		wk.remember(rel, memo)
		wk.keepIn(slot, memo)
	}
	return true, nil
}

// walkChanged walks the directory rel as the memo m of the last capture
// recorded it, but for the entries named changed, which it looks at
// again as a listing would give them (m's files but those are known
// unchanged: see recallExcept). handled is false, before anything is
// added, when a changed entry could not be looked at: the directory is
// then read whole.
func (wk *walker) walkChanged(rel string, segs []string, m *dirMemo, changed map[string]bool, jobs chan<- fileJob) (handled bool, err error) {
	abs := filepath.Join(wk.root, filepath.FromSlash(rel))
	dirents := make([]fs.DirEntry, 0, len(changed))
	for name := range changed {
		path := filepath.Join(abs, name)
		fi, err := os.Lstat(path)
		if err == nil && fi.Mode().IsRegular() {
			// Watched before the stat that is recorded, as a
			// listing's files are.
			wk.changes.Watch(join(rel, name), false)
			fi, err = os.Lstat(path)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return false, nil
		}
		dirents = append(dirents, fs.FileInfoToDirEntry(fi))
	}
	// The memo of the directory now: the last one's, but for the
	// changed entries, which walkEntries adds as it finds them.
	next := &dirMemo{ignoreFile: m.ignoreFile, ignoreLines: m.ignoreLines, rules: m.rules, ignored: m.ignored}
	files := 0
	for _, e := range m.entries {
		var st fileStat
		if e.Kind == manifest.KindFile {
			st = m.stats[files]
			files++
		}
		switch {
		case changed[baseName(e.Path)]:
		case e.Kind == manifest.KindFile:
			next.addFile(e, st)
		default:
			next.entries = append(next.entries, e)
		}
	}
	for _, p := range m.secrets {
		if !changed[baseName(p)] {
			next.secrets = append(next.secrets, p)
		}
	}
	for _, sub := range m.subdirs {
		if !changed[sub.name] {
			next.subdirs = append(next.subdirs, sub)
		}
	}
	subdirs := slices.Clone(next.subdirs) // walkEntries may add to next's
	if err := wk.replay(rel, next, changed); err != nil {
		return true, err
	}
	memo := next
	if wk.memo == nil {
		memo = nil
	}
	if ok, err := wk.walkEntries(rel, segs, abs, nil, m.rules, dirents, memo, jobs, false, nil); !ok {
		return true, err
	}
	for _, sub := range subdirs {
		childSegs := append(segs[:len(segs):len(segs)], sub.name)
		if err := wk.walkSubdir(join(rel, sub.name), childSegs, m.rules, jobs, false, sub, fileStat{dev: sub.dev}, nil, nil); err != nil {
			return true, err
		}
	}
	return true, nil
}

// walkEntries adds the entries dirents of the directory at rel (abs on
// disk), whose ignore rules are rules, to the walk and to its memo (nil:
// none is made); it walks the subdirectories among them. False: the walk
// stops, with the error.
func (wk *walker) walkEntries(rel string, segs []string, abs string, dir *dirHandle, rules *ignoreRules, dirents []fs.DirEntry, memo *dirMemo, jobs chan<- fileJob, fresh bool, up *dirMatches) (bool, error) {
	here := up.below(rules.all, segs)
	ignoredHere, secretHere := here.ignored, here.secret
	// An entry's segments, in one slice made again for each entry: the
	// matches keep none; a subdirectory's walk keeps a copy.
	entrySegs := append(segs[:len(segs):len(segs)], "")
	for _, de := range dirents {
		name := de.Name()
		if rel == "" && (name == CIDFile || isCIDTemp(name)) {
			continue
		}
		if isRestoreTemp(name) {
			wk.mu.Lock()
			wk.temps = append(wk.temps, join(rel, name))
			if memo != nil {
				memo.volatile = true
			}
			wk.mu.Unlock()
			continue
		}
		childRel := join(rel, name)
		if !utf8.ValidString(name) {
			wk.warnIn(memo, childRel, errBadName)
			continue
		}
		typ := de.Type()
		entrySegs[len(segs)] = name
		childSegs := entrySegs
		if ignoredHere.match(childSegs, name, typ.IsDir()) {
			wk.mu.Lock()
			wk.stats.Ignored++
			if memo != nil {
				memo.ignored++
			}
			wk.mu.Unlock()
			continue
		}
		if !wk.c.IncludeSecrets && !typ.IsDir() && secretHere.match(childSegs, name, false) {
			wk.mu.Lock()
			wk.secrets = append(wk.secrets, childRel)
			if memo != nil {
				memo.secrets = append(memo.secrets, childRel)
			}
			wk.mu.Unlock()
			continue
		}
		// childAbs, made only for the cases that open the entry: most
		// of a re-snapshot's files are found unchanged by their stat.
		childAbs := func() string { return filepath.Join(abs, name) }
		switch {
		case typ.IsDir():
			fi, err := de.Info()
			if err != nil {
				if err := wk.skipOrFailIn(memo, childRel, err); err != nil {
					return false, err
				}
				continue
			}
			seen := statOf(fi)
			sub := subdirMemo{name: name, mode: fi.Mode() & manifest.ModeMask, dev: seen.dev}
			if err := wk.walkSubdir(childRel, slices.Clone(childSegs), rules, jobs, fresh, sub, seen, nil, &here); err != nil {
				return false, err
			}
			if memo != nil {
				wk.mu.Lock()
				memo.subdirs = append(memo.subdirs, sub)
				wk.mu.Unlock()
			}
		case typ&fs.ModeSymlink != 0:
			if err := wk.addSymlink(memo, childRel, childAbs(), de); err != nil {
				return false, err
			}
		case typ.IsRegular() && statDeferred(de):
			if err := wk.queueFile(jobs, fileJob{rel: childRel, abs: childAbs(), memo: memo, dir: dir, name: name, unlisted: true}); err != nil {
				return false, err
			}
		case typ.IsRegular():
			fi, err := de.Info()
			if err != nil {
				if err := wk.skipOrFailIn(memo, childRel, err); err != nil {
					return false, err
				}
				continue
			}
			if !fi.Mode().IsRegular() {
				wk.warnIn(memo, childRel, errChangedType)
				continue
			}
			if wk.storeFi != nil && sameFile(fi, wk.storeFi) {
				wk.warnIn(memo, childRel, errStoreFile)
				continue
			}
			if linkCount(fi) != 1 {
				// Written through another of its links, the file
				// changes without an event in this directory.
				wk.unsure.Store(true)
				if memo != nil {
					wk.mu.Lock()
					memo.volatile = true
					wk.mu.Unlock()
				}
			}
			cache, known := wk.cacheSoFar()
			if !known {
				wk.mu.Lock()
				wk.waiting = append(wk.waiting, waitingFile{rel: childRel, dirAbs: abs, name: name, fi: fi})
				wk.mu.Unlock()
				continue
			}
			if err := wk.addListedFile(cache, memo, dir, childRel, name, childAbs, fi, jobs); err != nil {
				return false, err
			}
		default:
			wk.warnIn(memo, childRel, fmt.Errorf("%w (%v)", errSpecial, typ))
		}
	}
	return true, nil
}

// addListedFile adds the regular file at rel, whose listed stat is fi, to
// the walk, from the stat cache (nil: none) if it knows the file as it is,
// or else queues it to be read; memo and dir are as fileJob's.
func (wk *walker) addListedFile(cache *statCache, memo *dirMemo, dir *dirHandle, childRel, name string, childAbs func() string, fi fs.FileInfo, jobs chan<- fileJob) error {
	if cache != nil {
		st := statOf(fi)
		d, res := cache.lookup(childRel, st)
		if res == cacheHit {
			wk.unchangedFiles.Add(1)
			wk.addFile(memo, manifest.Entry{Path: childRel, Mode: fi.Mode() & manifest.ModeMask, Size: st.size, Kind: manifest.KindFile, Blob: d}, st,
				func(s *Stats) { s.Files++; s.Bytes += st.size; s.CacheHits++ })
			wk.doneFiles.Add(1)
			return nil
		}
		// A scan's file that needs no digest has none, as
		// without the watcher (see skipHash below).
		if d, ok := wk.ownWrite(childRel, st); ok && (wk.c.skipHash == nil || !wk.c.skipHash(childRel, st.size)) {
			// Recorded as a read at the capture's start would
			// record it: the watcher vouches for the bytes up
			// to Begin, the stat for what came after.
			if cache.holds(childRel, st, d) {
				wk.unchangedFiles.Add(1)
			}
			cache.record(childRel, cacheEntry{stat: st, recorded: wk.started.UnixNano(), digest: d})
			wk.addFile(memo, manifest.Entry{Path: childRel, Mode: fi.Mode() & manifest.ModeMask, Size: st.size, Kind: manifest.KindFile, Blob: d}, st,
				func(s *Stats) { s.Files++; s.Bytes += st.size; s.OwnWrites++ })
			wk.doneFiles.Add(1)
			return nil
		}
		if res == cacheRacy {
			wk.mu.Lock()
			wk.stats.Racy++
			wk.mu.Unlock()
		}
	}
	if wk.c.skipHash != nil && wk.c.skipHash(childRel, fi.Size()) {
		wk.add(manifest.Entry{Path: childRel, Mode: fi.Mode() & manifest.ModeMask, Size: fi.Size(), Kind: manifest.KindFile},
			func(s *Stats) { s.Files++; s.Bytes += fi.Size() })
		wk.doneFiles.Add(1)
		return nil
	}
	return wk.queueFile(jobs, fileJob{rel: childRel, abs: childAbs(), memo: memo, dir: dir, name: name})
}

// maxHeldDepth is the depth of directories below which a walk no longer
// keeps directories open for their files to be opened by name.
const maxHeldDepth = 64

// needsListedStat reports whether the walk needs the stat of the regular
// file name of the directory dir from the listing, before it decides to
// read the file: to find it in the stat cache or among the last
// restore's writes, or to spare a scan's hash. A file it would read
// anyway takes its stat from the open file alone. buf is scratch for
// the file's path, returned for the next call; the path is joined only
// when the cache must be asked of it.
func (wk *walker) needsListedStat(dir, name string, buf []byte) (bool, []byte) {
	cache, known := wk.cacheSoFar()
	if wk.c.skipHash != nil || !known {
		return true, buf
	}
	buf = buf[:0]
	if dir != "" {
		buf = append(append(buf, dir...), '/')
	}
	buf = append(buf, name...)
	if cache != nil && cache.knows(buf) {
		return true, buf
	}
	if own, ok := wk.changes.(OwnChanges); ok {
		_, ok := own.Own(string(buf))
		return ok, buf
	}
	return false, buf
}

// queueFile hands job to the workers, holding its directory open for it.
func (wk *walker) queueFile(jobs chan<- fileJob, job fileJob) error {
	job.dir.hold()
	select {
	case jobs <- job:
		return nil
	case <-wk.ctx.Done():
		job.dir.release()
		return context.Cause(wk.ctx)
	}
}

// walkSubdir walks the subdirectory sub at rel, on another goroutine if
// one is free, and adds its entry once it could be read. seen and slot
// are as walkDir's.
func (wk *walker) walkSubdir(rel string, segs []string, rules *ignoreRules, jobs chan<- fileJob, fresh bool, sub subdirMemo, seen fileStat, slot *subdirMemo, up *dirMatches) error {
	walk := func() error {
		ok, err := wk.walkDir(rel, segs, rules, jobs, fresh, seen, slot, up)
		if ok {
			wk.add(manifest.Entry{Path: rel, Mode: sub.mode, Kind: manifest.KindDir},
				func(s *Stats) { s.Dirs++ })
		}
		return err
	}
	select {
	case wk.dirSlots <- struct{}{}:
		wk.dirs.Add(1)
		go func() {
			defer wk.dirs.Done()
			defer func() { <-wk.dirSlots }()
			if err := walk(); err != nil {
				wk.cancel(err)
			}
		}()
		return nil
	default:
		return walk()
	}
}

func (wk *walker) addSymlink(memo *dirMemo, rel, abs string, de fs.DirEntry) error {
	fi, err := de.Info()
	if err != nil {
		return wk.skipOrFailIn(memo, rel, err)
	}
	target, err := os.Readlink(abs)
	if err != nil {
		return wk.skipOrFailIn(memo, rel, err)
	}
	if target == "" || !utf8.ValidString(target) || strings.IndexByte(target, 0) >= 0 {
		wk.warnIn(memo, rel, errBadTarget)
		return nil
	}
	d, err := wk.w.PutBytes(wk.ctx, []byte(target))
	if err != nil {
		return err
	}
	e := manifest.Entry{Path: rel, Mode: fi.Mode() & manifest.ModeMask, Size: int64(len(target)), Kind: manifest.KindSymlink, Blob: d, LinkTarget: target}
	wk.mu.Lock()
	wk.appendEntry(e)
	wk.stats.Symlinks++
	if memo != nil {
		memo.entries = append(memo.entries, e)
	}
	wk.mu.Unlock()
	return nil
}

// skipOrFail warns about an entry that cannot be read for a reason that
// skips it, and returns other errors.
func (wk *walker) skipOrFail(rel string, err error) error {
	return wk.skipOrFailIn(nil, rel, err)
}

// skipOrFailIn is skipOrFail for an entry of the directory whose memo is m.
func (wk *walker) skipOrFailIn(m *dirMemo, rel string, err error) error {
	if skip := skipReason(err); skip != nil {
		wk.warnIn(m, rel, skip)
		return nil
	}
	return fmt.Errorf("%q: %w", rel, err)
}

// skipReason maps an error that skips an entry to what Warn is told, and
// any other error to nil.
func skipReason(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errVanished
	case errors.Is(err, fs.ErrPermission):
		return errUnreadable
	case errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.ENOTDIR):
		// Replaced by a symbolic link or a file since the walk saw it.
		return errChangedType
	}
	return nil
}

// storeFile reads a file into the blob writer. It reads it again when
// the file changed while it was read (its stat after is not its stat
// before, or fewer bytes came than its size), and each read stops at the
// size the file had when the read began, so that what is stored was in
// the file. A file that keeps changing fails a strict capture; another
// capture stores what its last read got, with a warning.
func (wk *walker) storeFile(job fileJob) error {
	for attempt := 1; ; attempt++ {
		f, err := wk.hooks.open(job.dir, job.name, job.abs)
		if err != nil {
			return wk.skipOrFailIn(job.memo, job.rel, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("%q: %w", job.rel, err)
		}
		if !fi.Mode().IsRegular() {
			f.Close()
			wk.warnIn(job.memo, job.rel, errChangedType)
			return nil
		}
		if job.unlisted && attempt == 1 {
			if wk.storeFi != nil && sameFile(fi, wk.storeFi) {
				f.Close()
				wk.warnIn(job.memo, job.rel, errStoreFile)
				return nil
			}
			if linkCount(fi) != 1 {
				// As walkEntries says of a listed file.
				wk.unsure.Store(true)
				if job.memo != nil {
					wk.mu.Lock()
					job.memo.volatile = true
					wk.mu.Unlock()
				}
			}
		}
		before := statOf(fi)
		counted := &countingReader{r: io.LimitReader(f, before.size), progress: &wk.doneBytes}
		d, err := wk.w.Put(wk.ctx, counted)
		if err != nil {
			f.Close()
			if ctxErr := wk.ctx.Err(); ctxErr != nil {
				return context.Cause(wk.ctx)
			}
			if skip := skipReason(err); skip != nil {
				wk.warnIn(job.memo, job.rel, skip)
				return nil
			}
			return fmt.Errorf("%q: %w", job.rel, err)
		}
		wk.hooks.afterRead(job.abs, attempt)
		fiAfter, err := f.Stat()
		f.Close()
		if err != nil {
			return fmt.Errorf("%q: %w", job.rel, err)
		}
		settled := statOf(fiAfter) == before && counted.n == before.size
		live := !settled && !wk.c.Strict && attempt == liveReads
		if settled || live {
			memo := job.memo
			if live {
				wk.unsure.Store(true)
			}
			if live && memo != nil {
				wk.mu.Lock()
				memo.volatile = true
				wk.mu.Unlock()
			}
			wk.addFile(memo, manifest.Entry{Path: job.rel, Mode: fi.Mode() & manifest.ModeMask, Size: counted.n, Kind: manifest.KindFile, Blob: d}, before,
				func(s *Stats) { s.Files++; s.Bytes += counted.n; s.Hashed++; s.HashedBytes += counted.n })
			// A job is queued once the cache is known.
			if cache, _ := wk.cacheSoFar(); settled && cache != nil {
				if cache.holds(job.rel, before, d) {
					wk.unchangedFiles.Add(1)
				}
				cache.record(job.rel, cacheEntry{stat: before, recorded: wk.started.UnixNano(), digest: d})
			}
			if live {
				wk.warnOnly(job.rel, fmt.Errorf("%w: stored the %d bytes read", ErrChangedWhileRead, counted.n))
			}
			wk.doneFiles.Add(1)
			return nil
		}
		if attempt == maxReads {
			return fmt.Errorf("%q changed while it was read, %d times in a row: snapshot it when it is quiet", job.rel, maxReads)
		}
		wk.mu.Lock()
		wk.stats.Reread++
		wk.mu.Unlock()
	}
}

// reportProgress calls Capture.Progress every ProgressInterval until the
// returned function is called, which reports once more, as done.
func (wk *walker) reportProgress() (stop func()) {
	return startProgress(wk.c.Progress, wk.started, &wk.doneFiles, &wk.doneBytes)
}

func startProgress(fn func(Progress), started time.Time, files, bytes *atomic.Int64) (stop func()) {
	if fn == nil {
		return func() {}
	}
	snapshot := func(done bool) Progress {
		return Progress{Files: int(files.Load()), Bytes: bytes.Load(), Elapsed: time.Since(started), Done: done}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn(snapshot(false))
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
		fn(snapshot(true))
	}
}

// countingReader counts the bytes read through it, for the consistency
// check and for progress.
type countingReader struct {
	r        io.Reader
	n        int64
	progress *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	r.progress.Add(int64(n))
	return n, err
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// sameFile is os.SameFile for the stats readDir takes as well.
func sameFile(a, b fs.FileInfo) bool {
	if os.SameFile(a, b) {
		return true
	}
	ai, ad, _ := sysStat(a)
	bi, bd, _ := sysStat(b)
	return ai != 0 && ai == bi && ad == bd
}

func hasName(dirents []fs.DirEntry, name string) bool {
	for _, de := range dirents {
		if de.Name() == name {
			return true
		}
	}
	return false
}

// testHooks let tests step into the walk where a real file system cannot
// be made to misbehave on cue (a root test process reads any file).
type testHooks struct {
	openFile    func(path string) (*os.File, error)
	readDirFunc func(path string) ([]fs.DirEntry, error)
	afterReadFn func(path string, attempt int)
	// A snapshot's walk without Changes loads the stat cache beside the
	// listing (loadCacheBeside), as a scan's does, or only once it
	// listed every directory (loadCacheAfterListing), not before it.
	loadCacheBeside, loadCacheAfterListing bool
}

// A readFile is a file a capture reads.
type readFile interface {
	io.Reader
	Stat() (fs.FileInfo, error)
	Close() error
}

// open opens the file name of the directory dir, whose whole path is
// path.
func (h *testHooks) open(dir *dirHandle, name, path string) (readFile, error) {
	if h.openFile != nil {
		f, err := h.openFile(path)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	return dir.openToRead(name, path)
}

// readDir lists the directory at path (see readDirWatching); a test's
// listing has no handle.
func (h *testHooks) readDir(path string, watchFile func(name string), needStat func(name string) bool) ([]fs.DirEntry, *dirHandle, error) {
	if h.readDirFunc != nil {
		dirents, err := h.readDirFunc(path)
		return dirents, nil, err
	}
	return readDirWatching(path, watchFile, needStat)
}

func (h *testHooks) afterRead(path string, attempt int) {
	if h.afterReadFn != nil {
		h.afterReadFn(path, attempt)
	}
}
