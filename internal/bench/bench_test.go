package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/fixture"
	"github.com/processfork/pf/manifest"
)

// Benchmarks of the store. Each one that has a limit under it (hashing,
// compression) has a twin that measures that limit on the same bytes, so a
// ratio can be quoted from one run: absolute figures on the shared machines
// vary by a few percent for CPU and by a third for fsync.
//
// Setup stays outside the timer and bounded, so that
//
//	go test ./internal/bench -run '^$' -bench . -benchtime 1x
//
// finishes in a couple of minutes on two cores.

// openStoreAt opens a new store at path without registering a cleanup, for
// benchmarks that make and remove a store in every iteration.
func openStoreAt(tb testing.TB, path string) *pf.Store {
	tb.Helper()
	s, err := pf.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// closeAndRemove closes a store from openStoreAt and deletes its file, so
// that a long run does not fill the disk.
func closeAndRemove(tb testing.TB, s *pf.Store) {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Remove(s.Path()); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkSnapshot_Cold snapshots the fixture into an empty store: every
// blob is new, and the commit is durable. The reference's gate is 500 ms.
func BenchmarkSnapshot_Cold(b *testing.B) {
	f := fixture.New(fixture.Options{Seed: 1})
	dir := b.TempDir()
	// Warm the process, not the store: the first snapshot a process takes
	// builds the shared zstd encoder, which no later one pays for.
	s := openStoreAt(b, filepath.Join(dir, "warm.pf"))
	snapshot(b, s, f)
	closeAndRemove(b, s)

	var stored int64
	took := make([]time.Duration, 0, b.N)
	b.SetBytes(f.Bytes())
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		s := openStoreAt(b, filepath.Join(dir, fmt.Sprintf("cold-%d.pf", i)))
		spec := f.Snapshot()
		spec.CreatedAt = nextTime()
		b.StartTimer()
		start := time.Now()
		if _, err := s.Snapshot(b.Context(), spec); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		stored = stats(b, s).Stored
		closeAndRemove(b, s)
		b.StartTimer()
	}
	b.ReportMetric(float64(stored), "stored-B/op")
	reportMedian(b, took)
}

// timeEach runs op b.N times, timing each run, and reports their median;
// with a pause, the process idles that long, untimed, before each run.
func timeEach(b *testing.B, pause time.Duration, op func(i int)) {
	took := make([]time.Duration, 0, b.N)
	for i := range b.N {
		if pause > 0 {
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
		}
		start := time.Now()
		op(i)
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	reportMedian(b, took)
}

// reportMedian reports the median of one timing per iteration. The goals
// for snapshots are medians; ns/op is a mean, which the rare fsync that
// takes ten times as long on this shared disk pulls up.
func reportMedian(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "median-ns/op")
}

// BenchmarkSnapshot_Warm snapshots the fixture into a store that already
// holds it, each image the child of the one before: every blob is present,
// so this is the cost of an agent snapshotting unchanged state. The
// reference measured 7.9 ms this way.
func BenchmarkSnapshot_Warm(b *testing.B) { benchWarm(b, 0) }

// BenchmarkSnapshot_WarmAfterPause is BenchmarkSnapshot_Warm with the
// process idle for 20 ms before each snapshot, as an agent that snapshots
// between steps is. On a virtual machine both halves pay for the pause: an
// idle CPU is slow to wake, so the hashing starts on one core, and the
// commit's fsyncs take longer (BenchmarkCommit_Baseline_BoltAfterPause).
func BenchmarkSnapshot_WarmAfterPause(b *testing.B) { benchWarm(b, 20*time.Millisecond) }

func benchWarm(b *testing.B, pause time.Duration) {
	f := fixture.New(fixture.Options{Seed: 1})
	b.SetBytes(f.Bytes())
	benchWarmWith(b, f, pause, (*fixture.Fixture).Snapshot)
}

// BenchmarkSnapshot_WarmUnchanged is BenchmarkSnapshot_Warm with captures
// that know their layers have not changed and return the fixture's parts
// without putting a byte: what an agent that tracks its dirty pages and
// files pays for a snapshot of unchanged state. The commit still checks
// every blob the parts name.
func BenchmarkSnapshot_WarmUnchanged(b *testing.B) {
	benchWarmWith(b, fixture.New(fixture.Options{Seed: 1}), 0, func(f *fixture.Fixture, parents ...manifest.Digest) pf.Snapshot {
		spec := f.Snapshot(parents...)
		c := unchangedCapture{f.Manifest(time.Time{})}
		spec.Model, spec.Cache, spec.World, spec.Effects, spec.Trace = c, c, c, c, c
		return spec
	})
}

// benchWarmWith snapshots f, as spec describes it, into a store that
// already holds it, each image the child of the one before.
func benchWarmWith(b *testing.B, f *fixture.Fixture, pause time.Duration, spec func(f *fixture.Fixture, parents ...manifest.Digest) pf.Snapshot) {
	s := openStore(b, nil)
	prev := snapshot(b, s, f)
	before := stats(b, s).Stored
	b.ResetTimer()
	timeEach(b, pause, func(int) {
		next := spec(f, prev)
		next.CreatedAt = nextTime()
		id, err := s.Snapshot(b.Context(), next)
		if err != nil {
			b.Fatal(err)
		}
		prev = id
	})
	b.ReportMetric(float64(stats(b, s).Stored-before)/float64(b.N), "stored-B/op")
}

// unchangedCapture returns the layer parts of a manifest and puts nothing.
type unchangedCapture struct{ m *manifest.Manifest }

func (c unchangedCapture) CaptureModel(context.Context, pf.BlobWriter) (manifest.Model, error) {
	return c.m.Model, nil
}

func (c unchangedCapture) CaptureCache(context.Context, pf.BlobWriter) (manifest.Cache, error) {
	return c.m.Cache, nil
}

func (c unchangedCapture) CaptureWorld(context.Context, pf.BlobWriter) (manifest.World, error) {
	return c.m.World, nil
}

func (c unchangedCapture) CaptureEffects(context.Context, pf.BlobWriter) (manifest.Effects, error) {
	return c.m.Effects, nil
}

func (c unchangedCapture) CaptureTrace(context.Context, pf.BlobWriter) (manifest.Trace, error) {
	return c.m.Trace, nil
}

// putSizes are the blob sizes of the put benchmarks: a small file, a cache
// page, a large file, the largest blob stored as one value (cas.InlineMax),
// and a chunked blob.
var putSizes = []struct {
	name string
	n    int
}{
	{"4KiB", 4 << 10},
	{"16KiB", 16 << 10},
	{"256KiB", 256 << 10},
	{"4MiB", 4 << 20},
	{"64MiB", 64 << 20},
}

// putBatch is how many bytes one iteration of a put benchmark puts: 16 MiB
// of blobs, or one blob if it is larger. Past cas.DefaultSpillBytes (8 MiB)
// a lease starts writing early, so the batch sees that path too.
func putBatch(size int) int { return max(size, 16<<20) }

// BenchmarkSnapshot_Forks12 snapshots 12 forks of the fixture, each
// differing from it in one page and one file in eight, as children of the
// base in a store holding only the base: pf-bench's forks row. Each
// iteration is the 12 forks into a new store.
func BenchmarkSnapshot_Forks12(b *testing.B) {
	base := fixture.New(fixture.Options{Seed: 1})
	forks := make([]*fixture.Fixture, 12)
	var bytes int64
	for k := range forks {
		forks[k] = fixture.New(fixture.Options{Seed: 1, Fork: k + 1, Differ: 1.0 / 8})
		bytes += forks[k].Bytes()
	}
	b.SetBytes(bytes)
	dir := b.TempDir()
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		s := openStoreAt(b, filepath.Join(dir, fmt.Sprintf("store%d.pf", round)))
		spec := base.Snapshot()
		spec.CreatedAt = fixture.Epoch
		id, err := s.Snapshot(b.Context(), spec)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for k, fk := range forks {
			spec := fk.Snapshot(id)
			spec.CreatedAt = fixture.Epoch.Add(time.Duration(k+1) * time.Second)
			if _, err := s.Snapshot(b.Context(), spec); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		closeAndRemove(b, s)
		b.StartTimer()
	}
}

// BenchmarkPut puts a batch of new blobs of one kind and size through one
// lease and commits it, durable. Compare with BenchmarkPut_Pipeline.
func BenchmarkPut(b *testing.B) {
	for _, kind := range []string{kindRandom, kindJSONL, kindFP16} {
		b.Run(kind, func(b *testing.B) {
			for _, size := range putSizes {
				b.Run(size.name, func(b *testing.B) {
					benchPut(b, nil, corpusOf(kind), size.n, putBatch(size.n))
				})
			}
		})
	}
}

// benchPut puts total bytes of c, cut into blobs of size, in each
// iteration, every blob new to the store. It reports puts a second and
// the store's compression ratio.
func benchPut(b *testing.B, opts *pf.Options, c *corpus, size, total int) {
	s := openStore(b, opts)
	ctx := b.Context()
	b.SetBytes(int64(total))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		c.restamp(total)
		b.StartTimer()
		l := s.Blobs().NewBatch()
		for off := 0; off+size <= total; off += size {
			if _, err := l.PutBytes(ctx, c.data[off:off+size]); err != nil {
				l.Abort()
				b.Fatal(err)
			}
		}
		if err := l.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*(total/size))/b.Elapsed().Seconds(), "puts/s")
	b.ReportMetric(stats(b, s).CompressionRatio(), "ratio")
}

