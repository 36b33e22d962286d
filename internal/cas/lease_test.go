package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	cdc "github.com/PlakarKorp/go-cdc-chunkers"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

var ctx = context.Background()

func openStore(t testing.TB, path string, opts Options) (*db.DB, *Bolt) {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "store.pf")
	}
	d, err := db.Open(path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, New(d, opts)
}

func provisionalCount(t *testing.T, d *db.DB) int {
	t.Helper()
	n := 0
	if err := d.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(db.BucketProvisional).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func has(t *testing.T, s *Bolt, d manifest.Digest) bool {
	t.Helper()
	ok, err := s.Has(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestLease_AbortDeletesWhatItSpilled(t *testing.T) {
	d, s := openStore(t, "", Options{SpillBytes: 1}) // every put spills
	l := s.NewLease()
	var ds []manifest.Digest
	for i := 0; i < 5; i++ {
		dg, err := l.PutBytes(ctx, payload(uint64(i+1), 10000))
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, dg)
	}
	l.waitSpill()
	// Written early, each in a pack that no one finds before the commit.
	if st := checkPacked(t, d); len(st.early) != 5 || len(st.packMarks) != 5 || has(t, s, ds[0]) {
		t.Fatalf("after the early writes: %d early packs, %d marks, first blob found %v; want 5, 5, false",
			len(st.early), len(st.packMarks), has(t, s, ds[0]))
	}
	if err := l.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, dg := range ds {
		if has(t, s, dg) {
			t.Fatalf("blob %s survived its lease's abort", dg.Short())
		}
	}
	if st := checkPacked(t, d); st.marks() != 0 || len(st.early) != 0 || len(st.packs) != 0 {
		t.Fatalf("after the abort: %d marks, %d early packs, %d packs left", st.marks(), len(st.early), len(st.packs))
	}
}

func TestLease_CommitKeepsWhatItSpilled(t *testing.T) {
	d, s := openStore(t, "", Options{SpillBytes: 1})
	l := s.NewLease()
	dg, err := l.PutBytes(ctx, payload(7, 10000))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !has(t, s, dg) || provisionalCount(t, d) != 0 {
		t.Fatal("committed lease's blob missing or still provisional")
	}
}

func TestLease_CommitFailureIsAbort(t *testing.T) {
	_, s := openStore(t, "", Options{SpillBytes: 1})
	l := s.NewLease()
	spilled, _ := l.PutBytes(ctx, payload(8, 10000))
	staged, _ := l.PutBytes(ctx, []byte("staged"))
	boom := errors.New("boom")
	if err := l.Commit(ctx, func(*bolt.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Commit: %v", err)
	}
	if has(t, s, spilled) || has(t, s, staged) {
		t.Fatal("a failed commit left its blobs behind")
	}
}

// A blob that two leases put survives the abort of the one that wrote it
// first. A value too large to pack is written early where others find
// it, and the other lease's hold keeps it; a packed one is found by no
// one before its lease commits, so the other lease stores its own.
func TestLease_AbortSparesHeldByOthers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		size    int
		visible bool // the other lease finds the early write
	}{
		{"packed", 10000, false},
		{"alone", 300 << 10, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, s := openStore(t, "", Options{SpillBytes: 1})
			b := payload(9, tt.size)
			a, other := s.NewLease(), s.NewLease()
			dg, _ := a.PutBytes(ctx, b)
			a.waitSpill()
			if has(t, s, dg) != tt.visible {
				t.Fatalf("blob written early found %v, want %v", !tt.visible, tt.visible)
			}
			if _, err := other.PutBytes(ctx, b); err != nil {
				t.Fatal(err)
			}
			if err := a.Abort(); err != nil {
				t.Fatal(err)
			}
			if has(t, s, dg) != tt.visible {
				t.Fatalf("after the abort, blob found %v, want %v", !tt.visible, tt.visible)
			}
			if err := other.Commit(ctx, nil); err != nil {
				t.Fatal(err)
			}
			readsBack(t, s, dg, b)
			if st := checkPacked(t, d); st.marks() != 0 || st.blobs != 1 {
				t.Fatalf("after the holder committed: %d marks, %d blobs", st.marks(), st.blobs)
			}
		})
	}
}

