package worktree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Paths, when given, limit the restore to these paths ('/'-separated,
	// relative to the directory) and the subtrees under them.
	Paths []string
	// Ignore, NoDefaultIgnores and IncludeSecrets are Capture's. What
	// they leave out, Restore never touches: neither in the directory nor
	// from the image.
	Ignore           []string
	NoDefaultIgnores bool
	IncludeSecrets   bool
	// AllowOutsideSymlinks creates the image's symbolic links whose
	// targets are absolute or lead out of the tree; by default they are
	// skipped with a warning. Nothing is ever written through a link.
	AllowOutsideSymlinks bool
	// NoBackup skips the snapshot of the directory that Restore takes
	// before it changes anything (an empty directory gets none either).
	NoBackup bool
	// Head is the directory's head: the backup's parent, moved to the
	// backup, and after a restore of the whole tree to the image. Nil
	// means the default session's head of the directory.
	Head *pf.HeadRef
	// Workers bounds how many files are written at once; 0 means a
	// default suited to the machine.
	Workers int
	// Warn, if set, hears of what Restore leaves as it is: entries the
	// walk skips (as Capture.Warn), links that lead out of the tree,
	// directories that still hold what the rules protect, paths where
	// something Restore does not replace stands. Calls are serialized.
	Warn func(path string, err error)
	// Progress, if set, is called about every ProgressInterval while
	// files are written, and once at the end with Done set.
	Progress func(Progress)
	// Changes, as Capture.Changes, spares the backup reading the
	// directories that did not change since the last capture with it.
	Changes Changes

	// beforeRename, in tests, is called as a file written whole is
	// about to be renamed into place.
	beforeRename func(path string)
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	// Backup is the image of the directory as it was, or zero with
	// NoBackup. When the directory had not changed since its head, it is
	// the head itself (BackupIsNew is false).
	Backup      manifest.Digest
	BackupIsNew bool
	// Changes are the paths that the restore changed, sorted, from what
	// the directory held (Old) to what the image holds (New).
	Changes []Change
	// Kept are the paths that differ but were left as they are, each
	// with a warning.
	Kept int
	// Secrets are the paths DefaultSecrets kept out of the backup and
	// that the restore left as they are.
	Secrets []string
}

// ErrKept marks what RestoreOptions.Warn hears of a path left as it is.
var ErrKept = errors.New("left as it is")

// errNotDir: a path's parent is not a real directory (a link, a file).
var errNotDir = errors.New("not a directory, or a symbolic link")

// errNotTruncatable: a file a restore may not cut in place (see
// truncateToPrefix), which it writes whole instead.
var errNotTruncatable = errors.New("not a regular file with one link")

