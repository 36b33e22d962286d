package pf_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

func TestStore_GC_DeletesOnlyUnreached(t *testing.T) {
	s := openStore(t)
	w := files(1, 20)
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w})
	if err != nil {
		t.Fatal(err)
	}
	orphan, _ := s.Blobs().PutBytes(ctx, []byte("nobody names me"))
	bigOrphan, _ := s.Blobs().Put(ctx, bytes.NewReader(castest.Payload(3, 5<<20)))
	before, _ := s.Stats(ctx)

	dry, err := s.GC(ctx, pf.GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Stats(ctx); after != before {
		t.Fatal("a dry run changed the store")
	}
	rep, err := s.GC(ctx, pf.GCOptions{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 2 || rep.Chunks == 0 || rep.Bytes <= 5<<20 || rep != dry {
		t.Fatalf("gc report %+v (dry run said %+v)", rep, dry)
	}
	for _, d := range []manifest.Digest{orphan, bigOrphan} {
		if ok, _ := s.Blobs().Has(ctx, d); ok {
			t.Fatalf("orphan %s survived", d.Short())
		}
	}
	checkImage(t, s, id)
	after, _ := s.Stats(ctx)
	if after.Stored != before.Stored-rep.Bytes || after.Chunks != 0 {
		t.Fatalf("counters after gc: %+v, before %+v, freed %d", after, before, rep.Bytes)
	}
}

// A tree that cannot be read stops the collection before it deletes
// anything: the reference deleted a broken tree's files.
func TestStore_GC_FailsClosed(t *testing.T) {
	s := openStore(t)
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(2, 5)})
	if err != nil {
		t.Fatal(err)
	}
	orphan, _ := s.Blobs().PutBytes(ctx, []byte("garbage"))
	img, _ := s.Image(ctx, id)
	corruptBlob(t, s, img.Manifest.World.FS)
	// A new process: nothing it remembers of the tree from the commit.
	path := s.Path()
	s.Close()
	s, err = pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.GC(ctx, pf.GCOptions{})
	if !errors.Is(err, pf.ErrCorrupt) {
		t.Fatalf("gc over a damaged tree: %v", err)
	}
	if ok, _ := s.Blobs().Has(ctx, orphan); !ok {
		t.Fatal("gc deleted something although it could not mark")
	}
}

// Snapshots committing while collections run never lose a blob, even
// blobs that were garbage when the collection began and that a snapshot
// then found stored and reused.
func TestStore_GC_BesideWriters(t *testing.T) {
	s := openStore(t)
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for round := 0; round < rounds; round++ {
		// Garbage that the next snapshots will reuse.
		garbage := files(uint64(100+round), 30)
		for _, b := range garbage.files {
			if _, err := s.Blobs().PutBytes(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		ids := make(chan manifest.Digest, 16)
		errs := make(chan error, 16)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				world := garbage
				if w%2 == 1 {
					world = files(uint64(round*10+w), 10)
				}
				id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: world, Trace: trace{lines: []byte(fmt.Sprint(round, w))}})
				if err != nil {
					errs <- err
					return
				}
				ids <- id
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.GC(ctx, pf.GCOptions{BatchSize: 1 + rand.IntN(8)}); err != nil {
				errs <- err
			}
		}()
		wg.Wait()
		close(ids)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for id := range ids {
			checkImage(t, s, id)
		}
	}
	// Everything committed is still whole after a last, quiet collection.
	if _, err := s.GC(ctx, pf.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	if st.Images != int64(rounds*4) {
		t.Fatalf("%d images, want %d", st.Images, rounds*4)
	}
}

// corruptBlob flips the last byte of blob d's stored value, as a bad disk
// sector would.
func corruptBlob(t *testing.T, s *pf.Store, d manifest.Digest) {
	t.Helper()
	err := pf.StoreDB(s).Update(ctx, func(tx *bolt.Tx) error { return castest.Damage(tx, db.BucketBlobs, d) })
	if err != nil {
		t.Fatal(err)
	}
}

// Deleting most of the values of a pack leaves it mostly dead bytes; the
// collection rewrites what is left into a new pack, and frees the old.
func TestStore_GC_RepacksSparse(t *testing.T) {
	s := openStore(t)
	kept := castest.Payload(10, 20000)
	l := s.Blobs().NewBatch()
	for i := range 8 {
		b := kept
		if i > 0 {
			b = castest.Payload(uint64(10+i), 20000)
		}
		if _, err := l.PutBytes(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(4, 3), Trace: trace{lines: kept}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.GC(ctx, pf.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 7 || rep.Repacked != 1 || rep.RepackedBytes < 7*20000 {
		t.Fatalf("gc report %+v, want 7 blobs deleted and their pack rewritten", rep)
	}
	checkImage(t, s, id)
	if vr, err := s.Verify(ctx, pf.VerifyOptions{Deep: true}); err != nil || len(vr.Problems) != 0 {
		t.Fatalf("verify after repacking: %v, %v", err, vr.Problems)
	}
	if rep, err := s.GC(ctx, pf.GCOptions{}); err != nil || rep.Repacked != 0 || rep.Blobs != 0 {
		t.Fatalf("second gc: %+v, %v", rep, err)
	}
}
