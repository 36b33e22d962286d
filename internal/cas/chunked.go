package cas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	cdc "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers the algorithm
	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/heaplimit"
	"github.com/processfork/pf/manifest"
)

// chunkAlgorithm cuts large blobs: FastCDC (a Gear rolling hash, which
// skips the first chunkMin bytes of every chunk and cuts at GB/s), in the
// library's versioned variant, whose cut points never change with the
// library's version. It and chunkNormal must never change: chunk
// boundaries, and so dedupe across stores and versions, depend on them.
// (Stores written before used a Rabin fingerprint; their chunks stay
// valid and readable, but a blob stored again is cut elsewhere and shares
// no chunks with its old copy.)
const (
	chunkAlgorithm = "fastcdc-v1.0.0"
	chunkNormal    = 1 << 20 // where the cut condition loosens; a power of two
)

// cuts are the sizes a chunker cuts between, and where its cut condition
// loosens (a power of two).
type cuts struct{ min, normal, max int }

// largeCuts cut large blobs; listingCuts cut listings (PutListing). Like
// chunkAlgorithm, neither may change.
var (
	largeCuts = cuts{chunkMin, chunkNormal, chunkMax}
	// A listing changes in a few entries from one snapshot to the next,
	// each 100 bytes or so: cut into chunks of 4 to 64 KiB (8 KiB on
	// average), a tree of 11,500 files is about 200 chunks, and an edit
	// of ten files stores ten of them again instead of the whole 1.7 MB.
	// Smaller chunks would store fewer bytes again but a longer chunk
	// list (34 bytes a chunk) each time; larger, the reverse. On that
	// tree, 20 snapshots of ten edits each stored 2.8 MB at 8 KiB, 3.5 MB
	// at 32 KiB, and 12 MB with the listing one value or chunked as any
	// large blob (512 KiB to 4 MiB).
	listingCuts = cuts{4 << 10, 8 << 10, 64 << 10}
)

// chunkerBuffer is the size of a chunker's scan buffer. The chunker looks
// at a window of chunkMax bytes for each cut, and once its buffer's end
// is reached it moves what it has not cut to the buffer's start. A buffer
// of chunkMax moved the rest of the window after every cut: 2.8 MiB for
// a cut of 1.2 MiB, more than twice the blob's size copied on the
// cutter's goroutine. At twice chunkMax it moves at most one window per
// chunkMax cut. The cut points depend on the window alone, not on this.
const chunkerBuffer = 2 * chunkMax

// newChunker returns a chunker of r cutting at c, with a scan buffer from
// the pool, and a func that gives the buffer back. The buffer is twice
// c's largest chunk (chunkerBuffer for largeCuts): the chunker fills all
// of it at each read, and a listing's cut (cutListing) starts the chunker
// again at each edit, where a buffer of chunkerBuffer copied the rest of
// the listing, most of its 1.7 MB, at every start.
func newChunker(r io.Reader, c cuts) (*cdc.Chunker, func(), error) {
	size := 2 * c.max
	buf := chunkBuffers().get(size)[:size]
	ch, err := cdc.NewChunkerBuffer(chunkAlgorithm, r,
		&cdc.ChunkerOpts{MinSize: c.min, NormalSize: c.normal, MaxSize: c.max}, buf)
	if err != nil {
		chunkBuffers().put(buf)
		return nil, nil, err
	}
	return ch, func() { chunkBuffers().put(buf) }, nil
}

// putChunked stages what r yields, cut at c, and its value. summed is the
// blob's digest if the caller took it already from the same bytes (nil:
// the put takes it as it reads).
func (l *Lease) putChunked(ctx context.Context, r io.Reader, c cuts, streamed bool, summed *manifest.Digest) (manifest.Digest, error) {
	d, value, total, err := l.chunk(ctx, r, c, streamed, summed)
	if err != nil {
		return d, err
	}
	if err := l.putValue(ctx, db.BucketBlobs, pendingValue{digest: d, encoded: value}); err != nil {
		return d, err
	}
	l.known(d, total)
	return d, nil
}