// Restore makes the directory dir match the tree of image in place: files
// whose bytes or mode differ are rewritten, missing files, directories and
// links made, and what the image lacks deleted, except what the ignore
// rules and DefaultSecrets leave out (.git/, node_modules/, .env, ...),
// which is never touched. Entries are compared through the stat cache,
// then digests: only what differs is written. Each file is written to a
// temporary file in its own directory and renamed over the old one, so
// that a restore cut short (killed, even) leaves every file whole, old or
// new, and running it again completes it. No write ever passes through a
// symbolic link: each directory on the way is opened without following
// one. The image's entries are checked before anything changes, as
// Checkout checks them. A file of 8 MiB or more (minRecordedWrite) is
// synced before its rename and, when the stat cache's racy-clean rule
// allows, recorded in the directory's stat cache in the transaction that
// moves the head: the next capture need not read it again.
//
// First, unless opts.NoBackup, the directory as it is becomes a snapshot,
// a child of its head: every restore can be undone by restoring that
// image. Afterwards the head names image, or, when opts.Paths limit the
// restore, the backup.
func Restore(ctx context.Context, s *pf.Store, image manifest.Digest, dir string, opts RestoreOptions) (*RestoreResult, error) {
	root, err := resolveRoot(dir)
	if err != nil {
		return nil, err
	}
	head := opts.Head
	if head == nil {
		head = &pf.HeadRef{Dir: root}
	}
	var warnMu sync.Mutex
	warn := func(path string, err error) {
		if opts.Warn != nil {
			warnMu.Lock()
			defer warnMu.Unlock()
			opts.Warn(path, err)
		}
	}
	// A link skipped because it leads out of the tree is warned of only
	// when the directory does not have it already: a venv's link, restored
	// again and again, is not news.
	var outside []skippedLink
	planWarn := func(path string, err error) {
		if ol := (*OutsideLinkError)(nil); errors.As(err, &ol) {
			outside = append(outside, skippedLink{path, ol.Target, err})
			return
		}
		warn(path, err)
	}
	// A served restore that follows one which left the directory as its
	// image, with nothing changed since, takes that image's tree as the
	// directory's, and the image as its backup (see restoredState).
	var restored *restoredState
	if opts.Changes != nil && !opts.NoBackup {
		restored = takeRestored(ctx, s, root, opts, head)
	}
	// Without a watcher, the image's tree is decoded and checked on the
	// other core while the backup walks the directory; the backup waits
	// for it before it stores anything, so that a refused image still
	// changes nothing. With one, the plan is most often kept from the
	// last restore, and the backup may take its tree from it; a plan made
	// anew takes the path strings of the directory's tree, when a kept
	// state gives it (see internPaths).
	var (
		plan    *checkoutPlan
		planErr error
		planned = make(chan struct{})
	)
	if opts.Changes == nil {
		go func() {
			defer close(planned)
			plan, planErr = restorePlan(ctx, s, image, opts.AllowOutsideSymlinks, false, nil, planWarn)
		}()
		defer func() { <-planned }()
	} else {
		var like []manifest.Entry
		if restored != nil {
			like = restored.sorted
		}
		plan, planErr = restorePlan(ctx, s, image, opts.AllowOutsideSymlinks, true, like, planWarn)
		close(planned)
	}
	waitPlan := func() error {
		<-planned
		return planErr
	}
	// planFirst is err unless the image was refused: the refusal is what
	// the restore reports, whatever else went wrong meanwhile.
	planFirst := func(err error) error {
		if perr := waitPlan(); perr != nil {
			return perr
		}
		return err
	}
	for _, p := range opts.Paths {
		if problem := unsafePath(p); problem != "" {
			return nil, planFirst(fmt.Errorf("restore path %q: %s", p, problem))
		}
	}

	r, err := openInPlaceRoot(root)
	if err != nil {
		return nil, planFirst(err)
	}
	defer r.Close()
	res := &RestoreResult{}
	var (
		capture *Capture
		current *manifest.Tree
		rs      *restorer
		// What an unchanged backup left to the restore's last commit.
		deferred *pf.Deferred
	)
	if restored != nil {
		if err := waitPlan(); err != nil {
			return nil, err
		}
		rs = &restorer{
			ctx: ctx, s: s, root: r, opts: opts, warn: warn,
			keep: newProtection(root, opts.NoDefaultIgnores, opts.Ignore, opts.IncludeSecrets),
		}
		current = &manifest.Tree{Entries: restored.sorted}
		rs.plan(current, plan)
		if restored.asRecorded(rs) {
			res.Backup, res.Secrets = restored.image, slices.Clone(restored.secrets)
		} else {
			restored = nil
		}
	}
	for changes := opts.Changes; restored == nil; changes = nil {
		// The directory as it is: the backup's tree, or a scan that
		// stores nothing.
		capture = &Capture{
			Root: root, Ignore: opts.Ignore, NoDefaultIgnores: opts.NoDefaultIgnores, IncludeSecrets: opts.IncludeSecrets,
			Store: s, Warn: warn, Environ: []string{}, Cwd: root, Changes: changes,
		}
		// An empty directory has nothing to back up.
		if des, err := os.ReadDir(root); err != nil {
			return nil, planFirst(err)
		} else if len(des) == 0 {
			opts.NoBackup = true
		}
		if opts.NoBackup {
			capture.scan = true
			current, err = capture.captureTree(ctx, hashOnly{})
			if err := planFirst(err); err != nil {
				return nil, err
			}
		} else {
			deferred = &pf.Deferred{}
			res.Backup, res.BackupIsNew, current, err = backup(ctx, s, capture, head, waitPlan, deferred)
			if err != nil {
				err = fmt.Errorf("backup of %s: %w", dir, err)
			}
			if err := planFirst(err); err != nil {
				return nil, err
			}
		}
		rs = &restorer{
			ctx: ctx, s: s, root: r, opts: opts, warn: warn,
			keep: newProtection(root, opts.NoDefaultIgnores, opts.Ignore, opts.IncludeSecrets),
		}
		if capture.made != nil {
			rs.keep.walked = capture.made.dirs
		}
		rs.plan(current, plan)
		// The watcher hears of no write through a shared memory mapping:
		// a file it let the capture take from the last one, which the
		// restore would replace or remove, is looked at first, and if it
		// is not as recorded, everything is, so that the backup holds
		// what the restore overwrites.
		if changes == nil || capture.stats.Recalled == 0 || rs.asRecorded(capture) {
			break
		}
	}
	// The stat cache the last capture saved, whose seal the restore's
	// records keep if they are still as it left them.
	finishRoot, used := root, (*statCache)(nil)
	if restored != nil {
		used = restored.memo.cache
	} else {
		res.Secrets, finishRoot, used = capture.Secrets(), capture.root, capture.cache
		for _, tmp := range capture.temps {
			rs.removeStaleTemp(tmp)
		}
	}
	rs.warnSkippedLinks(current, outside)
	if err := rs.apply(); err != nil {
		return res, err
	}
	res.Changes = rs.done
	res.Kept = int(rs.kept.Load())
	whole := len(opts.Paths) == 0
	if !whole {
		head = nil
	}
	// The directory is the image's tree if the plan was that tree and
	// every change of it was made. Whether the watcher vouches for it is
	// checked beside the commit, whose syncs it need not wait for (its
	// barrier waits for the events of the restore's writes); what it
	// finds is kept once the commit has moved the head.
	var keep chan func()
	if opts.Changes != nil && whole && plan.exact && len(outside) == 0 && rs.passed == 0 && len(rs.changes) == 0 && res.Kept == 0 {
		keep = make(chan func(), 1)
		go func() { keep <- keepRestored(ctx, s, root, opts, head, image, plan, res.Secrets) }()
	}
	err = rs.finish(ctx, finishRoot, used, head, image, deferred)
	if keep != nil {
		if keepIt := <-keep; keepIt != nil && err == nil {
			keepIt()
		}
	}
	return res, err
}

