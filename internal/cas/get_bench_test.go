package cas

import (
	"math/rand/v2"
	"testing"

	"github.com/processfork/pf/manifest"
)

// BenchmarkBolt_Get_4MiB reads random 4 MiB blobs in random order, as
// pf-bench's ingest-4m-random job reads them back: one op is one Get. It
// reports the page faults a Get takes (faults/op): the pages of the store
// file bbolt reads a chunk's head through, and those of the result that
// the runtime had given back to the system.
func BenchmarkBolt_Get_4MiB(b *testing.B) {
	_, s := openStore(b, "", Options{})
	const blobs = 32
	ds := make([]manifest.Digest, blobs)
	for i := range ds {
		d, err := s.PutBytes(ctx, payload(uint64(i+1), 4<<20))
		if err != nil {
			b.Fatal(err)
		}
		ds[i] = d
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(blobs)
	b.SetBytes(4 << 20)
	b.ResetTimer()
	before, counted := minorFaults()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, ds[order[i%blobs]]); err != nil {
			b.Fatal(err)
		}
	}
	if after, ok := minorFaults(); counted && ok {
		b.ReportMetric(float64(after-before)/float64(b.N), "faults/op")
	}
}
