package worktree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/proc"
	"github.com/processfork/pf/manifest"
)

// ErrUnsafeEntry marks a tree entry that Checkout and Restore refuse to
// restore because it would land outside the target directory.
var ErrUnsafeEntry = errors.New("unsafe tree entry")

// CheckoutOptions tune Checkout.
type CheckoutOptions struct {
	// AllowOutsideSymlinks restores symbolic links whose targets are
	// absolute or lead out of the tree (--allow-outside-symlinks), which
	// are otherwise skipped with a warning. Such a link is harmless to
	// write, as nothing is ever written through it, but whoever uses the
	// tree afterwards would follow it out.
	AllowOutsideSymlinks bool
	// Workers bounds how many files are written at once; 0 means a
	// default suited to the machine.
	Workers int
	// Warn, if set, hears of entries left out: links that lead out of the
	// tree, and a .pfcid entry at the root, whose name Checkout keeps for
	// the image id.
	Warn func(path string, err error)
	// Progress, if set, is called about every ProgressInterval, and once
	// at the end with Done set.
	Progress func(Progress)
}

// blobSource is where Checkout reads blobs: the store's blob store, which
// verifies every byte it returns.
type blobSource interface {
	Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error)
}

// LoadTree returns the fs.tree.v1 tree of an image. An image whose world
// layer is the empty blob (no world captured) has an empty tree. A tree
// blob that is missing or does not parse is store damage: the error wraps
// pf.ErrCorrupt.
func LoadTree(ctx context.Context, s *pf.Store, image manifest.Digest) (*manifest.Tree, error) {
	img, err := s.Image(ctx, image)
	if err != nil {
		return nil, err
	}
	return decodeTreeOf(ctx, s, image, img.Manifest.World.FS)
}

// Checkout rebuilds the tree of image at into, which must not exist (its
// parent must) or be an empty directory. It builds the tree in a staging
// directory beside into and renames it into place, so that a failure, a
// refused entry or a corrupt blob included, leaves nothing behind; the
// staging directories of checkouts killed outright are removed first,
// once their process is gone. Every entry is checked before
// anything is written: see ErrUnsafeEntry; links that lead out of the
// tree are skipped and warned of (OutsideLinkError) unless
// opts.AllowOutsideSymlinks. Files get their recorded
// modes, symbolic links their targets (never followed), and into/.pfcid
// the image id. Blobs are verified as they are written: a corrupt or
// missing one fails with an error wrapping pf.ErrCorrupt.
func Checkout(ctx context.Context, s *pf.Store, image manifest.Digest, into string, opts CheckoutOptions) error {
	tree, err := LoadTree(ctx, s, image)
	if err != nil {
		return err
	}
	return checkoutTree(ctx, s.Blobs(), tree, image, into, opts)
}

// checkoutPlan is a tree checked for checkout: its entries in the order
// of manifest.ComparePaths, the directories it only implies among them.
// A restore compares them with a directory as they are; a checkout writes
// them by kind (see byKind).
type checkoutPlan struct {
	sorted   []manifest.Entry // with the implicit parents of entries, mode 0755
	implicit map[string]bool  // the directories the tree only implies
	skipped  []string         // links left out: they lead out of the tree
	// exact says sorted is the tree's entries, no more, no fewer: none
	// implied, none left out.
	exact bool
}

// byKind returns the plan's entries in the order of writing: directories
// (parents first), files, then symbolic links, last so that no write can
// pass through one even if a check above were wrong. A restore, which
// plans from sorted alone, does not pay for these copies of a large tree.
func (p *checkoutPlan) byKind() (dirs, files, links []manifest.Entry) {
	var nDirs, nLinks int
	for _, e := range p.sorted {
		switch e.Kind {
		case manifest.KindDir:
			nDirs++
		case manifest.KindSymlink:
			nLinks++
		}
	}
	dirs = make([]manifest.Entry, 0, nDirs)
	files = make([]manifest.Entry, 0, len(p.sorted)-nDirs-nLinks)
	links = make([]manifest.Entry, 0, nLinks)
	for _, e := range p.sorted {
		switch e.Kind {
		case manifest.KindDir:
			dirs = append(dirs, e)
		case manifest.KindSymlink:
			links = append(links, e)
		default:
			files = append(files, e)
		}
	}
	return dirs, files, links
}

