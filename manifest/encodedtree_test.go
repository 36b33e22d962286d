package manifest

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkEncodeFrom encodes tree from last and plainly, and fails unless
// both give the same bytes or the same error. It returns EncodeFrom's
// result.
func checkEncodeFrom(t *testing.T, name string, last *EncodedTree, tree *Tree) *EncodedTree {
	t.Helper()
	want, wantErr := tree.Encode()
	got, err := tree.EncodeFrom(last)
	switch {
	case wantErr != nil || err != nil:
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("%s: EncodeFrom error %v, Encode error %v", name, err, wantErr)
		}
		return nil
	case !bytes.Equal(got.Bytes(), want):
		t.Fatalf("%s: EncodeFrom:\n got %s\nwant %s", name, got.Bytes(), want)
	}
	// EncodeFromSummed makes the same encoding, and its digest.
	summed, d, err := tree.EncodeFromSummed(last)
	switch {
	case err != nil:
		t.Fatalf("%s: EncodeFromSummed: %v, EncodeFrom none", name, err)
	case !bytes.Equal(summed.Bytes(), want):
		t.Fatalf("%s: EncodeFromSummed:\n got %s\nwant %s", name, summed.Bytes(), want)
	case d != Sum(want):
		t.Fatalf("%s: EncodeFromSummed's digest %s, the encoding's %s", name, d, Sum(want))
	}
	// Each entry's recorded start is where Encode wrote its object.
	for i := range got.entries {
		obj := appendEntry(nil, &got.entries[i])
		if s := got.starts[i]; !bytes.Equal(got.enc[s:got.end(i)], obj) {
			t.Fatalf("%s: entry %d (%s) recorded at %d: %s", name, i, got.entries[i].Path, s, got.enc[s:got.end(i)])
		}
	}
	return got
}

func TestTree_EncodeFrom_Edits(t *testing.T) {
	base := goldenTree()
	base.Sort()
	file := func(p, content string) Entry {
		return Entry{Path: p, Mode: 0o644, Size: int64(len(content)), Kind: KindFile, Blob: Sum([]byte(content))}
	}
	tests := []struct {
		name string
		edit func(es []Entry) []Entry
	}{
		{"unchanged", func(es []Entry) []Entry { return es }},
		{"content changed", func(es []Entry) []Entry { es[0] = file(es[0].Path, "new"); return es }},
		{"last entry changed", func(es []Entry) []Entry {
			es[len(es)-1] = file(es[len(es)-1].Path, "new")
			return es
		}},
		{"mode changed", func(es []Entry) []Entry { es[2].Mode = 0o700; return es }},
		{"added first", func(es []Entry) []Entry { return append([]Entry{file("0.txt", "x")}, es...) }},
		{"added between", func(es []Entry) []Entry { return slices.Insert(es, 2, file("bin/run2", "y")) }},
		{"added last", func(es []Entry) []Entry { return append(es, file("zz", "z")) }},
		{"deleted first", func(es []Entry) []Entry { return es[1:] }},
		{"deleted middle", func(es []Entry) []Entry { return slices.Delete(es, 2, 4) }},
		{"deleted all", func(es []Entry) []Entry { return nil }},
		{"out of order", func(es []Entry) []Entry { es[1], es[4] = es[4], es[1]; return es }},
		{"duplicate", func(es []Entry) []Entry { return slices.Insert(es, 2, es[2]) }},
		{"duplicate path", func(es []Entry) []Entry { return slices.Insert(es, 3, file(es[2].Path, "other")) }},
		{"invalid path", func(es []Entry) []Entry { return slices.Insert(es, 1, file("a/../b", "x")) }},
		{"invalid entry after a kept one", func(es []Entry) []Entry { es[3].Size = -1; return es }},
		{"symlink target changed", func(es []Entry) []Entry {
			for i := range es {
				if es[i].Kind == KindSymlink {
					es[i].LinkTarget, es[i].Blob = "b.rs", Sum([]byte("b.rs"))
				}
			}
			return es
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last, err := base.EncodeFrom(nil)
			if err != nil {
				t.Fatal(err)
			}
			tree := &Tree{Entries: tt.edit(slices.Clone(base.Entries))}
			next := checkEncodeFrom(t, tt.name, last, tree)
			if next != nil {
				// And back: from the edited tree to the first.
				checkEncodeFrom(t, tt.name+", back", next, &Tree{Entries: slices.Clone(base.Entries)})
			}
		})
	}
}

