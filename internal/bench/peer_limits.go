package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/fixture"
	bolt "go.etcd.io/bbolt"
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
//   - for large blobs, the CPU work no put of them can skip: FastCDC's
//     cut, as pf cuts, and a SHA-256 of each chunk and of each blob
//     whole (the format keys chunks and blobs by their own digests), on
//     every core at once;
//   - for large blobs, bbolt, the engine the store holds to: the same
//     bytes as raw values of 1 MiB, each in a bucket of its own under a
//     random 32-byte key as the store keeps a chunk, in a new bbolt file
//     opened with pf's options, committed in one transaction, and
//     committed in transactions of 8 MiB as pf's large puts write them
//     (early writes of cas.DefaultSpillBytes, one in flight, then the
//     commit);
//   - for large blobs, all of that at once, the put with nothing but
//     what the format asks (limitCutHashBolt, cutHashBoltAll): each blob
//     cut and hashed, and each chunk hashed and written as soon as it is,
//     from the blob's bytes (no copy), under its digest, as the store
//     keeps a chunk, in the same 8 MiB commits; a blob a core at once;
//   - for reads, one blob after another, a copy of each byte into the
//     reader's buffer and a SHA-256 over it: what a verified read of
//     bytes already in memory cannot avoid (hashCopyEach).
const (
	limitSHA256   = "limit: SHA-256"
	limitHashCopy = "limit: SHA-256 + copy"
	// For reads of blobs the store keeps compressed: zstd's decode of
	// each, at pf's level, into a new buffer, and a SHA-256 of what it
	// decoded, one blob after another.
	limitDecodeHash = "limit: zstd decode + SHA-256"
	limitZstd       = "limit: zstd"
	limitWrite      = "limit: write+fsync"
	limitChanged    = "limit: changed bytes"
	limitCutHash    = "limit: cut + SHA-256 ×2"
	limitBolt       = "limit: bbolt"
	// As pf's puts of large blobs write: early writes of
	// cas.DefaultSpillBytes, each a committed transaction.
	limitBoltWindows = "limit: bbolt, 8 MiB commits"
	limitCutHashBolt = "limit: cut + SHA-256 ×2 + bbolt"
)

// largeLimits are the limits of large blobs only, which a put cuts into
// chunks and writes as values of their own.
var largeLimits = []string{limitCutHash, limitBolt, limitBoltWindows, limitCutHashBolt}

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

// hashCopyEach reads the blobs one after another as a verified read
// must: every byte copied once into the reader's buffer and hashed once.
// A blob the store chunks is proven by its chunks' digests (cas's
// getChunked), so its bytes are hashed on every core at once, an equal
// share each, a piece at a time while the piece is in the core's cache;
// a blob the store keeps whole is one SHA-256 stream, on one core. This
// was one SHA-256 of each whole blob on one core, into a new buffer each,
// whose page faults came and went with the runtime's scavenger: 3.2 ms
// and then 7.5 ms a 4 MiB blob in two runs, where pf's verified read took
// 2.7 ms. The buffer is now one for all the blobs: fresh pages are a cost
// a reader can avoid.
func hashCopyEach(blobs [][]byte) {
	var out []byte
	cores := runtime.GOMAXPROCS(0)
	sums := make([][32]byte, cores)
	for _, b := range blobs {
		if cap(out) < len(b) {
			out = make([]byte, len(b))
		}
		out = out[:len(b)]
		if len(b) <= cas.InlineMax {
			copy(out, b)
			sum := sha256.Sum256(out)
			limitSink ^= sum[0]
			continue
		}
		share := (len(b) + cores - 1) / cores
		parallelIdx(cores, func(i int) {
			h := sha256.New()
			for at := i * share; at < min((i+1)*share, len(b)); at += hashCopyPiece {
				end := min(at+hashCopyPiece, (i+1)*share, len(b))
				copy(out[at:end], b[at:end])
				h.Write(out[at:end])
			}
			h.Sum(sums[i][:0])
		})
		for _, s := range sums {
			limitSink ^= s[0]
		}
	}
}

// hashCopyPiece is what hashCopyEach copies and then hashes at a time,
// as cas's getChunked does (its pieceSize).
const hashCopyPiece = 256 << 10

// compressEach compresses each blob alone at pf's level, as the store
// keeps a value (untimed: the reads' limit starts from the frames).
func compressEach(blobs [][]byte) [][]byte {
	enc := pipelineEncoder()
	frames := make([][]byte, len(blobs))
	parallelIdx(len(blobs), func(i int) { frames[i] = enc.EncodeAll(blobs[i], nil) })
	return frames
}

