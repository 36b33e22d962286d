package cas

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// sourceText is n bytes of text much like source code: what zstd's
// strongest level stores smaller than its fastest.
func sourceText(seed, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "func f%d_%d(x int) int {\n\tif x > %d {\n\t\treturn x * %d // case %d\n\t}\n\treturn x + %d\n}\n\n",
			seed, i, (i*7919+seed)%1000, i%97, i*seed%13, (i*31+seed)%101)
	}
	return b.Bytes()[:n]
}

// checkTotals fails unless the stored counter matches the values and
// every value re-hashes to its digest.
func checkTotals(t *testing.T, d *db.DB) int64 {
	t.Helper()
	var stored int64
	err := d.View(func(tx *bolt.Tx) error {
		tot, err := CheckTx(tx, CheckOptions{Deep: true, Problem: func(subject, detail string) {
			t.Errorf("%s: %s", subject, detail)
		}})
		if err != nil {
			return err
		}
		if c := db.Counter(tx, db.CounterStored); c != tot.Stored {
			t.Errorf("stored counter %d, values add up to %d", c, tot.Stored)
		}
		stored = tot.Stored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

func TestPutListing_StoresAnEditedListingOnceMore(t *testing.T) {
	d, s := openStore(t, "", Options{})
	put := func(b []byte) manifest.Digest {
		l := s.NewLease()
		dg, err := l.PutListing(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, dg)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("listing reads back wrong: %v", err)
		}
		return dg
	}
	// A listing of 2,000 entries, each naming a digest as a tree does.
	var listing bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&listing, `{"path":"src/pkg%d/file%d.go","digest":"%s"},`, i/20, i, manifest.Sum([]byte{byte(i), byte(i >> 8)}))
	}
	first := listing.Bytes()
	put(first)
	stored := checkTotals(t, d)
	if stored >= int64(len(first)) {
		t.Fatalf("a listing of %d bytes took %d", len(first), stored)
	}

	edited := bytes.Clone(first)
	i := bytes.Index(edited, []byte("file1000.go"))
	copy(edited[i:], "FILE1000.go")
	put(edited)
	added := checkTotals(t, d) - stored
	if added > stored/4 {
		t.Fatalf("an edit of one entry stored %d bytes again, the whole listing took %d", added, stored)
	}
}

// A listing put from the bytes in hand is cut as putChunked cuts what a
// reader yields: the same chunks, the same list, the same value for one
// the chunker leaves whole. Stores that put a tree either way share it.
func TestPutListing_CutsAsAChunkedPut(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"source text", sourceText(1, 300<<10)},
		{"one chunk", bytes.Repeat([]byte{'x'}, 2*listingCuts.normal+1)},
		{"repeated chunks", bytes.Repeat(sourceText(2, 70<<10), 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put := func(f func(l *Lease) (manifest.Digest, error)) (manifest.Digest, []Chunk) {
				_, s := openStore(t, "", Options{})
				l := s.NewLease()
				dg, err := f(l)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Commit(ctx, nil); err != nil {
					t.Fatal(err)
				}
				if got, err := s.Get(ctx, dg); err != nil || !bytes.Equal(got, tt.b) {
					t.Fatalf("listing reads back wrong: %v", err)
				}
				chunks, err := s.Chunks(ctx, dg)
				if err != nil {
					t.Fatal(err)
				}
				return dg, chunks
			}
			listed, listedChunks := put(func(l *Lease) (manifest.Digest, error) { return l.PutListing(ctx, tt.b) })
			streamed, streamedChunks := put(func(l *Lease) (manifest.Digest, error) {
				return l.putChunked(ctx, bytes.NewReader(tt.b), listingCuts, false, nil)
			})
			if listed != streamed || !slices.Equal(listedChunks, streamedChunks) {
				t.Errorf("PutListing stored %s as %d chunks, a chunked put %s as %d", listed.Short(), len(listedChunks), streamed.Short(), len(streamedChunks))
			}
		})
	}
}

