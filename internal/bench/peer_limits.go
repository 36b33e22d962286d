package bench

import (
	"crypto/sha256"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/cas"
)

// The machine's own limits, on the same bytes as each workload: what no
// store can beat. Each is a row of its own, so that pf's row says how
// close it comes:
//
//   - SHA-256 of every blob, on every core (a store must hash what it
//     stores, and pf verifies what it reads);
//   - zstd at pf's level (cas.DefaultLevel) of every blob, on every core,
//     through one encoder as the store uses it;
//   - one sequential write of all the bytes to a new file and one fsync:
//     what the disk takes to make them durable;
//   - for reads, a copy of each blob into a new buffer and one SHA-256 of
//     it, one blob after another: what a verified read of bytes already
//     in memory cannot avoid (a blob's digest is one SHA-256 stream, so
//     one core hashes it).
const (
	limitSHA256   = "limit: SHA-256"
	limitHashCopy = "limit: SHA-256 + copy"
	limitZstd     = "limit: zstd"
	limitWrite    = "limit: write+fsync"
	limitChanged  = "limit: changed bytes"
)

// pipelineEncoder is an encoder set up as the store's (cas/compress.go):
// one per process, one slot per core, no CRC.
var pipelineEncoder = sync.OnceValue(func() *zstd.Encoder {
	return newEncoder(cas.DefaultLevel)
})

// newEncoder is an encoder as pf's: one per process, one slot per core,
// no CRC.
func newEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithEncoderCRC(false),
		zstd.WithZeroFrames(true))
	if err != nil {
		panic(err)
	}
	return e
}

// hashAll hashes every blob, spread over the cores.
func hashAll(blobs [][]byte) {
	var sink [32]byte
	sums := make([][32]byte, len(blobs))
	parallelIdx(len(blobs), func(i int) { sums[i] = sha256.Sum256(blobs[i]) })
	for _, s := range sums {
		sink[0] ^= s[0]
	}
	limitSink = sink[0]
}

var limitSink byte

// hashCopyEach copies each blob into a new buffer and hashes the copy,
// one blob after another.
func hashCopyEach(blobs [][]byte) {
	for _, b := range blobs {
		out := make([]byte, len(b))
		copy(out, b)
		sum := sha256.Sum256(out)
		limitSink ^= sum[0]
	}
}

// compressAll compresses every blob at pf's level, spread over the cores;
// a blob the store would chunk is compressed in pieces of 1 MiB, about
// the size of the store's chunks.
func compressAll(blobs [][]byte) {
	var pieces [][]byte
	for _, b := range blobs {
		if len(b) <= cas.InlineMax {
			pieces = append(pieces, b)
			continue
		}
		for len(b) > 0 {
			n := min(len(b), 1<<20)
			pieces, b = append(pieces, b[:n]), b[n:]
		}
	}
	enc := pipelineEncoder()
	outs := make([][]byte, runtime.GOMAXPROCS(0))
	parallelWorker(len(pieces), func(w, i int) {
		outs[w] = enc.EncodeAll(pieces[i], outs[w][:0])
	})
	n := 0
	for _, o := range outs {
		n += len(o)
	}
	limitSink ^= byte(n)
}

// writeFsync writes every blob in turn to one new file in dir, fsyncs it
// once, and removes it.
func writeFsync(dir string, blobs [][]byte) (time.Duration, error) {
	path := filepath.Join(dir, "limit.bin")
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	for _, b := range blobs {
		for len(b) > 0 {
			n := min(len(b), 1<<20)
			if _, err := f.Write(b[:n]); err != nil {
				f.Close()
				return 0, err
			}
			b = b[n:]
		}
	}
	err = f.Sync()
	d := time.Since(start)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	os.Remove(path)
	return d, err
}

// limitRows measures the three limits on blobs as rows of workload.
func (j *job) limitRows(workload string, p Policy, blobs [][]byte, which ...string) ([]Row, error) {
	var rows []Row
	for _, l := range which {
		row := Row{Workload: workload, System: l}
		var err error
		switch l {
		case limitSHA256:
			row.Seconds, err = j.rounds(l, p, timeIt(func() { hashAll(blobs) }))
		case limitZstd:
			row.Seconds, err = j.rounds(l, p, timeIt(func() { compressAll(blobs) }))
		case limitWrite:
			row.Seconds, err = j.rounds(l, p, func() (time.Duration, error) { return writeFsync(j.Work, blobs) })
		case limitHashCopy:
			row.Seconds, err = j.rounds(l, p, timeIt(func() { hashCopyEach(blobs) }))
		default:
			err = fmt.Errorf("no limit %q", l)
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func timeIt(fn func()) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		start := time.Now()
		fn()
		return time.Since(start), nil
	}
}

// limits runs the limit rows of a job.
func (j *job) limits() ([]Row, error) {
	all := []string{limitSHA256, limitZstd, limitWrite}
	switch {
	case j.Job == jobFixture:
		f := fixture.New(fixture.Options{Seed: 1})
		var blobs [][]byte
		for _, b := range f.Blobs() {
			blobs = append(blobs, b.Data)
		}
		return j.limitRows(wlFixtureCold, j.Policy.Snapshot, blobs, all...)
	case j.Job == jobBigBlob:
		a, unmap, err := mapFile(j.Data[datasetBig(j.Sizes.BigBlob)])
		if err != nil {
			return nil, err
		}
		defer unmap()
		one := Policy{Rounds: 1}
		rows, err := j.limitRows(wlBigPut, one, [][]byte{a}, all...)
		if err != nil {
			return nil, err
		}
		_, n := bigChange(int64(len(a)))
		return append(rows, Row{Workload: wlBigChanged, System: limitChanged, Stored: int64p(n), StoredApparent: int64p(n),
			Note: "the bytes that changed: no store can add less and keep both versions"}), nil
	}
	if ij, ok := j.Sizes.ingest(j.Job); ok {
		blobs, unmap, err := j.ingestBlobs(ij)
		if err != nil {
			return nil, err
		}
		defer unmap()
		rows, err := j.limitRows(ingestWorkload(ij.name), j.Policy.Ingest, blobs, all...)
		if err != nil {
			return nil, err
		}
		reads, err := j.limitRows(readWorkload(ij.name), j.Policy.Read, blobs, limitHashCopy)
		return append(rows, reads...), err
	}
	return nil, nil // no limit for history queries
}

// parallelIdx runs fn(0..n-1) on every core.
func parallelIdx(n int, fn func(i int)) { parallelWorker(n, func(_, i int) { fn(i) }) }

// parallelWorker runs fn(worker, 0..n-1) on every core; worker numbers
// the goroutine, for per-goroutine buffers.
func parallelWorker(n int, fn func(worker, i int)) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for w := range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}