// compressible says whether the store keeps blobs like these compressed:
// zstd at pf's level saves at least one part in 16 of a sample of them,
// as the store asks of a value.
func compressible(blobs [][]byte) bool {
	sample := blobs[:min(len(blobs), 16)]
	in, out := 0, 0
	for _, f := range compressEach(sample) {
		out += len(f)
	}
	for _, b := range sample {
		in += len(b)
	}
	return out < in-in/16
}

// readDecoder is a decoder as pf's reads use it: one per process, one
// slot per core, checksums ignored (the SHA-256 checks the bytes).
var readDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)), zstd.IgnoreChecksum(true))
	if err != nil {
		panic(err)
	}
	return d
})

// decodeHashEach decodes each frame into a new buffer and hashes what it
// decoded, one frame after another: what a verified read of a compressed
// value already in memory cannot avoid. The buffer has the 32 bytes of
// room past the content that pf's reads give the decoder (cas's
// decodeSlack: without it klauspost's decoder takes its slow copies).
func decodeHashEach(frames [][]byte) error {
	dec := readDecoder()
	for _, fr := range frames {
		var h zstd.Header
		if err := h.Decode(fr); err != nil {
			return err
		}
		out, err := dec.DecodeAll(fr, make([]byte, 0, h.FrameContentSize+32))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(out)
		limitSink ^= sum[0]
	}
	return nil
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

// cutHashAll cuts each blob as a put does and hashes each chunk and each
// blob whole, on every core: a worker a core hashes while the blobs are
// cut, a cutter a core at most (one blob's cut is one stream). A blob a
// put keeps whole is hashed once, as is a chunked blob's first chunk. A
// chunk is a slice of its blob: no copy.
func cutHashAll(blobs [][]byte) error {
	workers := runtime.GOMAXPROCS(0)
	toHash := make(chan []byte, 4*workers)
	sinks := make([]byte, workers)
	var hashers sync.WaitGroup
	for w := range workers {
		hashers.Add(1)
		go func() {
			defer hashers.Done()
			for b := range toHash {
				sum := sha256.Sum256(b)
				sinks[w] ^= sum[0]
			}
		}()
	}
	errs := make([]error, len(blobs))
	parallelIdx(len(blobs), func(i int) {
		b := blobs[i]
		// A put of a chunked blob takes its first chunk's digest from
		// the blob's own hash (cas's chunk pipeline): that chunk's
		// bytes are hashed once.
		first := len(b) > cas.InlineMax
		if first {
			toHash <- b
		}
		errs[i] = cas.Cut(b, func(c []byte) {
			if first {
				first = false
				return
			}
			toHash <- c
		})
	})
	close(toHash)
	hashers.Wait()
	for _, s := range sinks {
		limitSink ^= s
	}
	return errors.Join(errs...)
}

// boltPiece is the size of the values boltAll writes: about the size of
// the chunks a put cuts random bytes into.
const boltPiece = 1 << 20

// boltAll puts every blob, in values of boltPiece each in a bucket of
// its own, into a new bbolt file in dir, opened with pf's options, and commits them in
// transactions of window bytes (0: all in one), and returns the time of
// the transactions, commits included; making and removing the file are
// not timed.
func boltAll(dir string, blobs [][]byte, window int) (time.Duration, error) {
	path := filepath.Join(dir, "limit.bolt")
	defer os.Remove(path)
	bdb, err := bolt.Open(path, 0o600, db.BoltOptions(db.DefaultInitialMmapSize))
	if err != nil {
		return 0, err
	}
	defer bdb.Close()
	name := []byte("values")
	if err := bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(name)
		return err
	}); err != nil {
		return 0, err
	}
	var windows [][][]byte // the values of each transaction
	var values [][]byte
	n := 0
	for _, b := range blobs {
		for len(b) > 0 {
			piece := b[:min(len(b), boltPiece)]
			values, n, b = append(values, piece), n+len(piece), b[len(piece):]
			if window > 0 && n >= window {
				windows, values, n = append(windows, values), nil, 0
			}
		}
	}
	if len(values) > 0 {
		windows = append(windows, values)
	}
	// Each value in a bucket of its own under a random 32-byte key, as
	// the store keeps a chunk (cas/bucket.go): values side by side in one
	// bucket would have bbolt rewrite each leaf's values as later ones
	// land in it, work no put of pf's does.
	keys := rand.New(rand.NewPCG(uint64(len(blobs)), 32))
	start := time.Now()
	for _, values := range windows {
		if err := bdb.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(name)
			for _, v := range values {
				var key [32]byte
				for i := 0; i < len(key); i += 8 {
					binary.LittleEndian.PutUint64(key[i:], keys.Uint64())
				}
				vb, err := bk.CreateBucket(key[:])
				if err == nil {
					err = vb.Put([]byte{0}, v)
				}
				if err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, err
		}
	}
	d := time.Since(start)
	return d, bdb.Close()
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

