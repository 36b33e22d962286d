package worktree

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// StatusOptions tune Status.
type StatusOptions struct {
	// Ignore, NoDefaultIgnores and IncludeSecrets are Capture's: what a
	// snapshot would leave out is not a change.
	Ignore           []string
	NoDefaultIgnores bool
	IncludeSecrets   bool
	// Warn hears of the entries the walk skips, as Capture.Warn does.
	Warn func(path string, err error)
	// Changes, as Capture.Changes, spares reading the directories that
	// did not change since the last capture with it.
	Changes Changes
}

// Status compares the directory dir, as a snapshot would capture it now,
// with the tree of image (the zero digest: an empty tree), and returns
// what differs, sorted by path, as DiffTrees does from the image to dir.
// It stores nothing and changes nothing. Files the store's stat cache
// knows unchanged are not read; neither are files whose size alone shows
// that they changed, or that the image lacks: in those changes New.Blob
// is zero. Paths that the ignore rules or DefaultSecrets leave out now
// are not listed, whatever the image holds there.
func Status(ctx context.Context, s *pf.Store, image manifest.Digest, dir string, opts StatusOptions) ([]Change, error) {
	var baseFS manifest.Digest
	if image != (manifest.Digest{}) {
		img, err := s.Image(ctx, image)
		if err != nil {
			return nil, err
		}
		baseFS = img.Manifest.World.FS
	}
	root, err := resolveRoot(dir)
	if err != nil {
		return nil, err
	}
	// With a watcher, a status that nothing changed since, of the same
	// head and rules, answers from the changes it kept.
	var begun ChangeSet
	var key keptStatusKey
	if opts.Changes != nil && s != nil {
		key = keptStatusKey{image: image, ignore: strings.Join(opts.Ignore, "\x00"), noDefaultIgnores: opts.NoDefaultIgnores, includeSecrets: opts.IncludeSecrets, store: s.Path(), root: root}
		if begun, err = opts.Changes.Begin(ctx); err != nil {
			return nil, err
		}
		if kept, ok := begun.(KeptResult); ok {
			if last, ok := kept.Kept().(*keptStatus); ok && last.key == key {
				kept.Keep(last)
				begun.End(nil)
				return slices.Clone(last.changes), nil
			}
		}
	}
	// Without a watcher, the stat cache loads beside the walk, which asks
	// it of a file only once it is loaded: when its records are the files
	// of the image's tree (the last snapshot of dir made it), they and the
	// walk's directories and links are that tree, which then need not be
	// read and decoded (see treeOfRecords).
	var cacheLoad *statCacheLoad
	if opts.Changes == nil && image != (manifest.Digest{}) {
		cacheLoad = startStatCacheLoad(ctx, s, root, nil)
		defer cacheLoad.wait() // the walk may fail before it waits
	}
	// recordsOnceLoaded waits for the load: the walk asks it of a file
	// only once the cache is loaded (see walker.cacheLoad).
	recordsOnceLoaded := sync.OnceValue(func() *statCache {
		if cacheLoad == nil {
			return nil
		}
		cache, err := cacheLoad.wait()
		if t, ok := cache.tree(); err != nil || !ok || t.Blob != baseFS || cache.malformed != 0 {
			return nil // a failed load fails the walk
		}
		return cache
	})
	// Otherwise the image's tree is loaded when the walk first asks for
	// it, or before (see below): with Changes, the last capture may hold
	// it decoded, and is the only one that reads c.last. Its entries are
	// in the order of manifest.ComparePaths, as the capture's tree is.
	var c *Capture
	var (
		loadBase sync.Once
		base     *manifest.Tree
		baseErr  error
	)
	loaded := func() error {
		loadBase.Do(func() {
			switch {
			case image == (manifest.Digest{}):
				base = &manifest.Tree{}
			case opts.Changes != nil && c.last.treeOf(baseFS) != nil:
				base = c.last.treeOf(baseFS)
			default:
				base, baseErr = LoadTree(ctx, s, image)
			}
		})
		return baseErr
	}
	c = &Capture{
		Root: dir, Ignore: opts.Ignore, NoDefaultIgnores: opts.NoDefaultIgnores, IncludeSecrets: opts.IncludeSecrets,
		Store: s, Warn: opts.Warn, Changes: opts.Changes, scan: true, scanBase: baseFS,
		skipHash: func(rel string, size int64) bool {
			if records := recordsOnceLoaded(); records != nil {
				e := records.entries[rel]
				return e == nil || e.stat.size != size
			}
			if loaded() != nil {
				return true // the status fails
			}
			i, found := slices.BinarySearchFunc(base.Entries, rel, func(e manifest.Entry, rel string) int { return manifest.ComparePaths(e.Path, rel) })
			return !found || base.Entries[i].Kind != manifest.KindFile || base.Entries[i].Size != size
		},
		statCacheLoad: cacheLoad, begun: begun,
	}
	if cacheLoad != nil {
		// Without a watcher no capture holds the tree: unless the
		// records are it, it is decoded beside the walk, from the
		// start, rather than when the walk first meets a changed file
		// and waits for it.
		loading := make(chan struct{})
		go func() {
			defer close(loading)
			if recordsOnceLoaded() == nil {
				loaded()
			}
		}()
		defer func() { <-loading }()
	}
	walked, err := c.walkTree(ctx, hashOnly{})
	if c.begun != nil {
		// The walk failed before it took the change set.
		c.begun.End(nil)
	}
	if err != nil {
		return nil, err
	}
	records := recordsOnceLoaded()
	current := walked.sortedTree()
	if t, ok := records.tree(); ok && t.Rest == walked.rest() {
		loadBase.Do(func() { base = treeOfRecords(current, records) })
	}
	if err := loaded(); err != nil {
		return nil, err
	}
	kept := newProtection(root, opts.NoDefaultIgnores, opts.Ignore, opts.IncludeSecrets)
	// What the walk met, as a directory or not, the rules did not leave
	// out: only the image's other paths need asking (rules and secret
	// patterns for every path are most of the time of a status).
	// The files and links of the directories the walk left out (see
	// Capture.omitted) are the image's, unchanged.
	visible := func(e *manifest.Entry, met *manifest.Entry) bool {
		isDir := e.Kind == manifest.KindDir
		if met == nil && !isDir {
			if again, ok := c.omitted[dirOfPath(e.Path)]; ok && !again[baseName(e.Path)] {
				return false
			}
		}
		return (met != nil && (met.Kind == manifest.KindDir) == isDir) || e.Path == CIDFile || !kept.protected(e.Path, isDir)
	}
	// Those files and links of the image are not in the walk's tree
	// either: the diff passes over them without comparing paths. A
	// directory's files come together in the image's order, so its
	// omission is looked up once for them.
	var unmet func(e *manifest.Entry) bool
	if c.omitted != nil {
		var (
			lastDir            string
			lastAgain          map[string]bool
			lastOmitted, known bool
		)
		unmet = func(e *manifest.Entry) bool {
			if e.Kind == manifest.KindDir {
				return false
			}
			if dir := dirOfPath(e.Path); !known || dir != lastDir {
				lastAgain, lastOmitted = c.omitted[dir]
				lastDir, known = dir, true
			}
			return lastOmitted && !lastAgain[baseName(e.Path)]
		}
	}
	var changes []Change
	for _, ch := range diffEntries(base.Entries, current.Entries, visible, unmet) {
		if ch.Path != CIDFile && !isCIDTemp(ch.Path) {
			changes = append(changes, ch)
		}
	}
	if kept, ok := begun.(KeptResult); ok && !c.unsure && c.root == root {
		kept.Keep(&keptStatus{key: key, changes: slices.Clone(changes)})
	}
	return changes, nil
}

