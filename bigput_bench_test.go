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
