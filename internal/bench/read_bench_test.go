package bench

import (
	"context"
	"math/rand/v2"
	"os"
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

// BenchmarkRead_4MiBRandom reads random blobs of 4 MiB, the bytes of the
// ingest-4m-random job (its dataset's SplitMix64 stream), in random order, as that
// job's reads do: pf and the reference design, each from a store its own
// Ingest filled, and the row's limit (hashCopyEach) on the same blobs.
// One op is one blob read and verified. 32 blobs, not the job's 100: the
// store files stay in the page cache as the job's do, in less memory.
// Run the three in one binary (-count >= 10) and compare their medians:
// timings of separate runs on a shared machine differ by more than the
// systems do.
func BenchmarkRead_4MiBRandom(b *testing.B) {
	ctx := context.Background()
	const (
		count = 32
		size  = 4 << 20
	)
	// Outside the Go heap, as the job maps its dataset: 128 MiB of blobs
	// on the heap put off its collections, and each read's result then
	// faulted in fresh pages (400 faults a read, where pf-bench's take
	// about 15).
	path := filepath.Join(b.TempDir(), "blobs.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	err = dataset{kind: kindRandom, seed: seedLarge, bytes: count * size}.write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	data, unmap, err := mapFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer unmap()
	blobs := make([][]byte, count)
	for i := range blobs {
		blobs[i] = data[i*size : (i+1)*size]
	}
	order := rand.New(rand.NewPCG(count, 7)).Perm(count)
	for _, sys := range []system{pfSystem{}, refSystem{}} {
		b.Run(sys.Name(), func(b *testing.B) {
			dir := b.TempDir()
			st, err := sys.Open(ctx, dir)
			if err != nil {
				b.Fatal(err)
			}
			keys, err := st.Ingest(ctx, blobs)
			if err == nil {
				err = st.Close()
			}
			if err == nil {
				st, err = sys.Open(ctx, dir)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				if _, err := st.Get(ctx, keys[order[i%count]]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("limit", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			hashCopyEach(blobs[order[i%count] : order[i%count]+1])
		}
	})
}
