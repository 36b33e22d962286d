package manifest

import (
	"cmp"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TreeKind is the "kind" of the world.fs blob that the store looks inside.
const TreeKind = "fs.tree.v1"

// EntryKind is the type of a file-system tree entry.
type EntryKind string

// The entry kinds of fs.tree.v1.
const (
	KindFile    EntryKind = "file"
	KindDir     EntryKind = "dir"
	KindSymlink EntryKind = "symlink"
)

// ModeMask is the part of an fs.FileMode that a tree entry records: the
// permission bits and setuid, setgid and sticky, which the four octal
// digits of "mode" hold. The entry's kind records the file type, so
// Tree.Encode refuses modes with other bits (such as fs.ModeDir) set;
// mask a mode from fs.FileInfo with ModeMask first.
const ModeMask = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// An Entry is one file, directory or symbolic link of a tree.
type Entry struct {
	Path       string      // relative and '/'-separated, without "." or ".." segments
	Mode       fs.FileMode // only the bits in ModeMask
	Size       int64
	Kind       EntryKind
	Blob       Digest // the file's bytes, or a symlink's target text; zero for a directory
	LinkTarget string // symlinks only
}

// A Tree is the world.fs layer: every entry of a file system, by path.
type Tree struct {
	Entries []Entry
}

// ComparePaths orders tree paths as fs.tree.v1 lists them: component by
// component, each component byte by byte, which is the order of Rust's
// Path::cmp that the reference sorts its trees by. A directory's entries
// come right after it, before a sibling whose name extends the
// directory's with a byte below '/' such as '-' or '.': "a", "a/x",
// "a-b", "a.txt". (Whole strings in byte order would put "a-b" and
// "a.txt" before "a/x", and give the same directory another digest.)
// It returns -1, 0 or +1.
func ComparePaths(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return cmp.Compare(len(a), len(b))
	}
	// The first difference: a separator ends its component, which is then
	// a prefix of the other's and so sorts first.
	switch {
	case a[i] == '/':
		return -1
	case b[i] == '/':
		return +1
	}
	return cmp.Compare(a[i], b[i])
}

// Encode validates t and returns its canonical encoding, entries sorted by
// path in the order of ComparePaths:
//
//	{"kind":"fs.tree.v1","entries":[{"path":..,"mode":"0644","size":N,"kind":"file","blob":"sha256:.."},...]}
//
// A directory has no blob, and only a symlink has a link_target. t is not
// modified. Errors wrap ErrInvalidTree and name the entry's path.
func (t *Tree) Encode() ([]byte, error) {
	entries, err := t.checkedEntries()
	if err != nil {
		return nil, err
	}
	return encodeEntries(entries, nil), nil
}

// treeHead and treeTail enclose an encoding's entries.
const (
	treeHead = `{"kind":"fs.tree.v1","entries":[`
	treeTail = "]}"
)

// encodeEntries encodes checked and sorted entries, noting in starts,
// when it is not nil, where each entry's object begins.
func encodeEntries(entries []Entry, starts []int) []byte {
	// One allocation: an entry's fixed part and a digest take about 140
	// bytes, then its path (and a link's target), escapes aside.
	n := 64
	for i := range entries {
		n += 140 + len(entries[i].Path) + len(entries[i].LinkTarget)
	}
	b := make([]byte, 0, n)
	b = append(b, treeHead...)
	for i := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		if starts != nil {
			starts[i] = len(b)
		}
		b = appendEntry(b, &entries[i])
	}
	return append(b, treeTail...)
}

// appendEntry appends e's object to b.
func appendEntry(b []byte, e *Entry) []byte {
	b = append(b, `{"path":`...)
	b = appendString(b, e.Path)
	b = append(b, `,"mode":"`...)
	b = appendMode(b, e.Mode)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, e.Size, 10)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(e.Kind))
	if e.Kind != KindDir {
		b = append(b, `,"blob":`...)
		b = appendDigest(b, e.Blob)
	}
	if e.Kind == KindSymlink {
		b = append(b, `,"link_target":`...)
		b = appendString(b, e.LinkTarget)
	}
	return append(b, '}')
}

// checkedEntries checks t's entries and returns them sorted: t's own
// when they are, else a sorted copy.
func (t *Tree) checkedEntries() ([]Entry, error) {
	entries := t.Entries
	sorted, err := checkEntries(entries)
	if !sorted {
		entries = slices.Clone(entries)
		slices.SortFunc(entries, compareEntries)
		_, err = checkEntries(entries)
	}
	return entries, err
}

