package manifest

// An EncodedTree is a tree's entries, sorted, with their encoding, kept
// so that the encoding of a next tree that shares most of its entries
// copies theirs instead of checking and writing each again: pf serve
// encodes the whole listing of a workspace at every snapshot (1.7 MB for
// GOROOT/src's 11,500 files) when an agent's turn changed ten entries.
type EncodedTree struct {
	entries []Entry
	enc     []byte
	// starts[i] is where entries[i]'s object begins in enc; it ends a
	// byte before the next one's (the comma), the last one before
	// treeTail.
	starts []int
}

// Bytes returns the tree's encoding, which the caller must not modify.
func (e *EncodedTree) Bytes() []byte { return e.enc }

// EncodeFrom encodes t as Encode does, byte for byte and with the same
// errors, copying the object of each entry equal to one of last's from
// last's encoding. last may be nil. It returns the encoding with t's
// entries sorted, for the next call; when t's entries are sorted, these
// are t's, not a copy, and the caller must not modify them after.
func (t *Tree) EncodeFrom(last *EncodedTree) (*EncodedTree, error) {
	if last == nil {
		return t.encodeWhole()
	}
	entries := t.Entries
	b := make([]byte, 0, len(last.enc)+len(last.enc)/8+64)
	b = append(b, treeHead...)
	starts := make([]int, len(entries))
	// A run of last's entries met in a row, last.entries[runFrom:runTo],
	// is copied in one piece, commas and all, once it ends; its first
	// object goes at runAt in b.
	runFrom, runTo, runAt := 0, 0, 0
	flush := func() {
		if runFrom < runTo {
			b = append(b, last.enc[last.starts[runFrom]:last.end(runTo-1)]...)
		}
		runFrom = runTo
	}
	j := 0           // the first of last's entries not passed yet
	lastMet := false // entries[i-1] is one of last's, before j
	for i := range entries {
		e := &entries[i]
		// Pass last's entries whose path comes before e's. The same
		// path most often is the next one, spared a ComparePaths.
		c := -1
		for j < len(last.entries) {
			if last.entries[j].Path == e.Path {
				c = 0
				break
			}
			if c = ComparePaths(last.entries[j].Path, e.Path); c >= 0 {
				break
			}
			j++
		}
		if c == 0 && last.entries[j] == *e {
			// e is checked, being last's. last's entries are sorted:
			// the one before e, when it is last's too, comes before.
			if i > 0 && !lastMet && ComparePaths(entries[i-1].Path, e.Path) >= 0 {
				return t.encodeWhole() // its error, or a sorted copy
			}
			if runFrom == runTo || runTo != j {
				flush()
				if i > 0 {
					b = append(b, ',')
				}
				runFrom, runTo, runAt = j, j, len(b)
			}
			starts[i] = runAt + last.starts[j] - last.starts[runFrom]
			runTo = j + 1
			j++
			lastMet = true
			continue
		}
		flush()
		if e.check() != nil || (i > 0 && ComparePaths(entries[i-1].Path, e.Path) >= 0) {
			return t.encodeWhole() // its error, or a sorted copy
		}
		if i > 0 {
			b = append(b, ',')
		}
		starts[i] = len(b)
		b = appendEntry(b, e)
		lastMet = false
	}
	flush()
	b = append(b, treeTail...)
	return &EncodedTree{entries: entries, enc: b, starts: starts}, nil
}

// end returns where e's i-th entry's object ends in its encoding.
func (e *EncodedTree) end(i int) int {
	if i+1 < len(e.starts) {
		return e.starts[i+1] - 1
	}
	return len(e.enc) - len(treeTail)
}

// encodeWhole encodes t as Encode does, noting where each entry begins.
func (t *Tree) encodeWhole() (*EncodedTree, error) {
	entries, err := t.checkedEntries()
	if err != nil {
		return nil, err
	}
	starts := make([]int, len(entries))
	return &EncodedTree{entries: entries, enc: encodeEntries(entries, starts), starts: starts}, nil
}