// pipelineSink keeps the digests the pipeline computes from being
// optimized away.
var pipelineSink byte

// BenchmarkPut_Pipeline is the limit under BenchmarkPut: the SHA-256 and
// the zstd EncodeAll at cas.DefaultLevel of the same blobs, without a
// store. A blob over cas.InlineMax is hashed whole and compressed and
// hashed again in 1 MiB pieces, about the size of the store's chunks;
// the chunker's own cost is the store's.
func BenchmarkPut_Pipeline(b *testing.B) {
	enc := pipelineEncoder()
	for _, kind := range []string{kindJSONL, kindRandom} {
		b.Run(kind, func(b *testing.B) {
			for _, size := range putSizes {
				b.Run(size.name, func(b *testing.B) {
					total := putBatch(size.n)
					data := corpusOf(kind).data[:total]
					piece := size.n
					if piece > cas.InlineMax {
						piece = 1 << 20
					}
					var (
						dst    []byte
						stored int
						sink   byte
					)
					b.SetBytes(int64(total))
					b.ResetTimer()
					for range b.N {
						stored = 0
						for off := 0; off+size.n <= total; off += size.n {
							blob := data[off : off+size.n]
							d := manifest.Sum(blob)
							sink ^= d[0]
							for p := blob; len(p) > 0; p = p[min(piece, len(p)):] {
								chunk := p[:min(piece, len(p))]
								if len(chunk) < len(blob) {
									d := manifest.Sum(chunk)
									sink ^= d[0]
								}
								// As the store does, keep the raw bytes
								// unless zstd saves a sixteenth.
								dst = enc.EncodeAll(chunk, dst[:0])
								if len(dst) < len(chunk)-len(chunk)/16 {
									stored += len(dst)
								} else {
									stored += len(chunk)
								}
							}
						}
					}
					b.StopTimer()
					pipelineSink = sink
					b.ReportMetric(float64(total)/float64(stored), "ratio")
				})
			}
		})
	}
}