// treeListing is a listing of entries as a tree's: n JSON objects, each
// with its path and a digest.
func treeListing(entries []int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"entries":[`)
	for _, i := range entries {
		fmt.Fprintf(&b, `{"path":"src/pkg%d/file%d.go","mode":420,"digest":"%s"},`, i/20, i, manifest.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16)}))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// A listing cut from the last one's chunks (listingBase) is cut as a
// listing cut alone: the same chunks, each with its own digest, after
// any edit: entries changed, added or removed anywhere, the end cut off
// or grown, the same bytes again, bytes that share nothing with the
// base, the base followed by more (its last chunk, cut at its end, not
// at a match, is then cut elsewhere), and chunks repeated, whose first
// bytes find several of the base's.
func TestCutListing_FromBase_AsCutAlone(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 4))
	entries := make([]int, 4000)
	for i := range entries {
		entries[i] = i * 3
	}
	edits := []struct {
		name string
		edit func(e []int) []int
	}{
		{"nothing", func(e []int) []int { return e }},
		{"ten changed", func(e []int) []int {
			for range 10 {
				e[rng.IntN(len(e))] += 1 << 20
			}
			return e
		}},
		{"one added", func(e []int) []int { return slices.Insert(e, rng.IntN(len(e)+1), 1<<21+rng.IntN(1000)) }},
		{"one removed", func(e []int) []int { i := rng.IntN(len(e)); return slices.Delete(e, i, i+1) }},
		{"first changed", func(e []int) []int { e[0] += 1 << 20; return e }},
		{"end cut off", func(e []int) []int { return e[:len(e)-1-rng.IntN(200)] }},
		{"end grown", func(e []int) []int { return append(e, 1<<22+rng.IntN(1000)) }},
		{"all new", func(e []int) []int {
			for i := range e {
				e[i] += 7
			}
			return e
		}},
	}
	last := treeListing(entries)
	want, err := cutListing(ctx, last, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := newListingBase(last, want)
	for round := range 300 {
		e := edits[rng.IntN(len(edits))]
		entries = e.edit(slices.Clone(entries))
		if len(entries) < 1000 {
			entries = append(entries, 1<<23+round)
		}
		b := treeListing(entries)
		switch round % 50 {
		case 24:
			// The last listing, its last chunk followed by more.
			b = append(bytes.Clone(base.data), b[:rng.IntN(len(b))]...)
		case 49:
			// Listings of the same chunks over and over.
			b = bytes.Repeat(b[:len(b)/7], 7)
		}
		got, err := cutListing(ctx, b, base)
		if err != nil {
			t.Fatal(err)
		}
		want, err := cutListing(ctx, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d (%s): %d chunks from the base, %d alone", round, e.name, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i].data, want[i].data) || got[i].digest != want[i].digest || got[i].digest != manifest.Sum(got[i].data) {
				t.Fatalf("round %d (%s): chunk %d of %d differs from the one cut alone", round, e.name, i, len(got))
			}
		}
		base = newListingBase(b, got)
	}
}

// A store that puts one listing after another, each an edit of the
// last, stores each as a chunked put of it into a store of its own.
func TestPutListing_Edits_CutAsAChunkedPut(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 5))
	d, s := openStore(t, "", Options{})
	entries := make([]int, 3000)
	for i := range entries {
		entries[i] = i
	}
	for round := range 8 {
		for range 10 {
			entries[rng.IntN(len(entries))] += 1 << 20
		}
		entries = slices.Insert(entries, rng.IntN(len(entries)), 1<<21+round)
		b := treeListing(entries)
		l := s.NewLease()
		listed, err := l.PutListing(ctx, b)
		if err == nil {
			err = l.Commit(ctx, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		listedChunks, err := s.Chunks(ctx, listed)
		if err != nil {
			t.Fatal(err)
		}
		_, alone := openStore(t, "", Options{})
		la := alone.NewLease()
		streamed, err := la.putChunked(ctx, bytes.NewReader(b), listingCuts, false, nil)
		if err == nil {
			err = la.Commit(ctx, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		streamedChunks, err := alone.Chunks(ctx, streamed)
		if err != nil {
			t.Fatal(err)
		}
		if listed != streamed || !slices.Equal(listedChunks, streamedChunks) {
			t.Fatalf("round %d: PutListing stored %s as %d chunks, a chunked put %s as %d", round, listed.Short(), len(listedChunks), streamed.Short(), len(streamedChunks))
		}
		if got, err := s.Get(ctx, listed); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round %d: listing reads back wrong: %v", round, err)
		}
	}
	checkTotals(t, d)
}

// BenchmarkPutListing_TenEdited: a served turn's put of its tree, a
// listing of 12,800 entries (1.7 MB as GOROOT/src's) of which ten changed
// since the listing the store put last: cut from that one's chunks
// (fromLast), and cut alone.
func BenchmarkPutListing_TenEdited(b *testing.B) {
	for _, fromLast := range []bool{true, false} {
		b.Run(fmt.Sprintf("fromLast=%v", fromLast), func(b *testing.B) {
			_, s := openStore(b, "", Options{})
			rng := rand.New(rand.NewPCG(16, 6))
			entries := make([]int, 12800)
			for i := range entries {
				entries[i] = i
			}
			// The commit, which writes the chunks the put staged, is not
			// timed: its fsyncs would hide the put's cost.
			put := func(listing []byte) {
				l := s.NewLease()
				_, err := l.PutListing(ctx, listing)
				b.StopTimer()
				if err == nil {
					err = l.Commit(ctx, nil)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			put(treeListing(entries))
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				for range 10 {
					entries[rng.IntN(len(entries))] += 1 << 20
				}
				listing := treeListing(entries)
				b.SetBytes(int64(len(listing)))
				if !fromLast {
					s.listing.Store(nil)
				}
				b.StartTimer()
				put(listing)
			}
		})
	}
}
