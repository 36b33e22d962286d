package cas

import (
	"bytes"
	"testing"

	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// TestLease_Put_AfterCollectStoresAgain: a blob a lease committed is
// remembered as stored (committed), so the next lease that puts it does
// not stage it again; once a collection deletes it, the next put stores it
// again and it reads back, whether the same process remembers it or not.
func TestLease_Put_AfterCollectStoresAgain(t *testing.T) {
	path := t.TempDir() + "/store.pf"
	_, s := openStore(t, path, Options{})
	blobs := [][]byte{payload(1, 16<<10), payload(2, 4<<10), []byte(`{"a":1}`)}
	put := func() []manifest.Digest {
		t.Helper()
		l := s.NewLease()
		ds, err := l.PutBatch(ctx, blobs)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		return ds
	}
	// A blob the collection keeps, so that blobs/ is not empty after it
	// (a lease puts into an empty bucket without looking).
	kept, err := s.PutBytes(ctx, payload(3, 1<<10))
	if err != nil {
		t.Fatal(err)
	}
	ds := put()
	for i, d := range ds {
		if got, err := s.Get(ctx, d); err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d after the first put: %v", i, err)
		}
	}
	s.committed.mu.RLock()
	remembered := len(s.committed.blobs)
	s.committed.mu.RUnlock()
	if remembered != len(blobs)+1 {
		t.Fatalf("%d blobs remembered as committed; want %d", remembered, len(blobs)+1)
	}
	put() // found in what is remembered
	if _, err := s.Collect(ctx, CollectOptions{}, func(_ *bolt.Tx, keep func(manifest.Digest)) error {
		keep(kept)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if ok, err := s.Has(ctx, d); err != nil || ok {
			t.Fatalf("blob %s after a collection that kept nothing: has %v, %v", d.Short(), ok, err)
		}
	}
	ds = put()
	for i, d := range ds {
		if got, err := s.Get(ctx, d); err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d put again after the collection: %v", i, err)
		}
	}
}