// A keptStatus is the changes a status with a watcher found, kept for
// the next status (see KeptResult).
type keptStatus struct {
	key     keptStatusKey
	changes []Change
}

// keptStatusKey is what else than the workspace's files a status's
// changes depend on: the head, the rules, the store and the directory.
type keptStatusKey struct {
	image            manifest.Digest
	ignore           string
	noDefaultIgnores bool
	includeSecrets   bool
	store, root      string
}

// treeOfRecords is the tree whose files are the stat cache's records and
// whose directories and links are those of current. It is the tree the
// records were saved with (pf.FileCache.SetTree) when the walk that made
// current found the same directories and links (the same Rest).
//
// current is in tree order and holds most of the records' paths: they
// are taken in its order, a map lookup each, rather than the whole set
// sorted again; only the records of files gone since (few) are sorted,
// then merged in.
func treeOfRecords(current *manifest.Tree, records *statCache) *manifest.Tree {
	// Sized exactly for the tree when no file is gone (the usual case):
	// the directories and links of current, and every record. Twice
	// that, as before, was a megabyte of GOROOT/src's tree more to
	// allocate, and for the collector to scan.
	nonFiles := 0
	for _, e := range current.Entries {
		if e.Kind != manifest.KindFile {
			nonFiles++
		}
	}
	entries := make([]manifest.Entry, 0, nonFiles+len(records.entries))
	taken := 0
	for _, e := range current.Entries {
		if e.Kind != manifest.KindFile {
			entries = append(entries, e)
		}
		if r := records.entries[e.Path]; r != nil {
			entries = append(entries, r.fileEntry(e.Path))
			taken++
		}
	}
	if taken == len(records.entries) {
		return &manifest.Tree{Entries: entries}
	}
	met := make(map[string]bool, len(current.Entries))
	for _, e := range current.Entries {
		met[e.Path] = true
	}
	gone := make([]manifest.Entry, 0, len(records.entries)-taken)
	for path, r := range records.entries {
		if !met[path] {
			gone = append(gone, r.fileEntry(path))
		}
	}
	sortWalked(gone)
	return &manifest.Tree{Entries: mergeByPath(entries, gone)}
}

