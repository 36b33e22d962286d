package bench

import (
	"crypto/sha256"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Baselines measured beside the store's benchmarks, so that a figure can
// be quoted as a ratio from one run on a noisy machine: what hashing
// alone, and bbolt alone, cost for the same bytes.

// BenchmarkSnapshot_Baseline_SHA256 hashes the fixture's blobs: the part
// of any snapshot no store can skip.
func BenchmarkSnapshot_Baseline_SHA256(b *testing.B) {
	f := fixture.New(fixture.Options{Seed: 1})
	b.SetBytes(f.Bytes())
	for b.Loop() {
		for _, blob := range f.Blobs() {
			sha256.Sum256(blob.Data)
		}
	}
}

// BenchmarkSnapshot_Baseline_WarmFloor is the least any store that names
// blobs by SHA-256 and commits durably with bbolt can do for a warm
// snapshot of the fixture: hash every blob on every core, then commit one
// manifest-sized value. It reports the median, as BenchmarkSnapshot_Warm
// does, so the two compare directly.
func BenchmarkSnapshot_Baseline_WarmFloor(b *testing.B) { benchWarmFloor(b, 0) }

// BenchmarkSnapshot_Baseline_WarmFloorAfterPause is the floor under
// BenchmarkSnapshot_WarmAfterPause: the same work after 20 ms idle.
func BenchmarkSnapshot_Baseline_WarmFloorAfterPause(b *testing.B) {
	benchWarmFloor(b, 20*time.Millisecond)
}

func benchWarmFloor(b *testing.B, pause time.Duration) {
	f := fixture.New(fixture.Options{Seed: 1})
	var blobs [][]byte
	for _, blob := range f.Blobs() {
		blobs = append(blobs, blob.Data)
	}
	db := openBolt(b, filepath.Join(b.TempDir(), "floor.db"))
	defer closeAndRemoveBolt(b, db)
	manifest := make([]byte, 1<<10)
	b.SetBytes(f.Bytes())
	b.ResetTimer()
	timeEach(b, pause, func(i int) {
		hashAll(blobs)
		err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("blobs")).Put(fmt.Appendf(nil, "image %d", i), manifest)
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkSnapshot_Baseline_Bolt writes the fixture's blobs, keyed by
// their digests, as plain values of one bucket into a fresh bbolt file in
// one transaction: bbolt used the obvious way for a cold snapshot, fsyncs
// included, without hashing or compressing.
func BenchmarkSnapshot_Baseline_Bolt(b *testing.B) {
	f := fixture.New(fixture.Options{Seed: 1})
	blobs := f.Blobs()
	b.SetBytes(f.Bytes())
	benchBoltWrite(b, func(root *bolt.Bucket) error {
		for _, blob := range blobs {
			if err := root.Put(blob.Digest[:], blob.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkIngest_Baseline_Bolt writes the ingest's 10,000 blobs of
// 16 KiB as plain values of one bucket in one transaction: bbolt alone,
// as BenchmarkIngest_10000x16KiB_Random quotes it.
func BenchmarkIngest_Baseline_Bolt(b *testing.B) {
	data := corpusOf(kindRandom).data[:ingestBytes]
	keys := make([][32]byte, ingestBlobs)
	for i := range keys {
		keys[i] = sha256.Sum256(data[i*ingestBlobSize : (i+1)*ingestBlobSize])
	}
	b.SetBytes(ingestBytes)
	benchBoltWrite(b, func(root *bolt.Bucket) error {
		for i, k := range keys {
			if err := root.Put(k[:], data[i*ingestBlobSize:(i+1)*ingestBlobSize]); err != nil {
				return err
			}
		}
		return nil
	})
}

// benchBoltWrite times write, in one transaction of a fresh bbolt file
// each iteration, commit and fsyncs included; making and deleting the
// file are not timed.
func benchBoltWrite(b *testing.B, write func(root *bolt.Bucket) error) {
	dir := b.TempDir()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		db := openBolt(b, filepath.Join(dir, fmt.Sprintf("%d.db", i)))
		b.StartTimer()
		if err := db.Update(func(tx *bolt.Tx) error { return write(tx.Bucket([]byte("blobs"))) }); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		closeAndRemoveBolt(b, db)
		b.StartTimer()
	}
}

// openBolt opens a bbolt file with the options pf uses.
func openBolt(b *testing.B, path string) *bolt.DB {
	db, err := bolt.Open(path, 0o600, &bolt.Options{InitialMmapSize: 1 << 30, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("blobs")); return err }); err != nil {
		b.Fatal(err)
	}
	return db
}

// closeAndRemoveBolt closes db and deletes its file: a long run that kept
// them would leave gigabytes for the kernel to write back while the next
// benchmarks run.
func closeAndRemoveBolt(b *testing.B, db *bolt.DB) {
	path := db.Path()
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		b.Fatal(err)
	}
}
