package manifest

import "crypto/sha256"

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
	enc, _, err := t.encodeFrom(last, nil)
	return enc, err
}

// EncodeFromSummed is EncodeFrom that also returns the encoding's digest
// (Sum of its bytes), taken on another goroutine as the encoding is
// made: on two cores, the hash of a listing of 1.7 MB (a millisecond)
// then ends about when its encoding does, instead of starting there.
func (t *Tree) EncodeFromSummed(last *EncodedTree) (*EncodedTree, Digest, error) {
	parts := make(chan []byte, 64)
	summed := make(chan Digest, 1)
	go func() {
		h := sha256.New()
		for p := range parts {
			h.Write(p)
		}
		summed <- Digest(h.Sum(nil))
	}()
	enc, streamed, err := t.encodeFrom(last, func(p []byte) { parts <- p })
	close(parts)
	d := <-summed
	switch {
	case err != nil:
		return nil, Digest{}, err
	case !streamed:
		// Encoded whole after all: what was hashed is not the encoding.
		d = Sum(enc.enc)
	}
	return enc, d, nil
}

// summedPiece is how many bytes of an encoding EncodeFromSummed hands
// its hash at a time: few hand-overs, and a hash never far behind.
const summedPiece = 64 << 10

// encodeFrom is EncodeFrom. written, when not nil, is given the
// encoding's bytes as they are written, in order, each piece once no
// longer changed: when streamed, the pieces are the whole encoding;
// otherwise t was encoded whole (no last, or an entry out of order or
// malformed), and what written was given is not its encoding.
func (t *Tree) encodeFrom(last *EncodedTree, written func([]byte)) (_ *EncodedTree, streamed bool, _ error) {
	if last == nil {
		enc, err := t.encodeWhole()
		return enc, false, err
	}
	entries := t.Entries
	b := make([]byte, 0, len(last.enc)+len(last.enc)/8+64)
	b = append(b, treeHead...)
	// b[:handed] went to written. The encoding only grows: a piece
	// handed over is never written again, even when b moves.
	handed := 0
	hand := func(least int) {
		if written != nil && len(b)-handed >= least {
			written(b[handed:len(b):len(b)])
			handed = len(b)
		}
	}
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
		hand(summedPiece)
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
				enc, err := t.encodeWhole() // its error, or a sorted copy
				return enc, false, err
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
			enc, err := t.encodeWhole() // its error, or a sorted copy
			return enc, false, err
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
	hand(0)
	return &EncodedTree{entries: entries, enc: b, starts: starts}, written != nil, nil
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