// BenchmarkPut_Level puts 16 MiB of 1 MiB JSON-lines blobs at three zstd
// levels: the speed against the ratio stored, which is what chose
// cas.DefaultLevel. Random and tensor data pass through as raw blocks at
// every level but Better and Best, so JSON is where the levels differ.
func BenchmarkPut_Level(b *testing.B) {
	for _, lv := range []struct {
		name  string
		level zstd.EncoderLevel
	}{
		{"fastest", zstd.SpeedFastest},
		{"default", zstd.SpeedDefault},
		{"better", zstd.SpeedBetterCompression},
	} {
		b.Run(lv.name, func(b *testing.B) {
			b.Run("jsonl_1MiB", func(b *testing.B) {
				benchPut(b, &pf.Options{Level: lv.level}, corpusOf(kindJSONL), 1<<20, 16<<20)
			})
		})
	}
}

const (
	ingestBlobs    = 10000
	ingestBlobSize = 16 << 10
)

// BenchmarkIngest_10000x16KiB_Random puts 10,000 random 16 KiB blobs into
// an empty store through one lease and commits, durable: the bulk load
// measured on this project's machines for bbolt alone (650-770 MB/s with
// a 1 GiB mmap), SQLite (210-230 MB/s) and git (43 MB/s).
func BenchmarkIngest_10000x16KiB_Random(b *testing.B) {
	data := corpusOf(kindRandom).data[:ingestBytes]
	dir := b.TempDir()
	ctx := b.Context()
	b.SetBytes(ingestBytes)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		s := openStoreAt(b, filepath.Join(dir, fmt.Sprintf("ingest-%d.pf", i)))
		b.StartTimer()
		l := s.Blobs().NewBatch()
		for off := 0; off < len(data); off += ingestBlobSize {
			if _, err := l.PutBytes(ctx, data[off:off+ingestBlobSize]); err != nil {
				l.Abort()
				b.Fatal(err)
			}
		}
		if err := l.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if st := stats(b, s); st.Blobs != ingestBlobs {
			b.Fatalf("the store holds %d blobs, want %d", st.Blobs, ingestBlobs)
		}
		closeAndRemove(b, s)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*ingestBlobs)/b.Elapsed().Seconds(), "blobs/s")
}

