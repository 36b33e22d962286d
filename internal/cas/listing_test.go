package cas

import (
	"bytes"
	"fmt"
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
				return l.putChunked(ctx, bytes.NewReader(tt.b), listingCuts, false)
			})
			if listed != streamed || !slices.Equal(listedChunks, streamedChunks) {
				t.Errorf("PutListing stored %s as %d chunks, a chunked put %s as %d", listed.Short(), len(listedChunks), streamed.Short(), len(streamedChunks))
			}
		})
	}
}