// checkEntries checks entries in one pass, as Encode lists them, and
// whether they are in that order: err is the first problem in that order,
// and means nothing when sorted is false.
func checkEntries(entries []Entry) (sorted bool, err error) {
	for i := range entries {
		e := &entries[i]
		if err == nil {
			if problem := e.check(); problem != nil {
				err = fmt.Errorf("%w: entry %s: %w", ErrInvalidTree, quote(e.Path), problem)
			}
		}
		if i == 0 {
			continue
		}
		switch ComparePaths(entries[i-1].Path, e.Path) {
		case +1:
			return false, nil
		case 0:
			if err == nil {
				err = fmt.Errorf("%w: entry %s: duplicate path", ErrInvalidTree, quote(e.Path))
			}
		}
	}
	return true, err
}

func compareEntries(a, b Entry) int { return ComparePaths(a.Path, b.Path) }

// Sort sorts t's entries as Encode lists them.
func (t *Tree) Sort() { slices.SortFunc(t.Entries, compareEntries) }

// check reports what is wrong with e, if anything. A zero Blob stands for
// an absent one: no file has the all-zero SHA-256.
func (e *Entry) check() error {
	if problem := pathProblem(e.Path); problem != "" {
		return fmt.Errorf("path: %s", problem)
	}
	if e.Mode&^ModeMask != 0 {
		return fmt.Errorf("mode %v has bits outside permissions, setuid, setgid and sticky", e.Mode)
	}
	if e.Size < 0 {
		return fmt.Errorf("size: negative (%d)", e.Size)
	}
	switch e.Kind {
	case KindFile, KindSymlink:
		if e.Blob.IsZero() {
			return fmt.Errorf("%s without blob", e.Kind)
		}
	case KindDir:
		if !e.Blob.IsZero() {
			return fmt.Errorf("dir with blob %s", e.Blob)
		}
	default:
		return fmt.Errorf("kind: unknown kind %s", quote(string(e.Kind)))
	}
	if e.Kind == KindSymlink {
		switch {
		case e.LinkTarget == "":
			return fmt.Errorf("symlink without link_target")
		case strings.IndexByte(e.LinkTarget, 0) >= 0:
			return fmt.Errorf("link_target: %s contains NUL", quote(e.LinkTarget))
		case !utf8.ValidString(e.LinkTarget):
			return fmt.Errorf("link_target: %s is not valid UTF-8", quote(e.LinkTarget))
		}
	} else if e.LinkTarget != "" {
		return fmt.Errorf("%s with link_target %s", e.Kind, quote(e.LinkTarget))
	}
	return nil
}

// pathProblem says what is wrong with a tree path, or "" when nothing is.
// A path that climbs out of the tree or names the same file two ways would
// let a restore write outside its root or make sorting meaningless.
func pathProblem(p string) string {
	switch {
	case p == "":
		return "empty"
	case p[0] == '/':
		return "absolute"
	}
	// One pass over the bytes, for trees of 100,000 paths 20 levels deep:
	// a NUL anywhere comes first, then invalid UTF-8, then the first bad
	// segment.
	segment, ascii, start := "", true, 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= '0' && c < utf8.RuneSelf {
			continue // neither NUL, '/', '.' nor the start of a rune
		}
		switch {
		case c == 0:
			return "contains NUL"
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '/':
			if segment == "" {
				segment = segmentProblem(p[start:i])
			}
			start = i + 1
		}
	}
	if segment == "" {
		segment = segmentProblem(p[start:])
	}
	if !ascii && !utf8.ValidString(p) {
		return "not valid UTF-8"
	}
	return segment
}

func segmentProblem(seg string) string {
	switch seg {
	case "":
		return "empty segment"
	case ".":
		return `"." segment`
	case "..":
		return `".." segment`
	}
	return ""
}

// appendMode appends the four octal digits of a mode: setuid (4), setgid
// (2) and sticky (1) first, then the permission bits.
func appendMode(b []byte, m fs.FileMode) []byte {
	special := byte(0)
	if m&fs.ModeSetuid != 0 {
		special |= 4
	}
	if m&fs.ModeSetgid != 0 {
		special |= 2
	}
	if m&fs.ModeSticky != 0 {
		special |= 1
	}
	perm := m & fs.ModePerm
	return append(b, '0'+special, '0'+byte(perm>>6&7), '0'+byte(perm>>3&7), '0'+byte(perm&7))
}

// parseMode reads a mode as the reference does (pf-world's apply_mode):
// octal digits, of which the low twelve bits count. appendMode writes four
// digits; the reference's tests write six, with the file type in the high
// bits ("100644"), which the entry's kind says instead. It takes 1 to 7
// digits.
func parseMode(s string) (fs.FileMode, bool) {
	if len(s) == 0 || len(s) > 7 {
		return 0, false
	}
	var n uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n<<3 | uint32(c-'0')
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, true
}