// An OutsideLinkError is a symbolic link of a tree whose target is
// absolute or leads out of the tree: Checkout and Restore skip it unless
// allowed (AllowOutsideSymlinks).
type OutsideLinkError struct {
	Target string
}

func (e *OutsideLinkError) Error() string {
	return fmt.Sprintf("symbolic link to %q, outside the tree (--allow-outside-symlinks creates it)", e.Target)
}

// maxLinkHops bounds how many of the tree's own links a target is followed
// through, as the kernel bounds symlink resolution (Linux's MAXSYMLINKS).
const maxLinkHops = 40

func planCheckout(tree *manifest.Tree, opts CheckoutOptions) (*checkoutPlan, error) {
	// A decoded tree is sorted already: checked, it need not be copied.
	entries := tree.Entries
	if !slices.IsSortedFunc(entries, byPath) {
		entries = slices.Clone(entries)
		slices.SortFunc(entries, byPath)
	}
	kinds := make(map[string]manifest.EntryKind, len(entries))
	links := map[string]string{}
	for _, e := range entries {
		if problem := unsafePath(e.Path); problem != "" {
			return nil, unsafeEntry(e.Path, problem)
		}
		if leftOut(e.Path) {
			if opts.Warn != nil {
				opts.Warn(e.Path, errors.New("left out: the name is kept for the image id"))
			}
			continue
		}
		if _, dup := kinds[e.Path]; dup {
			return nil, unsafeEntry(e.Path, "appears twice")
		}
		kinds[e.Path] = e.Kind
		if e.Kind == manifest.KindSymlink {
			links[e.Path] = e.LinkTarget
		}
	}
	implicit := map[string]bool{}
	var implied []manifest.Entry
	// Made at its full size: grown entry by entry, the list of a tree of
	// 10,000 entries is copied a dozen times.
	plan := &checkoutPlan{implicit: implicit, sorted: make([]manifest.Entry, 0, len(entries))}
	for _, e := range entries {
		if leftOut(e.Path) {
			continue
		}
		// Every parent must be a directory: one of the tree's, or one to
		// make. A parent that is a link would carry the write elsewhere.
		// They are looked at from the nearest up, to the first that is
		// checked already: a directory of the tree, whose own parents are
		// checked as an entry, or one to make, whose parents were checked
		// when it was first met. Each is then looked at about once, not
		// once for every entry under it (a tree 20 deep, of 100,000
		// files, made 2 million lookups of long paths).
	parents:
		for i := strings.LastIndexByte(e.Path, '/'); i >= 0; i = strings.LastIndexByte(e.Path[:i], '/') {
			parent := e.Path[:i]
			switch kind, ok := kinds[parent]; {
			case !ok:
				if implicit[parent] {
					break parents
				}
				implicit[parent] = true
				implied = append(implied, manifest.Entry{Path: parent, Mode: 0o755, Kind: manifest.KindDir})
			case kind == manifest.KindSymlink:
				return nil, unsafeEntry(e.Path, fmt.Sprintf("goes through the symbolic link %q", parent))
			case kind != manifest.KindDir:
				return nil, unsafeEntry(e.Path, fmt.Sprintf("its parent %q is a %s", parent, kind))
			default:
				break parents
			}
		}
		switch e.Kind {
		case manifest.KindDir, manifest.KindFile:
		case manifest.KindSymlink:
			if manifest.Sum([]byte(e.LinkTarget)) != e.Blob {
				return nil, fmt.Errorf("entry %q: %w: link_target does not hash to its blob %s", e.Path, pf.ErrCorrupt, e.Blob.Short())
			}
			if !opts.AllowOutsideSymlinks && (isAbsTarget(e.LinkTarget) || linkEscapes(links, e.Path, e.LinkTarget)) {
				if opts.Warn != nil {
					opts.Warn(e.Path, fmt.Errorf("%w: %w", ErrSkipped, &OutsideLinkError{Target: e.LinkTarget}))
				}
				plan.skipped = append(plan.skipped, e.Path)
				continue
			}
		default:
			return nil, unsafeEntry(e.Path, fmt.Sprintf("unknown kind %q", e.Kind))
		}
		plan.sorted = append(plan.sorted, e)
	}
	plan.exact = len(implied) == 0 && len(plan.sorted) == len(tree.Entries)
	if len(implied) > 0 {
		plan.sorted = append(plan.sorted, implied...)
		slices.SortFunc(plan.sorted, byPath)
	}
	return plan, nil
}

