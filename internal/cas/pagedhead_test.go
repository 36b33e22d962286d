package cas

import (
	"bytes"
	"testing"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A chunk is cut where its head's value fills its bucket's pages to the
// last byte, its tail under a page; a chunk whose last page is nearly
// full, or that would leave a head small enough to pack, is left whole.
func TestPagedHead_FillsWholePages(t *testing.T) {
	for _, n := range []int{
		1, maxRawPacked, maxRawPacked + 1, maxRawPacked + headPage, 512 << 10, 1<<20 - 1, 1 << 20,
		1<<21 - 40, 1<<21 - 30, 1 << 21, 1<<21 + 5000, 3<<20 + 12345, chunkMax,
	} {
		head := pagedHead(n)
		switch {
		case head == n:
			lost := (headPage - (ownBucketOverhead+rawValueLen(n))%headPage) % headPage
			if n > maxRawPacked+headPage && lost >= tailCost {
				t.Errorf("%d bytes left whole, losing %d bytes of its last page", n, lost)
			}
		case head > n || head <= maxRawPacked || n-head >= headPage:
			t.Errorf("%d bytes cut at %d", n, head)
		case (ownBucketOverhead+rawValueLen(head))%headPage != 0:
			t.Errorf("%d bytes cut at %d: its bucket takes %d bytes, not whole pages", n, head, ownBucketOverhead+rawValueLen(head))
		}
	}
}

// A put of random bytes stores each chunk's head alone in its pages,
// filled whole, and its tail packed, and reads the blob back.
func TestLease_Put_RawChunkHeadsFillTheirPages(t *testing.T) {
	d, s := openStore(t, "", Options{})
	b := payload(21, 12<<20)
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	heads, tails := 0, 0
	err = d.View(func(tx *bolt.Tx) error {
		refs, err := chunkRefsTx(tx, dg)
		if err != nil {
			return err
		}
		chunks := tx.Bucket(db.BucketChunks)
		for i, r := range refs {
			if vb := chunks.Bucket(r.digest[:]); vb != nil {
				// bbolt's own count of the leaf's pages and what it uses
				// of them, on a store of headPage pages.
				st := vb.Stats()
				if empty := st.LeafAlloc - st.LeafInuse; tx.DB().Info().PageSize == headPage && empty >= tailCost {
					t.Errorf("chunk %d (%d bytes) leaves %d bytes of its last page empty", i, r.size, empty)
				}
				heads++
				continue
			}
			if r.size >= headPage {
				t.Errorf("chunk %d of %d bytes is packed", i, r.size)
			}
			tails++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if heads < 2 || tails < 2 {
		t.Fatalf("%d heads and %d tails: want the chunks cut", heads, tails)
	}
	got, err := s.Get(ctx, dg)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back: %v", err)
	}
	if d := manifest.Sum(got); d != dg {
		t.Fatalf("read back %s", d)
	}
}

// A put that writes its chunks' heads early keeps their tails in one pack
// until its commit, not a small pack each early write.
func TestLease_Put_TailsWaitForTheCommit(t *testing.T) {
	d, s := openStore(t, "", Options{SpillBytes: 2 << 20})
	b := payload(22, 24<<20)
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	packs, tails := 0, 0
	err = d.View(func(tx *bolt.Tx) error {
		packs = tx.Bucket(db.BucketPacks).Stats().BucketN - 1
		refs, err := chunkRefsTx(tx, dg)
		for _, r := range refs {
			if r.size < headPage {
				tails++
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if tails < 2 || packs != 1 {
		t.Fatalf("%d tails in %d packs, want them in one", tails, packs)
	}
	if got, err := s.Get(ctx, dg); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back: %v", err)
	}
}