// chunk cuts what r yields into chunks and stages them, and returns the
// whole blob's digest, the value that the blob's key must hold (its one
// chunk, or its chunk list) and its size. The caller stages that value,
// or not: chunks without it are garbage that gc collects. streamed says
// r streams from outside (a file, a transfer), not from bytes the caller
// holds: only such a put, whatever its size, holds the heap (below).
// summed, if not nil, is the blob's digest, taken by the caller from the
// same bytes: the put hashes the chunks alone, not the blob again.
func (l *Lease) chunk(ctx context.Context, r io.Reader, c cuts, streamed bool, summed *manifest.Digest) (d manifest.Digest, value []byte, total int64, err error) {
	select {
	case chunkedPuts() <- struct{}{}:
	case <-ctx.Done():
		return d, nil, 0, ctx.Err()
	}
	defer func() { <-chunkedPuts() }()
	ch, release, err := newChunker(r, c)
	if err != nil {
		return d, nil, 0, err
	}
	defer release()
	p := newChunkPipeline(ctx, l, summed != nil)
	defer p.close()
	// A streamed put that writes early makes bbolt's copy of each early
	// write as garbage, until it ends: from there on the heap is held
	// near what it keeps. A smaller put ends before the collector need
	// run, and one of bytes in memory (a listing, PutBytes) makes no
	// more garbage than the bytes its caller holds: held, a process that
	// keeps a large heap, as pf serve does with the trees of 100,000
	// files, would collect it again and again for each listing it puts.
	var read int64
	var releaseHeap func()
	defer func() {
		if releaseHeap != nil {
			releaseHeap()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return d, nil, 0, err
		}
		if p.failed.Load() {
			break // close reports the store stage's error
		}
		// The chunk lies in the chunker's buffer until the next call: it
		// is copied into the buffer its staged value will be, while the
		// chunker cuts the next.
		c, err := ch.Next()
		if err != nil && err != io.EOF {
			return d, nil, 0, fmt.Errorf("read blob: %w", err)
		}
		if len(c) > 0 {
			p.add(cutChunk{newRawValue(c), headOf(l.s.level, c)})
			read += int64(len(c))
			if releaseHeap == nil && streamed && l.s.headroom > 0 && read > int64(l.s.spillBytes) {
				releaseHeap = heaplimit.Hold(l.s.headroom)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if err := p.close(); err != nil {
		return d, nil, 0, err
	}
	if summed != nil {
		d = *summed
	} else {
		p.whole.Sum(d[:0])
	}
	value = p.single
	if value == nil {
		value = encodeChunkList(p.total, p.refs)
	}
	return d, value, p.total, nil
}

// chunkPipeline runs a chunked put in three stages, each on a goroutine
// of its own: the caller cuts chunks and copies each out of the chunker's
// buffer into a raw value buffer (newRawValue), one stage hashes each
// chunk and hands it on to be staged (compressed) beside the others on
// every core (stageChunk), and one hashes the whole blob. The buffer a chunk is
// copied into is the one its value is staged and written from: no further
// copy, and no buffer of the pipeline's own. A chunk is staged only once
// the whole blob's hash has read it, as its buffer goes back to the list
// after the write, which may come before the next chunk.
type chunkPipeline struct {
	ctx     context.Context
	l       *Lease
	toStore chan cutChunk
	toWhole chan cutChunk
	// hashed passes a token per chunk from the whole blob's stage to the
	// store stage: that chunk's buffer may be staged.
	hashed chan struct{}
	// firstDigest is the digest of the first chunk's head (pagedhead.go;
	// the chunk itself if it is not cut), which the whole blob's stage
	// takes from its own hash: until the head ends, the blob's hash and
	// the head's have read the same bytes from the same start, so the
	// head's is a Sum of the blob's state, and its bytes are hashed once,
	// not twice (a quarter of a 4 MiB blob's). Written before the first
	// token on hashed, read after it.
	firstDigest manifest.Digest
	stages      sync.WaitGroup
	closed      bool
	failed      atomic.Bool

	// Owned by the stages until close returns.
	whole  hash.Hash
	refs   []chunkRef
	total  int64
	cut    int      // the chunks the chunker cut so far
	first  cutChunk // the first chunk, until a second shows
	single []byte   // the value of a blob of one chunk, once close returns

	// The chunks being staged, and the first failure to stage one.
	staging sync.WaitGroup
	errOnce sync.Once
	err     error
}

// pipelineDepth is how many chunks wait between the cutter and each
// stage: with the one each stage works on and the one being cut, at most
// four chunk buffers a put.
const pipelineDepth = 1

// newChunkPipeline starts the stages of a put; summed says the caller has
// the whole blob's digest already: the whole blob's stage then hashes
// nothing and only hands each chunk on.
func newChunkPipeline(ctx context.Context, l *Lease, summed bool) *chunkPipeline {
	p := &chunkPipeline{
		ctx: ctx, l: l, whole: sha256.New(),
		toStore: make(chan cutChunk, pipelineDepth), toWhole: make(chan cutChunk, pipelineDepth),
		hashed: make(chan struct{}, pipelineDepth+2),
	}
	p.stages.Add(2)
	go func() {
		defer p.stages.Done()
		first := !summed
		for c := range p.toWhole {
			if summed {
				p.hashed <- struct{}{}
				continue
			}
			p.whole.Write(c.headBytes())
			if first {
				p.whole.Sum(p.firstDigest[:0]) // Sum leaves the state as it was
				first = false
			}
			p.whole.Write(c.tailBytes())
			p.hashed <- struct{}{}
		}
	}()
	go func() {
		defer p.stages.Done()
		first := !summed // a blob summed before has no hash to take the first chunk's from
		for c := range p.toStore {
			var head manifest.Digest
			if first {
				<-p.hashed
				head, first = p.firstDigest, false
			} else {
				head = manifest.Sum(c.headBytes())
				<-p.hashed
			}
			if p.failed.Load() {
				valueBuffers().put(c.raw)
				continue
			}
			p.store(head, c)
		}
		p.staging.Wait()
	}()
	return p
}

// chunkStagers holds a place for each chunk being staged (compressed,
// mostly), one a core, whichever put it is of: the chunks of one large
// blob are staged on every core, and no more at once, as each holds a
// chunk's buffers.
var chunkStagers = sync.OnceValue(func() chan struct{} { return make(chan struct{}, runtime.GOMAXPROCS(0)) })

// A cutChunk is a chunk as the chunker cut it, in its raw value buffer
// (newRawValue), with where its head ends (pagedHead): its bytes from
// there on are its tail, stored as a chunk of its own.
type cutChunk struct {
	raw  []byte
	head int
}

func (c cutChunk) headBytes() []byte { return c.raw[rawValueRoom : rawValueRoom+c.head] }
func (c cutChunk) tailBytes() []byte { return c.raw[rawValueRoom+c.head:] }

// headOf returns where chunk c's head ends: c is cut only if a put at
// zstd level will store it raw.
func headOf(level zstd.EncoderLevel, c []byte) int {
	if WorthCompressingAt(level, c) {
		return len(c)
	}
	return pagedHead(len(c))
}

// stageChunk stages chunk c, whose head's digest is head, on a goroutine
// of its own once a place in chunkStagers is free, and records the first
// failure. The tail, if c has one, is staged first: it is copied into a
// pack, while the head is written from c's buffer, which goes back to
// valueBuffers once written.
func (p *chunkPipeline) stageChunk(head manifest.Digest, tail *manifest.Digest, c cutChunk) {
	chunkStagers() <- struct{}{}
	p.staging.Add(1)
	go func() {
		defer p.staging.Done()
		defer func() { <-chunkStagers() }()
		err := error(nil)
		if tail != nil {
			err = p.l.putValue(p.ctx, db.BucketChunks, pendingValue{digest: *tail, data: c.tailBytes(), keepRaw: true})
		}
		headValue := pendingValue{digest: head, raw: c.raw[:rawValueRoom+c.head], keepRaw: tail != nil}
		if err == nil {
			err = p.l.putValue(p.ctx, db.BucketChunks, headValue)
		} else {
			headValue.drop()
		}
		if err != nil {
			p.errOnce.Do(func() { p.err = err })
			p.failed.Store(true)
		}
	}()
}

func (p *chunkPipeline) add(c cutChunk) {
	p.toWhole <- c
	p.toStore <- c
}

// store stages chunk c, whose head's digest is head, and hands on its
// buffer. The first chunk waits until a second one shows: a blob the
// chunker leaves whole is stored as one value, not as a list naming a
// chunk with the blob's own digest.
func (p *chunkPipeline) store(head manifest.Digest, c cutChunk) {
	p.total += int64(len(c.raw) - rawValueRoom)
	p.cut++
	if p.cut == 1 {
		p.first = c
		p.firstDigest = head
		return
	}
	if p.cut == 2 {
		first := p.first
		p.first = cutChunk{}
		p.stageChunk(p.firstDigest, p.listChunk(p.firstDigest, first), first)
	}
	p.stageChunk(head, p.listChunk(head, c), c)
}

// listChunk appends c's head, whose digest is head, and its tail if it
// has one to the chunk list, and returns the tail's digest (nil without).
func (p *chunkPipeline) listChunk(head manifest.Digest, c cutChunk) *manifest.Digest {
	p.refs = append(p.refs, chunkRef{head, int64(c.head)})
	tail := c.tailBytes()
	if len(tail) == 0 {
		return nil
	}
	d := manifest.Sum(tail)
	p.refs = append(p.refs, chunkRef{d, int64(len(tail))})
	return &d
}

// close waits for both stages to finish what they were given and returns
// the store stage's error. It may be called again.
func (p *chunkPipeline) close() error {
	if !p.closed {
		p.closed = true
		close(p.toStore)
		close(p.toWhole)
		p.stages.Wait()
		if p.first.raw != nil {
			if p.err == nil && p.cut == 1 {
				p.single = encodeValue(p.l.s.level, p.first.raw[rawValueRoom:])
			}
			valueBuffers().put(p.first.raw)
			p.first = cutChunk{}
		}
	}
	return p.err
}

// Cut calls each with every chunk a put cuts b into, in order, each a
// slice of b: a blob of up to InlineMax is one value, a larger one is cut
// as Put cuts it (a put then stores a chunk it keeps raw as its head and
// tail, pagedhead.go: the same bytes hashed). For measurements of the
// work a put cannot skip on b's bytes.
func Cut(b []byte, each func(chunk []byte)) error {
	if len(b) <= InlineMax {
		each(b)
		return nil
	}
	ch, release, err := newChunker(bytes.NewReader(b), largeCuts)
	if err != nil {
		return err
	}
	defer release()
	for off := 0; ; {
		c, err := ch.Next()
		if len(c) > 0 {
			each(b[off : off+len(c)])
			off += len(c)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