// TestTree_EncodeFrom_RandomTurns chains EncodeFrom over random turns of
// edits, adds, deletes and renames on a tree of a few hundred entries,
// each checked against a plain Encode.
func TestTree_EncodeFrom_RandomTurns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "a.txt", "a-b", "b", "src", "x y", "é", "z"}
	randomPath := func() string {
		p := names[rng.IntN(len(names))]
		for range rng.IntN(3) {
			p += "/" + names[rng.IntN(len(names))]
		}
		return p
	}
	entry := func(p string) Entry {
		switch rng.IntN(6) {
		case 0:
			return Entry{Path: p, Mode: 0o755, Kind: KindDir}
		case 1:
			target := names[rng.IntN(len(names))]
			return Entry{Path: p, Mode: 0o777, Size: int64(len(target)), Kind: KindSymlink, Blob: Sum([]byte(target)), LinkTarget: target}
		}
		content := fmt.Sprint(rng.Int())
		return Entry{Path: p, Mode: fs.FileMode(0o600 + rng.IntN(0o200)), Size: int64(len(content)), Kind: KindFile, Blob: Sum([]byte(content))}
	}
	byPath := map[string]Entry{}
	for range 300 {
		p := randomPath()
		byPath[p] = entry(p)
	}
	var last *EncodedTree
	for turn := range 200 {
		paths := make([]string, 0, len(byPath))
		for p := range byPath {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		for range rng.IntN(12) {
			p := paths[rng.IntN(len(paths))]
			switch rng.IntN(4) {
			case 0:
				delete(byPath, p)
			case 1:
				q := randomPath()
				delete(byPath, p)
				byPath[q] = entry(q)
			default:
				byPath[p] = entry(p)
			}
		}
		for range rng.IntN(4) {
			p := randomPath()
			byPath[p] = entry(p)
		}
		tree := &Tree{}
		for _, e := range byPath {
			tree.Entries = append(tree.Entries, e)
		}
		if turn%3 != 0 {
			tree.Sort() // most turns come sorted, as a walk's do
		}
		if got := checkEncodeFrom(t, fmt.Sprint("turn ", turn), last, tree); got != nil {
			last = got
		}
	}
}

// A listing of many pieces (summedPiece) is hashed as it is encoded: its
// digest is the encoding's, turn after turn of edits, insertions and
// deletions, and when an entry out of order makes it encode whole.
func TestTree_EncodeFromSummed_LargeTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	file := func(p, content string) Entry {
		return Entry{Path: p, Mode: 0o644, Size: int64(len(content)), Kind: KindFile, Blob: Sum([]byte(content))}
	}
	tree := &Tree{}
	for i := range 12_000 {
		p := fmt.Sprintf("src/pkg%03d/file_%04d.go", i/10, i)
		tree.Entries = append(tree.Entries, file(p, p))
	}
	tree.Sort()
	var last *EncodedTree
	for turn := range 8 {
		next := &Tree{Entries: slices.Clone(tree.Entries)}
		for range 10 {
			i := rng.IntN(len(next.Entries))
			next.Entries[i] = file(next.Entries[i].Path, fmt.Sprint(turn, i))
		}
		next.Entries = slices.Delete(next.Entries, 100*turn, 100*turn+1)
		next.Entries = append(next.Entries, file(fmt.Sprintf("zz/turn%d.txt", turn), "new"))
		if turn == 5 {
			next.Entries[7], next.Entries[9000] = next.Entries[9000], next.Entries[7]
		}
		want, err := next.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if len(want) < 4*summedPiece {
			t.Fatalf("the listing is %d bytes: too few pieces to test", len(want))
		}
		enc, d, err := next.EncodeFromSummed(last)
		switch {
		case err != nil:
			t.Fatalf("turn %d: %v", turn, err)
		case !bytes.Equal(enc.Bytes(), want):
			t.Fatalf("turn %d: EncodeFromSummed is not Encode's encoding", turn)
		case d != Sum(want):
			t.Fatalf("turn %d: digest %s, the encoding's %s", turn, d, Sum(want))
		}
		if turn != 5 {
			tree = next
		}
		last = enc
	}
}

func BenchmarkTree_EncodeFrom_TenChanged(b *testing.B) {
	tree := &Tree{}
	for i := range 12_000 {
		p := fmt.Sprintf("src/pkg%03d/file_%04d.go", i/10, i)
		tree.Entries = append(tree.Entries, Entry{Path: p, Mode: 0o644, Size: 4096, Kind: KindFile, Blob: Sum([]byte(p))})
	}
	tree.Sort()
	last, err := tree.EncodeFrom(nil)
	if err != nil {
		b.Fatal(err)
	}
	next := &Tree{Entries: slices.Clone(tree.Entries)}
	for i := range 10 {
		e := &next.Entries[i*len(next.Entries)/10]
		if e.Kind == KindFile {
			e.Blob = Sum([]byte(fmt.Sprint(i)))
		}
	}
	b.Run("Encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := next.Encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EncodeFrom", func(b *testing.B) {
		for b.Loop() {
			if _, err := next.EncodeFrom(last); err != nil {
				b.Fatal(err)
			}
		}
	})
}
