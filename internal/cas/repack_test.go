package cas

import (
	"bytes"
	"testing"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// packCount counts the packs and their packlive entries.
func packCount(t *testing.T, d *db.DB) (packs, live int) {
	t.Helper()
	d.View(func(tx *bolt.Tx) error {
		packs = tx.Bucket(db.BucketPacks).Stats().BucketN - 1 // itself
		live = tx.Bucket(db.BucketPackLive).Stats().KeyN
		return nil
	})
	return packs, live
}

// putOnePack puts n blobs of size bytes through one lease, so that they
// share a pack, and returns their digests and bytes.
func putOnePack(t *testing.T, s *Bolt, n, size int) ([]manifest.Digest, [][]byte) {
	t.Helper()
	l := s.NewLease()
	var ds []manifest.Digest
	var bs [][]byte
	for i := range n {
		b := payload(uint64(100+i), size)
		d, err := l.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		ds, bs = append(ds, d), append(bs, b)
	}
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return ds, bs
}

func TestRepackSparse_RewritesWhatDeletesEmptied(t *testing.T) {
	d, s := openStore(t, "", Options{})
	ds, bs := putOnePack(t, s, 8, 10000)
	if p, l := packCount(t, d); p != 1 || l != 1 {
		t.Fatalf("%d packs, %d packlive entries; want one pack", p, l)
	}
	// Six of eight go: the pack is a quarter live.
	err := d.Update(ctx, func(tx *bolt.Tx) error {
		for _, dg := range ds[:6] {
			if err := deleteValueIn(tx, db.BucketBlobs, dg); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.repackSparse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.packs != 1 || rep.bytes < 6*10000 {
		t.Fatalf("repack report %+v, want one pack and the six values' bytes", rep)
	}
	for i, dg := range ds[6:] {
		got, err := s.Get(ctx, dg)
		if err != nil || !bytes.Equal(got, bs[6+i]) {
			t.Fatalf("blob %d after repack: %v", 6+i, err)
		}
	}
	d.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(db.BucketPackLive).Cursor()
		k, v := c.First()
		l, err := parsePackLive(0, v)
		if err != nil || l.values != 2 || l.bytes != l.size || k == nil {
			t.Fatalf("packlive after repack: %+v, %v", l, err)
		}
		if k, _ := c.Next(); k != nil {
			t.Fatal("more than one pack after repack")
		}
		return nil
	})
	// A dense pack is left alone.
	if rep, err := s.repackSparse(ctx); err != nil || rep.packs != 0 {
		t.Fatalf("second repack: %+v, %v", rep, err)
	}
}

// A pack written early by a lease still running is the lease's to keep
// or reclaim: repacking it would make its values permanent. Here another
// lease commits three of its four values, which moves them out and
// leaves it a quarter live.
func TestRepackSparse_LeavesProvisionalPacks(t *testing.T) {
	d, s := openStore(t, "", Options{SpillBytes: 4 * 10000})
	a := s.NewLease()
	var ds []manifest.Digest
	var bs [][]byte
	for i := range 4 {
		b := payload(uint64(200+i), 10000)
		dg, err := a.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		ds, bs = append(ds, dg), append(bs, b)
	}
	a.waitSpill()
	if provisionalCount(t, d) != 1 {
		t.Fatalf("%d provisional marks after one early write, want 1", provisionalCount(t, d))
	}
	b := s.NewLease()
	for _, v := range bs[:3] {
		if _, err := b.PutBytes(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := s.repackSparse(ctx)
	if err != nil || rep.packs != 0 {
		t.Fatalf("repack beside a live lease: %+v, %v", rep, err)
	}
	if err := a.Abort(); err != nil {
		t.Fatal(err)
	}
	if has(t, s, ds[3]) {
		t.Fatal("the value only the aborted lease held survived")
	}
	for i, dg := range ds[:3] {
		got, err := s.Get(ctx, dg)
		if err != nil || !bytes.Equal(got, bs[i]) {
			t.Fatalf("value %d, committed by the other lease: %v", i, err)
		}
	}
	if p, live := packCount(t, d); p != 1 || live != 1 || provisionalCount(t, d) != 0 {
		t.Fatalf("%d packs, %d packlive entries, %d marks after the abort; want the other lease's pack only",
			p, live, provisionalCount(t, d))
	}
}