// limitRows measures the limits named in which on blobs, as rows of
// workload.
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
		case limitCutHash:
			row.Seconds, err = j.rounds(l, p, func() (time.Duration, error) {
				start := time.Now()
				err := cutHashAll(blobs)
				return time.Since(start), err
			})
		case limitBolt:
			row.Seconds, err = j.rounds(l, p, func() (time.Duration, error) { return boltAll(j.Work, blobs, 0) })
		case limitBoltWindows:
			row.Seconds, err = j.rounds(l, p, func() (time.Duration, error) { return boltAll(j.Work, blobs, cas.DefaultSpillBytes) })
		case limitCutHashBolt:
			row.Seconds, err = j.rounds(l, p, func() (time.Duration, error) {
				d, stored, err := cutHashBoltAll(j.ctx, j.Work, blobs)
				if want := totalBytes(blobs); err == nil && stored != want {
					err = fmt.Errorf("the file holds %d bytes of values, not the blobs' %d", stored, want)
				}
				return d, err
			})
		case limitHashCopy:
			row.Seconds, err = j.rounds(l, p, timeIt(func() { hashCopyEach(blobs) }))
		case limitDecodeHash:
			frames := compressEach(blobs)
			row.Seconds, err = j.rounds(l, p, func() (time.Duration, error) {
				start := time.Now()
				err := decodeHashEach(frames)
				return time.Since(start), err
			})
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

// totalBytes is the bytes of every blob.
func totalBytes(blobs [][]byte) int64 {
	var n int64
	for _, b := range blobs {
		n += int64(len(b))
	}
	return n
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
		rows, err := j.limitRows(wlFixtureCold, j.Policy.Snapshot, blobs, all...)
		if err != nil {
			return nil, err
		}
		floors, err := j.snapshotFloorRounds(f, fixtureForks(j.Sizes.Forks))
		return append(rows, floors...), err
	case j.Job == jobBigBlob:
		a, unmap, err := mapFile(j.Data[datasetBig(j.Sizes.BigBlob)])
		if err != nil {
			return nil, err
		}
		defer unmap()
		// The rounds of pf's own put: a limit timed once moved 3x within
		// half an hour on this shared disk, and pf then ran faster than
		// its "limits".
		rows, err := j.limitRows(wlBigPut, j.Policy.Ingest, [][]byte{a}, slices.Concat(all, largeLimits)...)
		if err != nil {
			return nil, err
		}
		least, err := j.leastRow(wlBigPut, [][]byte{a})
		if err != nil {
			return nil, err
		}
		_, n := bigChange(int64(len(a)))
		return append(rows, least, Row{Workload: wlBigChanged, System: limitChanged, Stored: int64p(n), StoredApparent: int64p(n),
			Note: "the bytes that changed: no store can add less and keep both versions"}), nil
	}
	if ij, ok := j.Sizes.ingest(j.Job); ok {
		blobs, unmap, err := j.ingestBlobs(ij)
		if err != nil {
			return nil, err
		}
		defer unmap()
		which := all
		if ij.size > cas.InlineMax {
			which = slices.Concat(all, largeLimits)
		}
		rows, err := j.limitRows(ingestWorkload(ij.name), j.Policy.Ingest, blobs, which...)
		if err != nil {
			return nil, err
		}
		readLimits := []string{limitHashCopy}
		if compressible(blobs) {
			readLimits = append(readLimits, limitDecodeHash)
		} else {
			// Kept raw, the values' bytes are the blobs': the least file
			// holding them bounds the stored bytes of any store built as
			// pf is. (Compressible data has no such floor: a store that
			// compresses harder stores less.)
			least, err := j.leastRow(ingestWorkload(ij.name), blobs)
			if err != nil {
				return nil, err
			}
			rows = append(rows, least)
		}
		reads, err := j.limitRows(readWorkload(ij.name), j.Policy.Read, blobs, readLimits...)
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
