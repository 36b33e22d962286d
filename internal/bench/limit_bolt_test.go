package bench

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/processfork/pf/internal/cas"
	bolt "go.etcd.io/bbolt"
)

// The cut + SHA-256 ×2 + bbolt limit writes every chunk a put cuts, each
// under its own digest, every byte once: cutHashIntoBolt returns the
// blob's digest and hands the blob back once, when its chunks have
// committed, and cutHashBoltAll stores every byte of the blobs.
func TestLimitCutHashBolt_StoresEveryChunkUnderItsDigest(t *testing.T) {
	ctx := context.Background()
	src := rand.NewChaCha8([32]byte{7})
	var blobs [][]byte
	chunks := 0
	for _, size := range []int{0, 1000, cas.InlineMax, cas.InlineMax + 1, 5 << 20, 9 << 20} {
		b := make([]byte, size)
		src.Read(b)
		blobs = append(blobs, b)
		if err := cas.Cut(b, func([]byte) { chunks++ }); err != nil {
			t.Fatal(err)
		}
	}

	w, err := newBoltWriter(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	released := make([]atomic.Int32, len(blobs))
	for i, b := range blobs {
		got, err := cutHashIntoBolt(w, b, func() { released[i].Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		if got != sha256.Sum256(b) {
			t.Errorf("%d bytes: digest %x, want the blob's", len(b), got)
		}
	}
	if err := w.finish(false); err != nil {
		t.Fatal(err)
	}
	for i := range blobs {
		if n := released[i].Load(); n != 1 {
			t.Errorf("%d bytes: handed back %d times once committed, want once", len(blobs[i]), n)
		}
	}
	values := 0
	err = w.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(boltWriterBucket)
		return bk.ForEachBucket(func(k []byte) error {
			values++
			if sum := sha256.Sum256(bk.Bucket(k).Get(valueKey)); string(sum[:]) != string(k) {
				t.Errorf("the value under %x hashes to %x", k, sum)
			}
			return nil
		})
	})
	if err != nil || values != chunks {
		t.Errorf("%d values, %v; want the %d chunks a put cuts", values, err, chunks)
	}
	if stored, err := w.stored(); err != nil || stored != totalBytes(blobs) {
		t.Errorf("%d bytes stored, %v; want %d", stored, err, totalBytes(blobs))
	}

	for round := range 2 { // a new file each round
		d, stored, err := cutHashBoltAll(ctx, t.TempDir(), blobs)
		if err != nil || d <= 0 || stored != totalBytes(blobs) {
			t.Fatalf("round %d: %v, %d bytes stored, %v; want %d bytes", round, d, stored, err, totalBytes(blobs))
		}
	}
}
