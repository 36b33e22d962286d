package cas

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/klauspost/compress/zstd"
	"path/filepath"
	"testing"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

func TestRecompress_StoresSmallerAndReadsTheSame(t *testing.T) {
	d, s := openStore(t, "", Options{})
	l := s.NewLease()
	blobs := map[manifest.Digest][]byte{}
	// Packed values, one too large to pack (its own bucket), one chunked
	// blob, and random bytes that no level compresses.
	for i, n := range []int{3000, 40000, 100000, 600 << 10, 3 << 20} {
		b := sourceText(i, n)
		dg, err := l.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		blobs[dg] = b
	}
	// Hex text: too large to pack even compressed, so in its own bucket.
	var hex bytes.Buffer
	for i := 0; hex.Len() < 900<<10; i++ {
		fmt.Fprintf(&hex, "%d %x\n", i%10, payload(uint64(i), 24))
	}
	hd, err := l.PutBytes(ctx, hex.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	blobs[hd] = hex.Bytes()
	random := payload(7, 50000)
	rd, err := l.PutBytes(ctx, random)
	if err != nil {
		t.Fatal(err)
	}
	blobs[rd] = random
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	before := checkTotals(t, d)
	ownLen := func() (n int) {
		d.View(func(tx *bolt.Tx) error {
			v := tx.Bucket(db.BucketBlobs).Bucket(hd[:])
			if v == nil {
				t.Fatal("the hex text is not in a bucket of its own")
			}
			n = len(v.Get(valueKey))
			return nil
		})
		return n
	}
	hexBefore := ownLen()

	rep, err := s.Recompress(ctx, CompactLevel)
	if err != nil {
		t.Fatal(err)
	}
	after := checkTotals(t, d)
	if n := ownLen(); n >= hexBefore {
		t.Errorf("the value in a bucket of its own took %d bytes before, %d after", hexBefore, n)
	}
	if rep.Values == 0 || rep.Saved <= 0 || after != before-rep.Saved {
		t.Fatalf("recompressed %d values, saving %d bytes: stored %d before, %d after", rep.Values, rep.Saved, before, after)
	}
	for dg, want := range blobs {
		got, err := s.Get(ctx, dg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("blob %s reads back differently", dg)
		}
	}

	// Written at the level already: a second run changes nothing.
	again, err := s.Recompress(ctx, CompactLevel)
	if err != nil {
		t.Fatal(err)
	}
	if again.Values != 0 || checkTotals(t, d) != after {
		t.Fatalf("a second run recompressed %d values", again.Values)
	}
}

func TestRecompress_Dictionary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.pf")
	d, s := openStore(t, path, Options{})
	l := s.NewLease()
	blobs := map[manifest.Digest][]byte{}
	for i := range 400 {
		b := sourceText(i, 300+i*7)
		dg, err := l.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		blobs[dg] = b
	}
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	plain := checkTotals(t, d)
	if _, err := s.Recompress(ctx, CompactLevel); err != nil {
		t.Fatal(err)
	}
	withDict := checkTotals(t, d)
	var dictIDs int
	d.View(func(tx *bolt.Tx) error {
		dictIDs = tx.Bucket(db.BucketDicts).Stats().KeyN
		return nil
	})
	if dictIDs != 1 {
		t.Fatalf("dicts/ holds %d dictionaries, want 1", dictIDs)
	}
	t.Logf("%d values: %d bytes stored, %d after recompressing against a dictionary", len(blobs), plain, withDict)
	if withDict >= plain {
		t.Errorf("stored %d bytes before, %d after", plain, withDict)
	}
	readAll := func() error {
		for dg, want := range blobs {
			got, err := s.Get(ctx, dg)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("blob %s reads back differently", dg)
			}
		}
		return nil
	}
	if err := readAll(); err != nil {
		t.Fatal(err)
	}

	// A process that has not loaded the store's dictionary reads no
	// value compressed against it; one that has reads them all.
	dicts.Clear()
	if err := readAll(); !errors.Is(err, db.ErrCorrupt) {
		t.Fatalf("read without the dictionary: %v, want ErrCorrupt", err)
	}
	if err := s.LoadDicts(); err != nil {
		t.Fatal(err)
	}
	if err := readAll(); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Recompress(ctx, CompactLevel); err != nil || again.Values != 0 {
		t.Fatalf("a second run recompressed %d values (%v)", again.Values, err)
	}
}

func TestTrainDict(t *testing.T) {
	samplesOf := func(n int) [][]byte {
		var s [][]byte
		for i := range n {
			s = append(s, sourceText(i, 300+i*7))
		}
		return s
	}
	tests := []struct {
		name     string
		samples  [][]byte
		wantDict bool
	}{
		{"no samples", nil, false},
		{"too few", samplesOf(dictMinSamples - 1), false},
		{"enough", samplesOf(400), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content, id := trainDict(tt.samples)
			if (content != nil) != tt.wantDict {
				t.Fatalf("dictionary of %d bytes, want one: %v", len(content), tt.wantDict)
			}
			if !tt.wantDict {
				return
			}
			var fh zstd.Header
			if id < 32768 || id == manifestDictID {
				t.Errorf("id %d: outside zstd's private range, or the manifest dictionary's", id)
			}
			if len(content) > dictHistory+1<<10 {
				t.Errorf("dictionary of %d bytes, its history at most %d", len(content), dictHistory)
			}
			// The id names the content: trained again, the dictionary
			// has the same id only if it is the same.
			again, againID := trainDict(tt.samples)
			if (againID == id) != bytes.Equal(again, content) {
				t.Errorf("trained twice: ids %d and %d, contents equal: %v", id, againID, bytes.Equal(again, content))
			}
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderDict(content))
			if err != nil {
				t.Fatal(err)
			}
			if err := fh.Decode(enc.EncodeAll(tt.samples[0], nil)); err != nil || fh.DictionaryID != id {
				t.Errorf("a frame compressed against it names dictionary %d (%v), want %d", fh.DictionaryID, err, id)
			}
		})
	}
}
