package cas

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkLease_PutBytes_4MiB puts 64 blobs of 4 MiB of random bytes the
// caller holds, PutBytes by PutBytes in one lease, and commits: the path
// of a large blob in memory, which PutBytes hashes whole first to find it
// stored without cutting it.
func BenchmarkLease_PutBytes_4MiB(b *testing.B) {
	benchPut4MiB(b, 3, func(l *Lease, blob []byte) error {
		_, err := l.PutBytes(ctx, blob)
		return err
	})
}

// BenchmarkLease_PutBatch_4MiB puts 64 blobs of 4 MiB of random bytes the
// caller holds, a PutBatch each in one lease, and commits, as a program
// ingesting large blobs through pf.PutAll 4 MiB at a time does (the
// ingest-4m-random job of pf-bench): each blob hashed whole while it is
// cut and its chunks hashed, written early in the store's windows.
func BenchmarkLease_PutBatch_4MiB(b *testing.B) {
	benchPut4MiB(b, 4, func(l *Lease, blob []byte) error {
		_, err := l.PutBatch(ctx, [][]byte{blob})
		return err
	})
}

// benchPut4MiB puts 64 blobs of 4 MiB of random bytes (from seed) with
// put, one after another in one lease of a new store, and commits.
func benchPut4MiB(b *testing.B, seed byte, put func(l *Lease, blob []byte) error) {
	blobs := make([][]byte, 64)
	rng := rand.NewChaCha8([32]byte{seed})
	for i := range blobs {
		blobs[i] = make([]byte, 4<<20)
		rng.Read(blobs[i])
	}
	b.SetBytes(int64(len(blobs)) << 22)
	for b.Loop() {
		b.StopTimer()
		_, s := openStore(b, "", Options{})
		b.StartTimer()
		l := s.NewLease()
		for _, blob := range blobs {
			if err := put(l, blob); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Commit(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
