package worktree

import (
	"slices"

	"github.com/processfork/pf/manifest"
)

// ChangeKind is how an entry differs between two trees.
type ChangeKind int

const (
	Added       ChangeKind = iota + 1 // only in the second tree
	Removed                           // only in the first tree
	Changed                           // in both, with other content, kind or link target (the mode may differ too)
	ModeChanged                       // in both, the same but for the mode
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Changed:
		return "changed"
	case ModeChanged:
		return "mode-changed"
	}
	return "unknown"
}

// A Change is one path that differs between two trees. Old is the entry
// in the first tree and New in the second; the one that is absent is the
// zero Entry.
type Change struct {
	Path     string
	Kind     ChangeKind
	Old, New manifest.Entry
}

// BytesAdded and BytesRemoved are a change's byte counts, for a --stat
// listing: an added entry adds its size, a removed one removes its size,
// and a changed one removes the old size and adds the new (content
// changes are not diffed inside a file: a blob is a blob).
func (c Change) BytesAdded() int64 {
	if c.Kind == Added || c.Kind == Changed {
		return c.New.Size
	}
	return 0
}

func (c Change) BytesRemoved() int64 {
	if c.Kind == Removed || c.Kind == Changed {
		return c.Old.Size
	}
	return 0
}

// DiffTrees lists the paths that differ from tree a to tree b, in the
// order of manifest.ComparePaths. Directories count like any entry: an added directory is listed,
// and so are the entries under it.
func DiffTrees(a, b *manifest.Tree) []Change {
	return diffEntries(sortedEntries(a), sortedEntries(b), nil, nil)
}

// diffEntries is DiffTrees of entries in the order of
// manifest.ComparePaths, of the entries of ea that visible keeps (nil:
// all): it is given each entry of ea and the entry of eb at the same
// path, nil if eb has none. An entry of eb whose path has no visible
// entry of ea is added. unmet (nil: none) tells entries of ea that eb
// lacks and that visible would not keep: they are passed over without
// a comparison of paths, most of a served status's base tree.
func diffEntries(ea, eb []manifest.Entry, visible func(e, met *manifest.Entry) bool, unmet func(e *manifest.Entry) bool) []Change {
	var changes []Change
	i, j := 0, 0
	for i < len(ea) || j < len(eb) {
		if unmet != nil && i < len(ea) && unmet(&ea[i]) {
			i++
			continue
		}
		order := 0
		switch {
		case i == len(ea):
			order = 1
		case j == len(eb):
			order = -1
		case ea[i].Path == eb[j].Path:
			// Most entries of two trees are at the same paths: a
			// comparison of bytes costs less than ComparePaths' order.
		default:
			order = manifest.ComparePaths(ea[i].Path, eb[j].Path)
		}
		switch {
		case order < 0:
			if visible == nil || visible(&ea[i], nil) {
				changes = append(changes, Change{Path: ea[i].Path, Kind: Removed, Old: ea[i]})
			}
			i++
		case order > 0 || (visible != nil && !visible(&ea[i], &eb[j])):
			changes = append(changes, Change{Path: eb[j].Path, Kind: Added, New: eb[j]})
			if order == 0 {
				i++
			}
			j++
		default:
			old, cur := ea[i], eb[j]
			switch {
			case old.Kind != cur.Kind || old.Blob != cur.Blob || old.Size != cur.Size || old.LinkTarget != cur.LinkTarget:
				changes = append(changes, Change{Path: old.Path, Kind: Changed, Old: old, New: cur})
			case old.Mode != cur.Mode:
				changes = append(changes, Change{Path: old.Path, Kind: ModeChanged, Old: old, New: cur})
			}
			i++
			j++
		}
	}
	return changes
}

// sortedEntries returns t's entries in the order of manifest.ComparePaths,
// as DecodeTree returns them; only a tree built in memory needs the copy.
func sortedEntries(t *manifest.Tree) []manifest.Entry {
	if t == nil {
		return nil
	}
	cmp := func(x, y manifest.Entry) int { return manifest.ComparePaths(x.Path, y.Path) }
	if slices.IsSortedFunc(t.Entries, cmp) {
		return t.Entries
	}
	e := slices.Clone(t.Entries)
	slices.SortFunc(e, cmp)
	return e
}
