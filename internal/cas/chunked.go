package cas

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"

	cdc "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers the algorithm
	"github.com/processfork/pf/internal/db"
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

// newChunker returns a chunker of r with a scan buffer from the pool, and
// a func that gives the buffer back.
func newChunker(r io.Reader) (*cdc.Chunker, func(), error) {
	buf := chunkBuffers().get(chunkMax)[:chunkMax]
	ch, err := cdc.NewChunkerBuffer(chunkAlgorithm, r,
		&cdc.ChunkerOpts{MinSize: chunkMin, NormalSize: chunkNormal, MaxSize: chunkMax}, buf)
	if err != nil {
		chunkBuffers().put(buf)
		return nil, nil, err
	}
	return ch, func() { chunkBuffers().put(buf) }, nil
}

func (l *Lease) putChunked(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	d, value, total, err := l.chunk(ctx, r)
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
// or not: chunks without it are garbage that gc collects.
func (l *Lease) chunk(ctx context.Context, r io.Reader) (d manifest.Digest, value []byte, total int64, err error) {
	select {
	case chunkedPuts() <- struct{}{}:
	case <-ctx.Done():
		return d, nil, 0, ctx.Err()
	}
	defer func() { <-chunkedPuts() }()
	ch, release, err := newChunker(r)
	if err != nil {
		return d, nil, 0, err
	}
	defer release()
	p := newChunkPipeline(ctx, l)
	defer p.close()
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return d, nil, 0, err
		}
		if p.failed.Load() {
			break // close reports the store stage's error
		}
		// The chunk lies in the chunker's buffer until the next call: a
		// copy goes down the pipeline, while the chunker cuts the next.
		c, err := ch.Next()
		if err != nil && err != io.EOF {
			return d, nil, 0, fmt.Errorf("read blob: %w", err)
		}
		if len(c) > 0 {
			p.add(append(p.buffer(i)[:0], c...))
		}
		if err == io.EOF {
			break
		}
	}
	if err := p.close(); err != nil {
		return d, nil, 0, err
	}
	p.whole.Sum(d[:0])
	value = p.first
	if len(p.refs) != 1 {
		value = encodeChunkList(p.total, p.refs)
	}
	return d, value, p.total, nil
}

// chunkPipeline runs a chunked put in three stages, each on a goroutine
// of its own: the caller cuts chunks and copies each out of the chunker's
// buffer, one stage hashes and stages each chunk, and one hashes the whole
// blob. Three buffers go round: the caller fills one while the stages read
// the others.
type chunkPipeline struct {
	ctx     context.Context
	l       *Lease
	bufs    [pipelineBuffers][]byte
	toStore chan []byte
	toWhole chan []byte
	// Each stage hands back a token per chunk it is done with; the buffer
	// of chunk i is free once both have handed back chunk i's.
	stored   chan struct{}
	hashed   chan struct{}
	released int // chunks both stages are done with
	stages   sync.WaitGroup
	closed   bool
	failed   atomic.Bool

	// Owned by the stages until close returns.
	whole hash.Hash
	refs  []chunkRef
	total int64
	first []byte
	err   error
}

// pipelineBuffers is how many chunks are in the pipeline at most: one
// being cut, and one or two being hashed or stored.
const pipelineBuffers = 3

func newChunkPipeline(ctx context.Context, l *Lease) *chunkPipeline {
	p := &chunkPipeline{
		ctx: ctx, l: l, whole: sha256.New(),
		toStore: make(chan []byte, pipelineBuffers), toWhole: make(chan []byte, pipelineBuffers),
		stored: make(chan struct{}, pipelineBuffers), hashed: make(chan struct{}, pipelineBuffers),
	}
	for i := range p.bufs {
		p.bufs[i] = chunkBuffers().get(chunkMax)
	}
	p.stages.Add(2)
	go func() {
		defer p.stages.Done()
		for c := range p.toWhole {
			p.whole.Write(c)
			p.hashed <- struct{}{}
		}
	}()
	go func() {
		defer p.stages.Done()
		for c := range p.toStore {
			if p.err == nil {
				if p.err = p.store(c); p.err != nil {
					p.failed.Store(true)
				}
			}
			p.stored <- struct{}{}
		}
	}()
	return p
}

// buffer returns the buffer for chunk i, once both stages are done with
// the chunk that used it before.
func (p *chunkPipeline) buffer(i int) []byte {
	for ; p.released <= i-len(p.bufs); p.released++ {
		<-p.stored
		<-p.hashed
	}
	return p.bufs[i%len(p.bufs)]
}

func (p *chunkPipeline) add(c []byte) {
	p.toWhole <- c
	p.toStore <- c
}

// store hashes and stages one chunk. The first chunk waits until a
// second one shows: a blob the chunker leaves whole is stored as one
// value, not as a list naming a chunk with the blob's own digest.
func (p *chunkPipeline) store(c []byte) error {
	cd := manifest.Sum(c)
	p.refs = append(p.refs, chunkRef{cd, int64(len(c))})
	p.total += int64(len(c))
	if len(p.refs) == 1 {
		p.first = encodeValue(p.l.s.level, c) // a copy: the buffer is reused
		return nil
	}
	if len(p.refs) == 2 {
		if err := p.l.putValue(p.ctx, db.BucketChunks, pendingValue{digest: p.refs[0].digest, encoded: p.first}); err != nil {
			return err
		}
		p.first = nil
	}
	return p.l.putValue(p.ctx, db.BucketChunks, pendingValue{digest: cd, data: c})
}

// close waits for both stages to finish what they were given, gives the
// buffers back and returns the store stage's error. It may be called
// again.
func (p *chunkPipeline) close() error {
	if !p.closed {
		p.closed = true
		close(p.toStore)
		close(p.toWhole)
		p.stages.Wait()
		for _, b := range p.bufs {
			chunkBuffers().put(b)
		}
	}
	return p.err
}
