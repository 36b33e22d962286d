package pf_test

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
)

// BenchmarkBlobs_Put_256MiB streams one blob of random bytes into an
// empty store, as the bigblob job of pf-bench does with 1 GiB: the put
// path of a large blob (chunking, hashing, staging, early writes).
func BenchmarkBlobs_Put_256MiB(b *testing.B) {
	data := make([]byte, 256<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s, err := pf.Open(filepath.Join(b.TempDir(), "store.pf"), nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Blobs().Put(ctx, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlobs_PutAll_4MiB puts 64 blobs of 4 MiB of random bytes the
// caller holds, PutAll by PutAll in one batch, as the ingest-4m-random
// job of pf-bench does with 100.
func BenchmarkBlobs_PutAll_4MiB(b *testing.B) {
	blobs := make([][]byte, 64)
	rng := rand.NewChaCha8([32]byte{2})
	for i := range blobs {
		blobs[i] = make([]byte, 4<<20)
		rng.Read(blobs[i])
	}
	b.SetBytes(int64(len(blobs)) << 22)
	for b.Loop() {
		s, err := pf.Open(filepath.Join(b.TempDir(), "store.pf"), nil)
		if err != nil {
			b.Fatal(err)
		}
		l := s.Blobs().NewBatch()
		for _, blob := range blobs {
			if _, err := pf.PutAll(ctx, l, [][]byte{blob}); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
