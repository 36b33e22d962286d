package bench

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
)

// BenchmarkBolt_Get_16KiBJSON reads blobs of 16 KiB of JSON lines in
// random order from a store of 10,000 of them, the ingest-16k-jsonl job's
// own bytes (jsonlCorpus), put as that job puts them (one lease, a batch
// of 4 MiB at a time) and read back as it reads them: one op is one Get.
func BenchmarkBolt_Get_16KiBJSON(b *testing.B) {
	ctx := context.Background()
	const (
		blobs = 10000
		size  = 16 << 10
		batch = (4 << 20) / size
	)
	d, err := db.Open(filepath.Join(b.TempDir(), "store.pf"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	s := cas.New(d, cas.Options{})
	data := jsonlCorpus(blobs * size).data
	l := s.NewLease()
	ds := make([]manifest.Digest, 0, blobs)
	for start := 0; start < blobs; start += batch {
		values := make([][]byte, 0, batch)
		for i := start; i < min(start+batch, blobs); i++ {
			values = append(values, data[i*size:(i+1)*size])
		}
		got, err := l.PutBatch(ctx, values)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, got...)
	}
	if err := l.Commit(ctx, nil); err != nil {
		b.Fatal(err)
	}
	order := rand.New(rand.NewPCG(blobs, 7)).Perm(blobs)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, ds[order[i%blobs]]); err != nil {
			b.Fatal(err)
		}
	}
}