// DecodeTree reads an fs.tree.v1 blob strictly: kind fs.tree.v1, every
// path relative, clean and listed once, size not negative, a known kind, a
// blob exactly for files and symlinks and a link_target exactly for
// symlinks. It is lenient where the reference's own code is: mode is
// octal digits of which the low twelve bits count ("0644", or "100644" as
// the reference's tests write), and an entry without mode and kind, as
// the reference's synthetic fixture writes them ({"blob","path","size"}),
// is a regular file; a missing mode is 0644 for a file, 0755 for a
// directory and 0777 for a symlink. Unknown keys are ignored. The entries
// may come in any order (the reference and Encode write ComparePaths
// order, earlier versions of pf wrote byte order); the Tree has them in
// ComparePaths order. There is no size limit beyond the input's, but
// nesting is bounded. Errors wrap ErrInvalidTree and name the entry by
// index and, once known, path.
func DecodeTree(b []byte) (*Tree, error) {
	t, err := decodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTree, err)
	}
	return t, nil
}

var (
	treeKeys  = keySet{required: []string{"kind", "entries"}}
	entryKeys = keySet{
		required: []string{"path", "size"},
		optional: []string{"mode", "kind", "blob", "link_target"},
	}
)

func decodeTree(b []byte) (*Tree, error) {
	r := newReader(b)
	t := new(Tree)
	sorted := true
	err := r.document(&treeKeys, func(key string, at loc) error {
		switch key {
		case "kind":
			s, err := r.rawString(at)
			if err == nil && !s.is(TreeKind) {
				err = fmt.Errorf("%s: %s, want %q", at, quote(s.String()), TreeKind)
			}
			return err
		default: // "entries"
			return r.array(at, func(i int, at loc) error {
				e, err := r.entry(at)
				if err != nil {
					return err
				}
				if i > 0 && sorted {
					switch ComparePaths(t.Entries[i-1].Path, e.Path) {
					case 0:
						return fmt.Errorf("%s %s: duplicate path", at, quote(e.Path))
					case +1:
						sorted = false
					}
				}
				if i == 0 {
					// An encoded entry takes at least about 100 bytes
					// (a file's 150): room for all, allocated once,
					// at most the input's size again.
					t.Entries = make([]Entry, 0, len(b)/100+1)
				}
				t.Entries = append(t.Entries, e)
				return nil
			})
		}
	})
	if err != nil {
		return nil, err
	}
	if !sorted {
		t.Sort()
		for i := 1; i < len(t.Entries); i++ {
			if p := t.Entries[i].Path; p == t.Entries[i-1].Path {
				return nil, fmt.Errorf("entries: %s: duplicate path", quote(p))
			}
		}
	}
	return t, nil
}

// entry reads one tree entry at at.
func (r *reader) entry(at loc) (Entry, error) {
	var (
		e                                    Entry
		mode                                 rawString
		hasMode, hasKind, hasBlob, hasTarget bool
	)
	err := r.object(at, &entryKeys, func(key string, at loc) (err error) {
		switch key {
		case "path":
			e.Path, err = r.string(at)
		case "mode":
			hasMode = true
			mode, err = r.rawString(at)
		case "size":
			e.Size, err = r.nonNegative(at)
		case "kind":
			hasKind = true
			var s rawString
			s, err = r.rawString(at)
			e.Kind = EntryKind(s.intern(string(KindFile), string(KindDir), string(KindSymlink)))
		case "blob":
			hasBlob = true
			e.Blob, err = r.digest(at)
		case "link_target":
			hasTarget = true
			e.LinkTarget, err = r.string(at)
		}
		return err
	})
	if err != nil {
		return e, err
	}
	// where names the entry in errors about it as a whole.
	where := func() string { return at.String() + " " + quote(e.Path) }
	if !hasKind {
		e.Kind = KindFile
	}
	switch {
	case hasMode:
		m, ok := parseMode(string(mode.unquoted()))
		if !ok {
			return e, fmt.Errorf("%s: mode %s: want octal digits, such as \"0644\"", where(), quote(mode.String()))
		}
		e.Mode = m
	case e.Kind == KindDir:
		e.Mode = 0o755
	case e.Kind == KindSymlink:
		e.Mode = 0o777
	default:
		e.Mode = 0o644
	}
	if err := e.check(); err != nil {
		return e, fmt.Errorf("%s: %w", where(), err)
	}
	// Presence, not only value: "blob":"sha256:000..." on a dir, or
	// "link_target":"" on a file, is still a key that does not belong.
	switch {
	case hasBlob && e.Kind == KindDir:
		return e, fmt.Errorf("%s: dir with blob", where())
	case hasTarget && e.Kind != KindSymlink:
		return e, fmt.Errorf("%s: %s with link_target", where(), e.Kind)
	}
	return e, nil
}

// IsTree reports whether b looks like an fs.tree.v1 blob: a JSON object
// whose "kind" is "fs.tree.v1". It reads only as far as the kind, so it is
// cheap on large trees and says nothing about whether the rest is valid.
func IsTree(b []byte) bool {
	return hasKind(b, TreeKind)
}