// BenchmarkIngest_Baseline_SHA256 hashes the bytes of the ingest, blob by
// blob: what the ingest cannot beat on one core.
func BenchmarkIngest_Baseline_SHA256(b *testing.B) {
	data := corpusOf(kindRandom).data[:ingestBytes]
	b.SetBytes(ingestBytes)
	b.ResetTimer()
	for range b.N {
		for off := 0; off < len(data); off += ingestBlobSize {
			sha256.Sum256(data[off : off+ingestBlobSize])
		}
	}
	b.ReportMetric(float64(b.N*ingestBlobs)/b.Elapsed().Seconds(), "blobs/s")
}

// BenchmarkGet reads random blobs back, verified, from a warm store: a
// cache page (random bytes, stored raw, and JSON lines, in zstd) and a
// chunked blob of 4 MiB.
func BenchmarkGet(b *testing.B) {
	for _, tc := range []struct {
		name        string
		kind        string
		size, count int
	}{
		{"16KiB", kindRandom, 16 << 10, 1024},
		{"16KiB_JSONL", kindJSONL, 16 << 10, 1024},
		{"4MiB", kindRandom, 4 << 20, 16},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := openStore(b, nil)
			ctx := b.Context()
			data := corpusOf(tc.kind).data
			l := s.Blobs().NewBatch()
			ds := make([]manifest.Digest, tc.count)
			for i := range ds {
				d, err := l.PutBytes(ctx, data[i*tc.size:(i+1)*tc.size])
				if err != nil {
					b.Fatal(err)
				}
				ds[i] = d
			}
			if err := l.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(tc.size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				got, err := s.Blobs().Get(ctx, ds[i%len(ds)])
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != tc.size {
					b.Fatalf("got %d bytes, want %d", len(got), tc.size)
				}
			}
		})
	}
}

// BenchmarkGet_Baseline_SHA256Copy is what a verified read of a blob in
// memory cannot avoid: one SHA-256 of its bytes (one stream, so one core)
// and one copy of them into the caller's buffer.
func BenchmarkGet_Baseline_SHA256Copy(b *testing.B) {
	for _, size := range []int{16 << 10, 4 << 20} {
		b.Run(sizeName(int64(size)), func(b *testing.B) {
			data := corpusOf(kindRandom).data[:size]
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				out := make([]byte, size)
				copy(out, data)
				if sha256.Sum256(out) == ([32]byte{}) {
					b.Fatal("zero digest")
				}
			}
		})
	}
}