// fileEntry is the tree entry at path that the record e says.
func (e *loadedEntry) fileEntry(path string) manifest.Entry {
	return manifest.Entry{Path: path, Mode: e.stat.mode, Size: e.stat.size, Kind: manifest.KindFile, Blob: e.digest}
}

// mergeByPath merges two lists of entries, each in tree order, into one.
func mergeByPath(a, b []manifest.Entry) []manifest.Entry {
	out := make([]manifest.Entry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if manifest.ComparePaths(b[0].Path, a[0].Path) < 0 {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// tree is the tree the records were saved with, if known (see
// pf.FileCache.Tree); false for a nil cache.
func (c *statCache) tree() (pf.CacheTree, bool) {
	if c == nil {
		return pf.CacheTree{}, false
	}
	return c.files.Tree()
}

// dirOfPath is the directory of the slash path rel, "" the root.
func dirOfPath(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

// resolveRoot is dir as a capture walks it: absolute, links resolved.
func resolveRoot(dir string) (string, error) {
	root, err := filepath.Abs(dir)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	return root, err
}

// hashOnly is the BlobWriter of a capture that stores nothing.
type hashOnly struct{}

var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func (hashOnly) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	h := sha256.New()
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	if _, err := io.CopyBuffer(h, r, *buf); err != nil {
		return manifest.Digest{}, err
	}
	return manifest.Digest(h.Sum(nil)), nil
}

func (hashOnly) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	return manifest.Sum(b), nil
}

// A protection says which paths of a directory the ignore rules or the
// secret patterns leave out, for paths the walk did not meet (those of an
// image): each directory's ignore file is read once, when first needed.
type protection struct {
	root           string
	includeSecrets bool
	base           *ignoreRules

	// walked is what the capture just made of each directory it met
	// (Capture.made): the rules in force there, read a moment ago, need
	// not be read again.
	walked map[string]*dirMemo

	mu    sync.Mutex
	rules map[string]*ignoreRules // by directory path, "" the root
}

func newProtection(root string, noDefaults bool, extra []string, includeSecrets bool) *protection {
	return &protection{root: root, includeSecrets: includeSecrets, base: rootIgnoreRules(noDefaults, extra), rules: map[string]*ignoreRules{}}
}

// protected reports whether the entry at path (a directory when isDir)
// is, or lies under, something the rules leave out.
func (p *protection) protected(path string, isDir bool) bool {
	segs := strings.Split(path, "/")
	if !p.includeSecrets && isSecret(segs, isDir) {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 1; i <= len(segs); i++ {
		if p.rulesFor(segs[:i-1]).ignored(segs[:i], i < len(segs) || isDir) {
			return true
		}
	}
	return false
}

// rulesFor returns the rules in force in the directory segs, as the walk
// composes them; a directory that is not a real directory now adds none.
func (p *protection) rulesFor(segs []string) *ignoreRules {
	key := strings.Join(segs, "/")
	if r, ok := p.rules[key]; ok {
		return r
	}
	if m := p.walked[key]; m != nil && m.rules != nil {
		p.rules[key] = m.rules
		return m.rules
	}
	r := p.base
	if len(segs) > 0 {
		r = p.rulesFor(segs[:len(segs)-1])
	}
	abs := filepath.Join(p.root, filepath.FromSlash(key))
	if fi, err := os.Lstat(abs); err == nil && fi.IsDir() {
		for _, name := range ignoreFiles {
			lines, err := readIgnoreFile(filepath.Join(abs, name))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err == nil {
				r = r.with(lines, segs)
			}
			break // as the walk: the first ignore file there, read or not
		}
	}
	p.rules[key] = r
	return r
}