// A committed blob is never deleted by an abort, even one whose lease
// also put it.
func TestLease_AbortSparesCommitted(t *testing.T) {
	_, s := openStore(t, "", Options{SpillBytes: 1})
	b := payload(10, 10000)
	dg, err := s.PutBytes(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	l := s.NewLease()
	l.PutBytes(ctx, b)
	l.Abort()
	if !has(t, s, dg) {
		t.Fatal("abort deleted a committed blob")
	}
}

func TestLease_UseAfterDone(t *testing.T) {
	_, s := openStore(t, "", Options{})
	l := s.NewLease()
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.PutBytes(ctx, []byte("late")); !errors.Is(err, ErrLeaseDone) {
		t.Fatalf("put after commit: %v", err)
	}
	if err := l.Commit(ctx, nil); !errors.Is(err, ErrLeaseDone) {
		t.Fatalf("second commit: %v", err)
	}
}

// Aborts racing with puts of the same bytes in other leases: whatever a
// committed lease put must be readable afterwards.
func TestLease_AbortRacesDedupe(t *testing.T) {
	_, s := openStore(t, "", Options{SpillBytes: 1})
	shared := payload(11, 8000)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				l := s.NewLease()
				dg, err := l.PutBytes(ctx, shared)
				if err != nil {
					errs <- err
					return
				}
				if (w+i)%2 == 0 {
					l.Abort()
					continue
				}
				if err := l.Commit(ctx, nil); err != nil {
					errs <- err
					return
				}
				if got, err := s.Get(ctx, dg); err != nil || !bytes.Equal(got, shared) {
					errs <- errors.New("committed blob unreadable after racing aborts")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestBolt_ReclaimAbandoned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.pf")
	d, s := openStore(t, path, Options{SpillBytes: 1})
	kept, _ := s.PutBytes(ctx, []byte("kept"))
	l := s.NewLease()
	lost, _ := l.PutBytes(ctx, payload(12, 9000))
	l.waitSpill()
	// The process "dies" here: the lease is never committed or aborted.
	d.Close()
	_, s = openStore(t, path, Options{})
	n, err := s.ReclaimAbandoned(ctx)
	if err != nil || n != 1 {
		t.Fatalf("reclaimed %d, %v; want 1", n, err)
	}
	if has(t, s, lost) || !has(t, s, kept) {
		t.Fatal("reclaim removed the wrong blobs")
	}
}

// An edit in the middle of a large blob stores only the chunks around it
// again.
func TestBolt_ChunkDedupe(t *testing.T) {
	d, s := openStore(t, "", Options{})
	b := payload(13, 24<<20)
	if _, err := s.Put(ctx, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	stored := func() int64 {
		var n int64
		d.View(func(tx *bolt.Tx) error { n = db.Counter(tx, db.CounterStored); return nil })
		return n
	}
	before := stored()
	edited := bytes.Clone(b)
	copy(edited[12<<20:], []byte("an edit in the middle of the blob"))
	dg, err := s.Put(ctx, bytes.NewReader(edited))
	if err != nil {
		t.Fatal(err)
	}
	added := stored() - before
	if added > 3*chunkMax {
		t.Fatalf("a 33-byte edit added %d bytes to a %d-byte blob", added, len(b))
	}
	got, err := s.Get(ctx, dg)
	if err != nil || !bytes.Equal(got, edited) {
		t.Fatalf("edited blob read back wrong: %v", err)
	}
	t.Logf("edit added %d bytes (%.1f%% of the blob)", added, 100*float64(added)/float64(len(b)))
}

func TestBolt_CorruptChunkNamed(t *testing.T) {
	d, s := openStore(t, "", Options{})
	b := payload(14, 10<<20)
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// Damage one byte of one chunk.
	err = d.Update(ctx, func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(db.BucketChunks).Cursor().First()
		return damageChunk(tx, manifest.Digest(k))
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, dg)
	if !errors.Is(err, db.ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(dg.Hex())) {
		t.Fatalf("reading a damaged chunk: %v", err)
	}
}

// A blob just over InlineMax that the chunker leaves whole is stored as
// one value and reads back (it was once held as its own chunk, and lost).
func TestLease_BlobOfOneChunk(t *testing.T) {
	_, s := openStore(t, "", Options{})
	for seed := uint64(0); seed < 20; seed++ {
		b := payload(100+seed, InlineMax+200<<10)
		l := s.NewLease()
		d, err := l.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if size, ok := l.Size(d); !ok || size != int64(len(b)) {
			t.Fatalf("lease size %d, %v", size, ok)
		}
		if err := l.Commit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, d)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// A small blob whose bytes are also the last chunk of a large blob: the
// two values share a digest and live apart.
func TestLease_BlobThatIsAlsoAChunk(t *testing.T) {
	_, s := openStore(t, "", Options{SpillBytes: 1})
	b := payload(31, 10000)
	d := manifest.Sum(b)
	asChunk := func(l *Lease) error { return l.putValue(ctx, db.BucketChunks, pendingValue{digest: d, data: b}) }

	// The blob committed on its own; a lease writes the same bytes early
	// as a chunk, then aborts: the committed blob stays.
	if _, err := s.PutBytes(ctx, b); err != nil {
		t.Fatal(err)
	}
	l := s.NewLease()
	if err := asChunk(l); err != nil {
		t.Fatal(err)
	}
	l.waitSpill()
	l.Abort()
	if got, err := s.Get(ctx, d); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("the committed blob after an abort: %v", err)
	}

	// One lease puts both values of the digest: both are written.
	_, s = openStore(t, "", Options{})
	l = s.NewLease()
	if err := asChunk(l); err != nil {
		t.Fatal(err)
	}
	if _, err := l.PutBytes(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if !hasValue(tx.Bucket(db.BucketBlobs), d) || !hasValue(tx.Bucket(db.BucketChunks), d) {
			t.Error("one of the two values of the digest was not written")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An early write started by a put whose context then ends still lands:
// the snapshot's captures cancel their context once they return, before
// Commit.
func TestLease_SpillOutlivesPutContext(t *testing.T) {
	_, s := openStore(t, "", Options{SpillBytes: 1})
	for i := 0; i < 20; i++ {
		c, cancel := context.WithCancel(ctx)
		l := s.NewLease()
		d, err := l.PutBytes(c, payload(uint64(200+i), 64<<10))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(ctx, nil); err != nil {
			t.Fatalf("commit after the put's context ended: %v", err)
		}
		if ok, _ := s.Has(ctx, d); !ok {
			t.Fatal("blob missing")
		}
	}
}

// A compressible blob of several chunks reads back whole: Get decodes the
// chunks one after another into one buffer, past the decoder's per-frame
// limit in all (it once refused at 4 MiB).
func TestBolt_GetCompressibleChunked(t *testing.T) {
	_, s := openStore(t, "", Options{})
	var b []byte
	for i := 0; len(b) < 12<<20; i++ {
		b = fmt.Appendf(b, `{"turn":%d,"role":"assistant","tokens":%d,"text":"%x"}`+"\n", i, i*7%1000, i*2654435761)
	}
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, dg)
	if err != nil || info.Chunks < 3 || info.Stored >= int64(len(b))/2 {
		t.Fatalf("stat %+v, %v: want several chunks, compressed", info, err)
	}
	got, err := s.Get(ctx, dg)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
}

// failingReader yields a payload and calls fail once, when the reader
// has read after bytes of it; a non-nil error from fail ends the read.
type failingReader struct {
	r      io.Reader
	after  int
	read   int
	failed bool
	fail   func() error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.failed && f.read >= f.after {
		f.failed = true
		if err := f.fail(); err != nil {
			return 0, err
		}
	}
	n, err := f.r.Read(p)
	f.read += n
	return n, err
}

// A chunked put that fails part way, whichever of its stages sees the
// failure, returns the failure and leaves no stage running.
func TestLease_PutChunked_StopsOnFailure(t *testing.T) {
	errDisk := errors.New("disk gone")
	tests := []struct {
		name string
		fail func(l *Lease, cancel context.CancelFunc) error
		want error
	}{
		{"read error", func(*Lease, context.CancelFunc) error { return errDisk }, errDisk},
		{"context cancelled", func(_ *Lease, cancel context.CancelFunc) error { cancel(); return nil }, context.Canceled},
		{"lease aborted", func(l *Lease, _ context.CancelFunc) error { l.Abort(); return nil }, ErrLeaseDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := openStore(t, "", Options{})
			before := runtime.NumGoroutine()
			l := s.NewLease()
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			r := &failingReader{r: bytes.NewReader(payload(31, 40<<20)), after: 12 << 20, fail: func() error { return tt.fail(l, cancel) }}
			_, err := l.Put(c, r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("put: %v, want %v", err, tt.want)
			}
			l.Abort()
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Fatalf("%d goroutines after the put, %d before", n, before)
			}
		})
	}
}

// A chunked put gives the same digest and bytes however the reader cuts
// what it yields: the stages see the chunks in order.
func TestLease_PutChunked_Order(t *testing.T) {
	_, s := openStore(t, "", Options{})
	b := payload(37, 30<<20)
	l := s.NewLease()
	d, err := l.Put(ctx, iotest.OneByteReader(io.LimitReader(bytes.NewReader(b), 3<<20)))
	if err != nil {
		t.Fatal(err)
	}
	if d != manifest.Sum(b[:3<<20]) {
		t.Fatal("a blob read a byte at a time has another digest")
	}
	d, err = l.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, d)
	if err != nil || !bytes.Equal(got, b) || d != manifest.Sum(b) {
		t.Fatalf("a 30 MiB blob read back wrong: %v", err)
	}
}

// deleteValueIn deletes d from bucket as a collection does.
func deleteValueIn(tx *bolt.Tx, bucket []byte, d manifest.Digest) error {
	bk, err := openBuckets(tx)
	if err != nil {
		return err
	}
	return bk.delete(refIn(bucket, d))
}

// isHeld reports whether a live lease holds d.
func isHeld(s *Bolt, d manifest.Digest) bool {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	return s.holds.held(d)
}

// TestLease_PutChunked_CutsWhereTheLibraryDoes checks that a put cuts a
// blob where the chunking library's own chunker does with a buffer of
// the smallest size it takes, whatever the size of the put's scan buffer
// and of the reads that feed it: dedupe across stores and versions
// depends on the cut points never moving.
func TestLease_PutChunked_CutsWhereTheLibraryDoes(t *testing.T) {
	b := payload(41, 40<<20)
	var want []int64
	ch, err := cdc.NewChunkerBuffer(chunkAlgorithm, bytes.NewReader(b),
		&cdc.ChunkerOpts{MinSize: chunkMin, NormalSize: chunkNormal, MaxSize: chunkMax}, make([]byte, chunkMax))
	if err != nil {
		t.Fatal(err)
	}
	for {
		c, err := ch.Next()
		for _, p := range storedPieces(c) {
			want = append(want, int64(len(p)))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"whole reads", func() io.Reader { return bytes.NewReader(b) }},
		{"short reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, s := openStore(t, "", Options{})
			d, err := s.Put(ctx, tc.r())
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := s.Chunks(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, c := range chunks {
				got = append(got, c.Size)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("cut into %v, the library cuts %v", got, want)
			}
		})
	}
}

// A commit makes its last staged packs permanent with the packs its lease
// wrote early, in the same pass: every value found once, no mark or early
// pack left, the counters and packlive/ entries right, and a value that
// another lease stored meanwhile kept once, as dead bytes in this one's
// pack.
func TestLease_Commit_LastPacksWithEarlyOnes(t *testing.T) {
	d, s := openStore(t, "", Options{SpillBytes: 1 << 20})
	l := s.NewLease()
	blobs := map[manifest.Digest][]byte{}
	for i := range 3000 {
		b := payload(uint64(1000+i), 1000) // random: raw, packed
		dg, err := l.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		blobs[dg] = b
	}
	l.waitSpill()
	if st := checkPacked(t, d); len(st.early) == 0 {
		t.Fatal("no early pack written: the test needs both kinds")
	}
	// The last value staged, stored by another lease before this one
	// commits.
	shared := payload(4000, 1000)
	sd, err := l.PutBytes(ctx, shared)
	if err != nil {
		t.Fatal(err)
	}
	blobs[sd] = shared
	if _, err := s.PutBytes(ctx, shared); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	st := checkPacked(t, d)
	if st.marks() != 0 || len(st.early) != 0 {
		t.Fatalf("after the commit: %d marks, %d early packs; want none", st.marks(), len(st.early))
	}
	if st.packed != len(blobs) || st.blobs != int64(len(blobs)) {
		t.Fatalf("%d values packed, %d blobs counted; want %d", st.packed, st.blobs, len(blobs))
	}
	for dg, b := range blobs {
		if got, err := s.Get(ctx, dg); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("Get %s: %d bytes of %d, %v", dg.Short(), len(got), len(b), err)
		}
	}
}

// A PutBatch of large blobs the caller holds stores each as a streamed
// Put does: the blob's digest, the same chunks, each under the digest of
// its own bytes (the first one's taken from the blob's hash), and the
// blob read back whole, in a batch with a small blob and with early
// writes.
func TestLease_PutBatch_LargeBlobsAsPutStoresThem(t *testing.T) {
	blobs := [][]byte{
		payload(51, InlineMax+1), payload(52, 100), payload(53, 3*chunkMax+17),
		payload(54, 9<<20),
		bytes.Repeat(payload(55, 4096), 2<<10), // 8 MiB of one run: chunks that repeat in the blob
	}
	_, batched := openStore(t, "", Options{SpillBytes: 1 << 20}) // writes early too
	_, streamed := openStore(t, "", Options{})
	l := batched.NewLease()
	ds, err := l.PutBatch(ctx, blobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for i, b := range blobs {
		if ds[i] != manifest.Sum(b) {
			t.Fatalf("blob %d (%d bytes): digest %s, want the blob's", i, len(b), ds[i].Short())
		}
		want, err := streamed.Put(ctx, bytes.NewReader(b))
		if err != nil || want != ds[i] {
			t.Fatalf("blob %d: streamed put = %s, %v", i, want.Short(), err)
		}
		got, err := batched.Chunks(ctx, ds[i])
		if err != nil {
			t.Fatal(err)
		}
		wantChunks, err := streamed.Chunks(ctx, want)
		if err != nil || !slices.Equal(got, wantChunks) {
			t.Fatalf("blob %d: chunks %v, a streamed put's %v (%v)", i, got, wantChunks, err)
		}
		off := int64(0)
		for j, c := range got {
			if c.Digest != manifest.Sum(b[off:off+c.Size]) {
				t.Fatalf("blob %d: chunk %d is not under the digest of its bytes", i, j)
			}
			off += c.Size
		}
		if back, err := batched.Get(ctx, ds[i]); err != nil || !bytes.Equal(back, b) {
			t.Fatalf("blob %d reads back %d bytes, %v", i, len(back), err)
		}
	}
}

// A lease's holds go with it, and only its own: another lease holding
// some of the same blobs keeps them held until it ends too, however the
// two end (a commit, an abort, the lone holder or not).
func TestLease_ReleaseKeepsOtherLeasesHolds(t *testing.T) {
	_, s := openStore(t, "", Options{})
	shared, own := payload(51, 3000), payload(52, 3000)
	a, b := s.NewLease(), s.NewLease()
	for _, put := range []struct {
		l    *Lease
		blob []byte
	}{{a, shared}, {b, shared}, {b, own}} {
		if _, err := put.l.PutBytes(ctx, put.blob); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !isHeld(s, manifest.Sum(shared)) || !isHeld(s, manifest.Sum(own)) {
		t.Fatal("a commit dropped another lease's holds")
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	if isHeld(s, manifest.Sum(shared)) || isHeld(s, manifest.Sum(own)) {
		t.Fatal("a blob still held once every lease ended")
	}
	c := s.NewLease()
	if _, err := c.PutBytes(ctx, own); err != nil {
		t.Fatal(err)
	}
	if !isHeld(s, manifest.Sum(own)) {
		t.Fatal("a lease after the lone holder's release holds nothing")
	}
	if err := c.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if isHeld(s, manifest.Sum(own)) {
		t.Fatal("the lone lease's commit left its blob held")
	}
}
