package worktree

import (
	"slices"
	"strings"

	"github.com/processfork/pf/manifest"
)

// sortWalked sorts the entries of a walk in the order of
// manifest.ComparePaths. A walk lists directories in no order (several
// goroutines read them), but every directory it enters is one of its
// entries: the entries are grouped by directory, each directory's names
// sorted on their own, and the groups laid out depth first, a
// directory's right after its own entry. Names compare byte by byte
// within a directory as ComparePaths compares whole paths, and short
// names sort faster than long paths: a tree of 11,500 files sorts in a
// fraction of a full sort's time. Entries whose directory is not among
// them (a tree not made by a walk) are sorted as a whole instead.
func sortWalked(entries []manifest.Entry) {
	if len(entries) < 2 {
		return
	}
	// Each entry's name, sliced from its path once: a sort asks for it
	// at every comparison. Its directory is numbered by a map, looked up
	// only where the directory differs from the last entry's: a walk
	// adds a directory's files together.
	names := make([]string, len(entries))
	group := make([]int32, len(entries))
	ids := make(map[string]int32, len(entries)/4+1)
	var sizes []int32
	lastDir, lastID := "", int32(-1)
	for i := range entries {
		p, dir := entries[i].Path, ""
		j := strings.LastIndexByte(p, '/')
		if j >= 0 {
			dir = p[:j]
		}
		names[i] = p[j+1:]
		if lastID < 0 || dir != lastDir {
			id, ok := ids[dir]
			if !ok {
				id = int32(len(sizes))
				ids[dir] = id
				sizes = append(sizes, 0)
			}
			lastDir, lastID = dir, id
		}
		group[i] = lastID
		sizes[lastID]++
	}
	// The groups, one after another in one slice: members[start[g]:
	// start[g+1]] are the entries of directory g.
	start := make([]int32, len(sizes)+1)
	for g, n := range sizes {
		start[g+1] = start[g] + n
	}
	members := make([]int32, len(entries))
	next := sizes // reused as each group's next free slot
	copy(next, start)
	for i, g := range group {
		members[next[g]] = int32(i)
		next[g]++
	}
	order := group[:0] // group is read no more
	var lay func(dir string)
	lay = func(dir string) {
		g, ok := ids[dir]
		if !ok {
			return
		}
		delete(ids, dir) // each directory once, even if listed twice
		in := members[start[g]:start[g+1]]
		slices.SortFunc(in, func(a, b int32) int { return strings.Compare(names[a], names[b]) })
		for _, i := range in {
			order = append(order, i)
			if entries[i].Kind == manifest.KindDir {
				lay(entries[i].Path)
			}
		}
	}
	lay("")
	if len(order) != len(entries) {
		slices.SortFunc(entries, func(a, b manifest.Entry) int { return manifest.ComparePaths(a.Path, b.Path) })
		return
	}
	permute(entries, order)
}

// permute moves entries[order[k]] to entries[k] for every k, in place,
// one cycle of the permutation at a time, instead of through a copy of
// the entries (10 MB for 100,000 files). It spends order.
func permute(entries []manifest.Entry, order []int32) {
	const done = -1
	for k := range order {
		if order[k] == done {
			continue
		}
		held := entries[k]
		j := k
		for {
			i := int(order[j])
			order[j] = done
			if i == k {
				entries[j] = held
				break
			}
			entries[j] = entries[i]
			j = i
		}
	}
}

// treeOfMemos returns the walk's entries in the order of
// manifest.ComparePaths, laid out from the memos it made of each
// directory instead of sorted: a served turn takes most directories'
// memos whole from the last capture, and each memo keeps the order of
// its own entries (dirMemo.order), so only the few directories read
// again sort their names. Sorting the 12,800 entries of $GOROOT/src took
// 2.7 ms of a served turn, nearly all of it cache misses on their paths.
// nil when the memos do not hold every entry of the walk (wk.memo nil,
// or a directory recorded otherwise): the caller sorts the entries then.
// It is called before the walk ends its ChangeSet, which owns the memos
// until then (order is set in memos the last capture made too).
//
// The tree is laid out over the walk's own entries, which it replaces,
// once a count of the memos' entries shows they hold as many: the copy
// the memos make anew, 1.2 MB for $GOROOT/src at every served capture,
// was memory a server whose heap still grew faulted in fresh (13 us a
// page here), 300 faults a turn.
func (wk *walker) treeOfMemos() []manifest.Entry {
	root := wk.memo.dirs[""]
	if root == nil || wk.memoEntries(make([]byte, 0, 256), root) != len(wk.entries) {
		return nil
	}
	out := wk.entries[:0]
	var lay func(rel string, m *dirMemo)
	lay = func(rel string, m *dirMemo) {
		for _, k := range m.sortedOrder() {
			if int(k) < len(m.entries) {
				out = append(out, m.entries[k])
				continue
			}
			sub := &m.subdirs[int(k)-len(m.entries)]
			path := join(rel, sub.name)
			child := wk.memo.dirs[path]
			if child == nil {
				// Not walked (skipped with a warning): no entry, as
				// walkSubdir adds none.
				continue
			}
			out = append(out, manifest.Entry{Path: path, Mode: sub.mode, Kind: manifest.KindDir})
			lay(path, child)
		}
	}
	lay("", root)
	return out
}

// memoEntries counts the entries that treeOfMemos lays out from the memo
// m of the directory rel and the memos below it. rel's path is built in
// one buffer, in which each subdirectory's follows it, and looked up
// without making a string of it: a string each was 4,400 allocations on
// a tree of 4,400 directories.
func (wk *walker) memoEntries(rel []byte, m *dirMemo) int {
	n := len(m.entries)
	for i := range m.subdirs {
		path := rel
		if len(path) > 0 {
			path = append(path, '/')
		}
		path = append(path, m.subdirs[i].name...)
		if child := wk.memo.dirs[string(path)]; child != nil {
			n += 1 + wk.memoEntries(path, child)
		}
	}
	return n
}

// sortedOrder returns the order of m's entries and subdirectories by
// name, made once for the memo: an index below len(m.entries) is that
// entry's, the others len(m.entries) plus a subdirectory's index.
func (m *dirMemo) sortedOrder() []int32 {
	n := len(m.entries) + len(m.subdirs)
	if len(m.order) == n {
		return m.order
	}
	// Each name sliced from its path once, beside its index: a
	// comparison then reads two strings, not two entries and paths.
	type named struct {
		name string
		k    int32
	}
	byName := make([]named, 0, n)
	for i := range m.entries {
		byName = append(byName, named{baseName(m.entries[i].Path), int32(i)})
	}
	for j := range m.subdirs {
		byName = append(byName, named{m.subdirs[j].name, int32(len(m.entries) + j)})
	}
	slices.SortFunc(byName, func(a, b named) int { return strings.Compare(a.name, b.name) })
	order := make([]int32, n)
	for i := range byName {
		order[i] = byName[i].k
	}
	m.order = order
	return order
}