// backup snapshots the directory as a child of its head, with the head's
// agent and every layer but world.fs, which it captures; a directory
// unchanged since its head gives the head back, and leaves the stat
// cache's records in deferred: the head is stored already, so nothing
// need be durable before the restore writes, and the records, a cache,
// go with the restore's own commit.
func backup(ctx context.Context, s *pf.Store, c *Capture, head *pf.HeadRef, planned func() error, deferred *pf.Deferred) (id manifest.Digest, isNew bool, tree *manifest.Tree, err error) {
	h, ok, err := s.Head(ctx, head.Dir, head.Session)
	if err != nil {
		return id, false, nil, err
	}
	world := &backupWorld{c: c, planned: planned}
	spec := pf.Snapshot{Agent: manifest.Agent{Kind: "workspace"}, World: world, Head: head, SkipUnchanged: true, Defer: deferred}
	if ok {
		img, err := s.Image(ctx, h.ID)
		if err != nil {
			return id, false, nil, err
		}
		m := img.Manifest
		spec.Agent, spec.Parents, world.base = m.Agent, []manifest.Digest{h.ID}, &m.World
		// The directory as the restore before this one left it: the
		// head's tree, whose plan that restore kept.
		if tree := recentPlans.treeOf(m.World.FS); tree != nil {
			c.knownTree = &putTree{fs: m.World.FS, tree: tree}
		}
		layers := fixedLayers{m}
		spec.Model, spec.Cache, spec.Effects, spec.Trace = layers, layers, layers, layers
	}
	id, err = s.Snapshot(ctx, spec)
	if err != nil {
		return id, false, nil, err
	}
	return id, !ok || id != h.ID, world.tree, nil
}

// backupWorld captures a backup's world.fs; its env and procs are the
// head's, when there is one: a backup is of the files.
type backupWorld struct {
	c    *Capture
	base *manifest.World
	tree *manifest.Tree
	// planned waits for the restore's plan, and fails if the image is
	// refused: the backup then stores nothing.
	planned func() error
}

func (b *backupWorld) CaptureWorld(ctx context.Context, w pf.BlobWriter) (manifest.World, error) {
	walked, err := b.c.walkTree(ctx, w)
	if err != nil {
		return manifest.World{}, err
	}
	if err := b.planned(); err != nil {
		return manifest.World{}, err
	}
	fs, err := walked.putTree(ctx, w)
	if err != nil {
		return manifest.World{}, err
	}
	walked.keepTree(fs)
	b.tree = walked.sortedTree() // the restore plans from it
	if b.base == nil {
		return b.c.worldOf(ctx, w, fs)
	}
	return manifest.World{FS: fs, Env: b.base.Env, Procs: b.base.Procs}, nil
}