// leftOut reports whether a tree path is one a checkout or restore never
// writes: the name kept for the image id.
func leftOut(path string) bool { return path == CIDFile || isCIDTemp(path) }

func byPath(a, b manifest.Entry) int { return manifest.ComparePaths(a.Path, b.Path) }

func unsafeEntry(path, problem string) error {
	return fmt.Errorf("entry %q: %w: %s", path, ErrUnsafeEntry, problem)
}

// unsafePath says why a tree path may not be written under the target
// directory, or "" if it may. manifest.DecodeTree refuses such paths
// already; Checkout checks again because it is the one place where a
// wrong path writes outside, and for what the local file system treats
// specially (a backslash or a drive letter on Windows).
func unsafePath(p string) string {
	switch {
	case p == "":
		return "empty path"
	case strings.HasPrefix(p, "/"):
		return "absolute path"
	case strings.IndexByte(p, 0) >= 0:
		return "path contains NUL"
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return "empty path segment"
		case ".", "..":
			return fmt.Sprintf("%q segment", seg)
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(p)) || (filepath.Separator != '/' && strings.ContainsAny(p, `\:`)) {
		return "not a local path on this system"
	}
	return ""
}

func isAbsTarget(t string) bool {
	return strings.HasPrefix(t, "/") || filepath.IsAbs(t) || filepath.VolumeName(t) != "" ||
		(filepath.Separator != '/' && strings.HasPrefix(t, `\`))
}

// linkEscapes reports whether the link at linkPath, pointing at target
// (relative), resolves outside the tree. It resolves as the kernel would,
// but within the tree: through the tree's own links (links maps their
// paths to targets), ".." climbing from where the path has got to. A
// cycle longer than maxLinkHops never resolves, so it does not escape.
func linkEscapes(links map[string]string, linkPath, target string) bool {
	var dir []string
	if i := strings.LastIndexByte(linkPath, '/'); i >= 0 {
		dir = strings.Split(linkPath[:i], "/")
	}
	pending := targetSegments(target)
	for hops := 0; len(pending) > 0; {
		seg := pending[0]
		pending = pending[1:]
		switch seg {
		case "", ".":
			continue
		case "..":
			if len(dir) == 0 {
				return true
			}
			dir = dir[:len(dir)-1]
			continue
		}
		next := append(dir[:len(dir):len(dir)], seg)
		if t, ok := links[strings.Join(next, "/")]; ok {
			if hops++; hops > maxLinkHops {
				return false
			}
			if isAbsTarget(t) {
				return true
			}
			// The link's target replaces it, from the link's directory.
			pending = append(targetSegments(t), pending...)
			continue
		}
		dir = next
	}
	return false
}

func targetSegments(t string) []string {
	if filepath.Separator != '/' {
		t = strings.ReplaceAll(t, `\`, "/")
	}
	return strings.Split(t, "/")
}

func checkoutTree(ctx context.Context, blobs blobSource, tree *manifest.Tree, image manifest.Digest, into string, opts CheckoutOptions) (err error) {
	// The destination first: a missing parent is the error to report, not
	// a warning or a refusal about the tree that could never be written.
	dest, emptyDir, err := checkDestination(into)
	if err != nil {
		return err
	}
	plan, err := planCheckout(tree, opts)
	if err != nil {
		return err
	}
	parent := filepath.Dir(dest)
	removeStaleStaging(parent)
	staging, err := mkdirStaging(parent, filepath.Base(dest))
	if err != nil {
		return fmt.Errorf("checkout into %s: %w", into, err)
	}
	defer func() {
		if err != nil {
			removeStaging(staging)
		}
	}()

	dirs, files, links := plan.byKind()
	for _, d := range dirs {
		// Owner-writable until the end, whatever the recorded mode.
		if err := os.Mkdir(filepath.Join(staging, filepath.FromSlash(d.Path)), 0o700); err != nil {
			return fmt.Errorf("checkout into %s: entry %q: %w", into, d.Path, err)
		}
	}
	if err := writeFiles(ctx, blobs, staging, files, opts); err != nil {
		return fmt.Errorf("checkout into %s: %w", into, err)
	}
	for _, l := range links {
		if err := os.Symlink(l.LinkTarget, filepath.Join(staging, filepath.FromSlash(l.Path))); err != nil {
			return fmt.Errorf("checkout into %s: entry %q: %w", into, l.Path, err)
		}
	}
	if err := WriteCID(staging, image); err != nil {
		return fmt.Errorf("checkout into %s: %w", into, err)
	}
	// Children before parents, so that a read-only directory is filled
	// before it becomes read-only.
	for _, d := range slices.Backward(dirs) {
		if err := os.Chmod(filepath.Join(staging, filepath.FromSlash(d.Path)), d.Mode); err != nil {
			return fmt.Errorf("checkout into %s: entry %q: %w", into, d.Path, err)
		}
	}
	if emptyDir != nil {
		err = replaceEmptyDir(staging, dest, emptyDir)
	} else {
		err = renameNoReplace(staging, dest)
	}
	if err != nil {
		return fmt.Errorf("checkout into %s: %w", into, err)
	}
	return nil
}

// checkDestination checks that a checkout may make into: it must not
// exist, or be an empty directory (returned as emptyDir, which the
// checkout replaces), and its parent must be a directory. It returns
// into's absolute form: messages name into as given, the work uses dest.
func checkDestination(into string) (dest string, emptyDir fs.FileInfo, err error) {
	dest, err = filepath.Abs(into)
	if err != nil {
		return "", nil, err
	}
	if fi, err := os.Lstat(dest); err == nil {
		if !isEmptyDir(dest, fi) {
			return "", nil, fmt.Errorf("checkout into %s: %w: checkout makes a new directory or fills an empty one", into, fs.ErrExist)
		}
		emptyDir = fi
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("checkout into %s: %w", into, err)
	}
	parent := filepath.Dir(dest)
	if fi, err := os.Stat(parent); err != nil {
		return "", nil, fmt.Errorf("checkout into %s: parent directory: %w", into, err)
	} else if !fi.IsDir() {
		return "", nil, fmt.Errorf("checkout into %s: parent %s is not a directory", into, parent)
	}
	return dest, emptyDir, nil
}

// isEmptyDir reports whether fi, at path, is a directory (not a link to
// one) with nothing in it.
func isEmptyDir(path string, fi fs.FileInfo) bool {
	if !fi.IsDir() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && errors.Is(err, io.EOF)
}

// replaceEmptyDir renames the staging directory over the empty directory
// dest, which keeps its mode (see replaceDir).
func replaceEmptyDir(staging, dest string, fi fs.FileInfo) error {
	if err := os.Chmod(staging, fi.Mode().Perm()); err != nil {
		return err
	}
	return replaceDir(staging, dest)
}

// writeFiles writes the plan's files on a pool of workers, each blob
// verified by the blob store as it streams.
func writeFiles(ctx context.Context, blobs blobSource, staging string, files []manifest.Entry, opts CheckoutOptions) error {
	return writeEach(ctx, opts.Workers, opts.Progress, files, func(ctx context.Context, e manifest.Entry, wrote func(int64)) error {
		_, err := writeFile(ctx, blobs, filepath.Join(staging, filepath.FromSlash(e.Path)), e, wrote)
		return err
	})
}

// progressWriter reports the bytes written through it as they go.
type progressWriter struct {
	w     io.Writer
	wrote func(int64)
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.wrote(int64(n))
	return n, err
}

// writeFile writes entry e at path from its blob, reporting the bytes to
// wrote as they are written.
func writeFile(ctx context.Context, blobs blobSource, path string, e manifest.Entry, wrote func(int64)) (n int64, err error) {
	f, err := createExclusive(path)
	if err != nil {
		return 0, fmt.Errorf("entry %q: %w", e.Path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("entry %q: %w", e.Path, cerr)
		}
	}()
	if e.Blob != manifest.EmptyDigest || e.Size != 0 {
		r, err := blobs.Open(ctx, e.Blob)
		if errors.Is(err, pf.ErrNotFound) {
			err = fmt.Errorf("%w: %w", pf.ErrCorrupt, err)
		}
		if err != nil {
			return 0, fmt.Errorf("entry %q: blob %s: %w", e.Path, e.Blob.Short(), err)
		}
		n, err = io.Copy(progressWriter{f, wrote}, r)
		r.Close()
		if err != nil {
			return n, fmt.Errorf("entry %q: %w", e.Path, err)
		}
		if n != e.Size {
			return n, fmt.Errorf("entry %q: %w: the tree says %d bytes, blob %s has %d", e.Path, pf.ErrCorrupt, e.Size, e.Blob.Short(), n)
		}
	}
	if err := f.Chmod(e.Mode); err != nil {
		return n, fmt.Errorf("entry %q: %w", e.Path, err)
	}
	return n, nil
}

// A staging directory is named ".BASE.pf-checkout-PID-RAND": hidden,
// beside the target BASE, with the id of the process that made it and 8
// random hex digits. The pid lets a later checkout into the same parent
// tell a staging directory whose pf was killed (SIGKILL, a power cut)
// from one still being filled, and the whole form tells it from anything
// pf did not make.
const stagingMarker = ".pf-checkout-"

// mkdirStaging makes the staging directory beside the target, hidden,
// with the mode a plain mkdir would give (the umask applies), since it
// becomes the target.
func mkdirStaging(parent, base string) (string, error) {
	for range 100 {
		dir := filepath.Join(parent, fmt.Sprintf(".%s%s%d-%08x", base, stagingMarker, os.Getpid(), rand.Uint32()))
		err := os.Mkdir(dir, 0o777)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free staging directory name in %s", parent)
}

// stagingPID returns the process id in a staging directory's name, or
// false if name is not one that mkdirStaging makes.
func stagingPID(name string) (int, bool) {
	i := strings.LastIndex(name, stagingMarker)
	if !strings.HasPrefix(name, ".") || i <= 1 {
		return 0, false
	}
	pid, random, ok := strings.Cut(name[i+len(stagingMarker):], "-")
	if !ok || len(random) != 8 || !isLowerHex(random) || pid == "" || pid[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 || strconv.Itoa(n) != pid {
		return 0, false
	}
	return n, true
}

// removeStaleStaging removes the staging directories in parent that a
// checkout killed outright left behind: directories (never links) named
// as mkdirStaging names them whose process is gone. Those of this process
// and of any live one are being filled and stay; anything else stays too.
// It is best effort: what it cannot read or remove stays as it was.
func removeStaleStaging(parent string) {
	des, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, de := range des {
		pid, ok := stagingPID(de.Name())
		if !ok || de.Type() != fs.ModeDir || pid == os.Getpid() || proc.Alive(pid) {
			continue
		}
		removeStaging(filepath.Join(parent, de.Name()))
	}
}

// removeStaging deletes a staging directory, first making each directory
// in it writable again (a failure may come after modes were set).
func removeStaging(dir string) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}

// renameIfAbsent renames oldpath to newpath unless newpath exists; there
// is a window between the check and the rename, which renameNoReplace
// closes where the system can.
func renameIfAbsent(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}

// isCIDTemp reports whether a root entry is a temporary file of WriteCID.
func isCIDTemp(name string) bool {
	return strings.HasPrefix(name, CIDFile+".tmp-") && !strings.Contains(name, "/")
}