// fixedLayers returns a manifest's other layers as they are.
type fixedLayers struct{ m *manifest.Manifest }

func (f fixedLayers) CaptureModel(context.Context, pf.BlobWriter) (manifest.Model, error) {
	return f.m.Model, nil
}
func (f fixedLayers) CaptureCache(context.Context, pf.BlobWriter) (manifest.Cache, error) {
	return f.m.Cache, nil
}
func (f fixedLayers) CaptureEffects(context.Context, pf.BlobWriter) (manifest.Effects, error) {
	return f.m.Effects, nil
}
func (f fixedLayers) CaptureTrace(context.Context, pf.BlobWriter) (manifest.Trace, error) {
	return f.m.Trace, nil
}

// A restorer is one restore under way.
type restorer struct {
	ctx  context.Context
	s    *pf.Store
	root *inPlaceRoot
	opts RestoreOptions
	warn func(string, error)
	keep *protection

	// The plan, in the order of its steps.
	removeFiles []manifest.Entry // files and links, then
	removeDirs  []manifest.Entry // directories, deepest first
	makeDirs    []manifest.Entry // parents first
	writeFiles  []Change
	makeLinks   []Change
	chmodFiles  []Change
	chmodDirs   []manifest.Entry // deepest first

	changes map[string]Change // what the plan means to do, by path
	// passed counts the differences the plan leaves as they are (what
	// the rules protect, the modes of implied directories).
	passed int
	failed sync.Map // paths whose step was skipped: their children's are too

	mu     sync.Mutex
	done   []Change
	kept   atomic.Int64
	placed []pf.FileRecord // what the stat cache may record of the files written
}

// asRecorded reports whether every file the plan replaces, removes or
// changes the mode of has the stat now that the capture c recorded of it.
func (rs *restorer) asRecorded(c *Capture) bool {
	for path, ch := range rs.changes {
		if ch.Kind == Added || ch.Old.Kind != manifest.KindFile {
			continue
		}
		want, ok := c.recordedStat(path)
		if !ok {
			return false
		}
		fi, err := os.Lstat(filepath.Join(c.root, filepath.FromSlash(path)))
		if err != nil || !fi.Mode().IsRegular() || statOf(fi) != want {
			return false
		}
	}
	return true
}

// selected reports whether path is one the restore may change.
func (rs *restorer) selected(path string) bool {
	if len(rs.opts.Paths) == 0 {
		return true
	}
	for _, p := range rs.opts.Paths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// A skippedLink is a link of the image that the restore leaves out
// because it leads out of the tree.
type skippedLink struct {
	path, target string
	err          error
}

// warnSkippedLinks warns of the selected skipped links that the
// directory lacks or has with another target.
func (rs *restorer) warnSkippedLinks(current *manifest.Tree, links []skippedLink) {
	if len(links) == 0 {
		return
	}
	have := map[string]string{}
	for _, e := range current.Entries {
		if e.Kind == manifest.KindSymlink {
			have[e.Path] = e.LinkTarget
		}
	}
	for _, l := range links {
		if target, ok := have[l.path]; (!ok || target != l.target) && rs.selected(l.path) {
			rs.warn(l.path, l.err)
		}
	}
}

// plan compares the directory's tree with the image's checked plan. What
// the rules protect is left as it is: the image's entries are asked about
// only where they differ from the directory's, which the walk took
// through the same rules (asking about every entry of a large tree would
// cost more than the restore itself).
func (rs *restorer) plan(current *manifest.Tree, target *checkoutPlan) {
	// Each list is the tree itself when the restore takes all of it, else
	// a copy made at its full size: grown entry by entry, an image of
	// 10,000 files copies it a dozen times.
	want := &manifest.Tree{Entries: target.sorted}
	if len(rs.opts.Paths) > 0 {
		want.Entries = make([]manifest.Entry, 0, len(target.sorted))
		for _, e := range target.sorted {
			if rs.selected(e.Path) {
				want.Entries = append(want.Entries, e)
			}
		}
	}
	// A link the image has but the restore skips (it leads out of the
	// tree) is left as the directory has it.
	skipped := map[string]bool{}
	for _, p := range target.skipped {
		skipped[p] = true
	}
	have := current
	if len(rs.opts.Paths) > 0 || len(skipped) > 0 {
		have = &manifest.Tree{Entries: make([]manifest.Entry, 0, len(current.Entries))}
		for _, e := range current.Entries {
			if rs.selected(e.Path) && !skipped[e.Path] {
				have.Entries = append(have.Entries, e)
			}
		}
	}
	rs.changes = map[string]Change{}
	// Both are in the order of manifest.ComparePaths already (a
	// capture's tree, a plan's sorted entries): no check of it.
	for _, c := range diffEntries(have.Entries, want.Entries, nil, nil) {
		// An entry the directory's tree has, of the same kind, went
		// through the rules already: only what the image adds, or turns
		// into another kind (a directory pattern may then match), is
		// asked about.
		asked := c.Kind == Added || c.Kind == Changed && c.Old.Kind != c.New.Kind
		if asked && rs.keep.protected(c.Path, c.New.Kind == manifest.KindDir) {
			rs.passed++
			continue
		}
		if c.Kind == ModeChanged && c.New.Kind == manifest.KindDir && target.implicit[c.Path] {
			rs.passed++
			continue // a directory the image only implies: its mode is not the image's
		}
		rs.changes[c.Path] = c
		old, cur := c.Old, c.New
		kindChange := c.Kind == Changed && old.Kind != cur.Kind
		if c.Kind == Removed || kindChange && (old.Kind == manifest.KindDir || cur.Kind == manifest.KindDir) {
			if old.Kind == manifest.KindDir {
				rs.removeDirs = append(rs.removeDirs, old)
			} else {
				rs.removeFiles = append(rs.removeFiles, old)
			}
		}
		if c.Kind == Removed {
			continue
		}
		switch cur.Kind {
		case manifest.KindDir:
			if c.Kind == Added || kindChange {
				rs.makeDirs = append(rs.makeDirs, cur)
			}
			if !target.implicit[c.Path] {
				rs.chmodDirs = append(rs.chmodDirs, cur)
			}
		case manifest.KindFile:
			if c.Kind == ModeChanged {
				rs.chmodFiles = append(rs.chmodFiles, c)
			} else {
				rs.writeFiles = append(rs.writeFiles, c)
			}
		case manifest.KindSymlink:
			rs.makeLinks = append(rs.makeLinks, c)
		}
	}
	deepestFirst := func(a, b manifest.Entry) int {
		if d := strings.Count(b.Path, "/") - strings.Count(a.Path, "/"); d != 0 {
			return d
		}
		return manifest.ComparePaths(a.Path, b.Path)
	}
	slices.SortFunc(rs.removeDirs, deepestFirst)
	slices.SortFunc(rs.chmodDirs, deepestFirst)
	slices.SortFunc(rs.makeDirs, byPath)
}

// apply carries the plan out. A step that meets what the restore must not
// replace is skipped with a warning (and the steps under it); any other
// error stops the restore, which can be run again.
func (rs *restorer) apply() error {
	// Files and links, each in a directory that stays: on the pool, as
	// the writes, since no removal waits for another.
	if err := writeEach(rs.ctx, rs.opts.Workers, nil, rs.removeFiles, func(_ context.Context, e manifest.Entry, _ func(int64)) error {
		return rs.step(e.Path, func(p *parentDir, name string) error { return goneIsDone(p.remove(name, false)) })
	}); err != nil {
		return err
	}
	for _, e := range rs.removeDirs {
		if err := rs.step(e.Path, func(p *parentDir, name string) error {
			err := p.remove(name, true)
			if isNotEmpty(err) {
				return keptError("the directory still holds files that ignore rules or secret patterns keep")
			}
			return goneIsDone(err)
		}); err != nil {
			return err
		}
	}
	for _, e := range rs.makeDirs {
		if err := rs.step(e.Path, func(p *parentDir, name string) error {
			if err := rs.checkReplaceable(p, name, true); err != nil {
				return err
			}
			err := p.mkdir(name)
			if errors.Is(err, fs.ErrExist) {
				return keptError("something that is not a directory is in the way")
			}
			return err
		}); err != nil {
			return err
		}
	}
	if err := rs.writeAll(); err != nil {
		return err
	}
	for _, c := range rs.makeLinks {
		if err := rs.step(c.Path, func(p *parentDir, name string) error {
			if err := rs.checkReplaceable(p, name, false); err != nil {
				return err
			}
			return p.symlink(c.New.LinkTarget, name)
		}); err != nil {
			return err
		}
	}
	for _, c := range rs.chmodFiles {
		if err := rs.step(c.Path, func(p *parentDir, name string) error {
			err := p.chmod(name, c.New.Mode)
			if err != nil {
				// Unreadable, say: rewrite it whole instead.
				_, err = rs.writeFile(p, c.Path, name, c.New)
			}
			return err
		}); err != nil {
			return err
		}
	}
	for _, e := range rs.chmodDirs {
		if err := rs.step(e.Path, func(p *parentDir, name string) error { return p.chmod(name, e.Mode) }); err != nil {
			return err
		}
	}
	// In the order of the trees and of DiffTrees.
	slices.SortFunc(rs.done, func(a, b Change) int { return manifest.ComparePaths(a.Path, b.Path) })
	return nil
}

// goneIsDone takes the removal of what is gone already for done.
func goneIsDone(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// keptError is a step's reason to leave a path as it is.
func keptError(why string) error { return fmt.Errorf("%w: %s", ErrKept, why) }

// step runs fn on the parent directory of path. A path under one whose
// step was skipped is skipped too; a step that returns a keptError, or
// whose parent is no longer a real directory, is skipped with a warning.
// Other errors are returned, naming the path.
func (rs *restorer) step(path string, fn func(p *parentDir, name string) error) error {
	if err := rs.ctx.Err(); err != nil {
		return err
	}
	for dir := path; ; {
		if _, failed := rs.failed.Load(dir); failed {
			rs.failed.Store(path, true)
			return nil
		}
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			break
		}
		dir = dir[:i]
	}
	p, name, err := rs.root.parent(path)
	if err == nil {
		err = fn(p, name)
		p.Close()
	}
	switch {
	case err == nil:
		rs.mu.Lock()
		if c, ok := rs.changes[path]; ok {
			rs.done = append(rs.done, c)
			delete(rs.changes, path) // a path of two steps is done once
		}
		rs.mu.Unlock()
		return nil
	case errors.Is(err, ErrKept), errors.Is(err, errNotDir), errors.Is(err, fs.ErrNotExist):
		rs.failed.Store(path, true)
		rs.kept.Add(1)
		if !errors.Is(err, ErrKept) {
			err = keptError(err.Error())
		}
		rs.warn(path, err)
		return nil
	}
	return fmt.Errorf("restore %q: %w", path, err)
}

// checkReplaceable refuses to replace what the walk did not capture at a
// path the plan thought empty: a device, a named pipe, a socket, or a
// directory (unreadable, say).
func (rs *restorer) checkReplaceable(p *parentDir, name string, dir bool) error {
	mode, ok, err := p.lstat(name)
	switch {
	case err != nil:
		return err
	case !ok:
		return nil
	case mode&fs.ModeIrregular != 0 || mode&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice) != 0:
		return keptError(fmt.Sprintf("a %v is in the way", mode.Type()))
	case mode.IsDir() && !dir:
		return keptError("a directory the walk could not read is in the way")
	}
	return nil
}

// writeAll writes the plan's files on a pool of workers.
func (rs *restorer) writeAll() error {
	return writeEach(rs.ctx, rs.opts.Workers, rs.opts.Progress, rs.writeFiles, func(ctx context.Context, c Change, wrote func(int64)) error {
		return rs.step(c.Path, func(p *parentDir, name string) error {
			if c.Kind == Added {
				if err := rs.checkReplaceable(p, name, false); err != nil {
					return err
				}
			}
			// A file cut to its prefix in place has no byte written.
			if cut, err := rs.truncateToPrefix(p, name, c); cut || err != nil {
				return err
			}
			n, err := rs.writeFile(p, c.Path, name, c.New)
			wrote(n)
			return err
		})
	})
}

// writeFile writes e's blob, verified as it streams, over name, the
// file at path.
func (rs *restorer) writeFile(p *parentDir, path, name string, e manifest.Entry) (int64, error) {
	var r io.Reader = strings.NewReader("")
	switch {
	case e.Blob == manifest.EmptyDigest && e.Size == 0:
	case e.Size <= wholeReadMax:
		// Read whole and verified, decoded straight from the store's
		// pages, then written in one call: a stream copied the stored
		// value out first and went through a buffer of 32 KiB made
		// for each file. The blob's size is looked up first: a tree
		// that names a large blob as a small file must not make the
		// restore read gigabytes into memory.
		info, err := rs.s.Blobs().Stat(rs.ctx, e.Blob)
		if err == nil && info.Size != e.Size {
			err = sizeMismatch(e)
		}
		var b []byte
		if err == nil {
			b, err = rs.s.Blobs().Get(rs.ctx, e.Blob)
		}
		if err == nil && int64(len(b)) != e.Size {
			err = sizeMismatch(e)
		}
		if err != nil {
			return 0, blobError(e, err)
		}
		r = bytes.NewReader(b)
	default:
		rc, err := rs.s.Blobs().Open(rs.ctx, e.Blob)
		if err != nil {
			return 0, blobError(e, err)
		}
		defer rc.Close()
		r = &sizeCheck{r: rc, want: e.Size, blob: e.Blob}
	}
	own, _ := rs.opts.Changes.(OwnWrites)
	expected := false
	beforeRename := func(written fileStat) {
		if e.Size >= minSettledWrite {
			waitPastSecond(written.mtime)
		}
		if own != nil {
			own.Expect(path)
			expected = true
		}
		if hook := rs.opts.beforeRename; hook != nil {
			hook(path)
		}
	}
	n, pl, err := p.writeFile(name, r, e.Mode, e.Size >= minRecordedWrite, beforeRename)
	if err == nil {
		rs.notePlaced(path, pl, e.Blob)
	}
	if expected {
		// The stat once in place, which a write since would move.
		var note any
		if st, serr := p.fileStat(name); err == nil && serr == nil {
			note = ownWrite{stat: st, blob: e.Blob}
		}
		own.Placed(path, note)
	}
	return n, err
}

// wholeReadMax is the size up to which a restore reads a file's blob
// whole before it writes it (a blob the store keeps as one value): the
// workers hold at most that much each. A larger one is streamed.
const wholeReadMax = 1 << 20

// blobError names the blob of e that could not be read; a blob the tree
// names but the store lacks makes the tree corrupt.
func blobError(e manifest.Entry, err error) error {
	if errors.Is(err, pf.ErrNotFound) {
		err = fmt.Errorf("%w: %w", pf.ErrCorrupt, err)
	}
	return fmt.Errorf("blob %s: %w", e.Blob.Short(), err)
}

// sizeMismatch is the error of a blob whose size is not the tree's.
func sizeMismatch(e manifest.Entry) error {
	return fmt.Errorf("%w: the tree says %d bytes, blob %s has more or fewer", pf.ErrCorrupt, e.Size, e.Blob.Short())
}

// sizeCheck fails a read that gives other than the tree's size, before
// the file it fills is renamed into place.
type sizeCheck struct {
	r    io.Reader
	n    int64
	want int64
	blob manifest.Digest
}

func (c *sizeCheck) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.want || err == io.EOF && c.n != c.want {
		return n, sizeMismatch(manifest.Entry{Size: c.want, Blob: c.blob})
	}
	return n, err
}

// removeStaleTemp deletes a temporary file that a restore cut short left.
func (rs *restorer) removeStaleTemp(path string) {
	p, name, err := rs.root.parent(path)
	if err != nil {
		return
	}
	defer p.Close()
	if mode, ok, err := p.lstat(name); err == nil && ok && (mode.IsRegular() || mode&fs.ModeSymlink != 0) {
		p.remove(name, false)
	}
}

// Temporary files of a restore: ".pf-restore-" and 16 hex digits, then
// ".tmp". A capture never records one, and a restore deletes those that a
// restore cut short left behind.
const (
	restoreTempPrefix = ".pf-restore-"
	restoreTempSuffix = ".tmp"
)

func restoreTempName() string {
	return fmt.Sprintf("%s%016x%s", restoreTempPrefix, rand.Uint64(), restoreTempSuffix)
}

// IsRestoreTemp reports whether name (a base name) is that of a
// restore's temporary file, which a capture never records: a watcher
// may forget such a file once it is renamed into place.
func IsRestoreTemp(name string) bool { return isRestoreTemp(name) }

func isRestoreTemp(name string) bool {
	hex, ok := strings.CutPrefix(name, restoreTempPrefix)
	if !ok {
		return false
	}
	hex, ok = strings.CutSuffix(hex, restoreTempSuffix)
	return ok && len(hex) == 16 && isLowerHex(hex)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
