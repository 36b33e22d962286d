package cas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	"github.com/restic/chunker"
	bolt "go.etcd.io/bbolt"
)

// chunkerPol is the Rabin polynomial of every pf store. It must never
// change: chunk boundaries, and so dedupe across stores, depend on it.
const chunkerPol = chunker.Pol(0x2a6e3f9c957425)

// ErrLeaseDone is returned by a lease used after Commit or Abort.
var ErrLeaseDone = errors.New("lease already committed or aborted")

// holds counts, per digest, the live leases that hold it. A held digest is
// never deleted: not by another lease's abort, nor by garbage collection.
type holds struct {
	mu sync.Mutex
	n  map[manifest.Digest]int
}

// Held reports whether any live lease holds d. Callers that delete values
// call it under LockHolds, so no lease can take d in between.
func (s *Bolt) Held(d manifest.Digest) bool { return s.holds.n[d] > 0 }

// LockHolds stops leases from taking new digests until UnlockHolds. A
// deleter keeps it across the whole transaction, commit included.
func (s *Bolt) LockHolds()   { s.holds.mu.Lock() }
func (s *Bolt) UnlockHolds() { s.holds.mu.Unlock() }

type stagedValue struct {
	bucket []byte
	digest manifest.Digest
	value  []byte
}

// A Lease groups the writes of one snapshot (or one put): they become
// permanent together when it commits, and disappear if it is aborted.
// A Lease is safe for concurrent use.
type Lease struct {
	s *Bolt

	mu     sync.Mutex
	held   map[valueRef]struct{}
	sizes  map[manifest.Digest]int64 // blobs put and found stored or staged
	pack   *pack                     // small values being gathered
	staged spillBatch                // the rest of what is not written yet
	done   bool

	// What early writes stored, each marked provisional until the commit
	// deletes its mark; and the packs they wrote, to which the commit adds
	// the references.
	wrote []valueRef
	early []earlyPack

	// One early write at a time runs in the background while puts go
	// on hashing and compressing; a second waits for it. spillErr is the
	// first early write's failure, reported by the next put or Commit.
	spilling chan struct{}
	spillErr error
}

// NewLease starts a lease. It holds nothing until something is put.
func (s *Bolt) NewLease() *Lease {
	return &Lease{
		s: s, held: map[valueRef]struct{}{}, sizes: map[manifest.Digest]int64{},
		spilling: make(chan struct{}, 1),
	}
}

// PutBytes stages b under the lease and returns its digest.
func (l *Lease) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	if len(b) > InlineMax {
		return l.putChunked(ctx, bytes.NewReader(b))
	}
	d := manifest.Sum(b)
	if err := l.putValue(ctx, db.BucketBlobs, pendingValue{digest: d, data: b}); err != nil {
		return d, err
	}
	l.known(d, int64(len(b)))
	return d, nil
}

// Put stages what r yields. A blob over InlineMax is chunked as it is
// read, so memory stays bounded whatever its size.
func (l *Lease) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	bufp := headBuffers.Get().(*[]byte)
	defer headBuffers.Put(bufp)
	head := *bufp
	n, err := io.ReadFull(r, head)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		return l.PutBytes(ctx, head[:n])
	case nil:
		return l.putChunked(ctx, io.MultiReader(bytes.NewReader(head), r))
	}
	return manifest.Digest{}, fmt.Errorf("read blob: %w", err)
}

// headBuffers hold the first InlineMax+1 bytes of a streamed put: enough
// to tell an inline blob from a chunked one. Pooled, because snapshots of
// many small files would otherwise allocate one per file.
var headBuffers = sync.Pool{New: func() any { b := make([]byte, InlineMax+1); return &b }}

var chunkBuffers = sync.Pool{New: func() any { b := make([]byte, chunkMax); return &b }}

func (l *Lease) putChunked(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	ch := chunker.NewWithBoundaries(r, chunkerPol, chunkMin, chunkMax)
	p := newChunkPipeline(ctx, l)
	defer p.close()
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return manifest.Digest{}, err
		}
		if p.failed.Load() {
			break // close reports the store stage's error
		}
		c, err := ch.Next(p.buffer(i))
		if err == io.EOF {
			break
		}
		if err != nil {
			return manifest.Digest{}, fmt.Errorf("read blob: %w", err)
		}
		p.add(c.Data)
	}
	if err := p.close(); err != nil {
		return manifest.Digest{}, err
	}
	var d manifest.Digest
	p.whole.Sum(d[:0])
	value := p.first
	if len(p.refs) != 1 {
		value = encodeChunkList(p.total, p.refs)
	}
	if err := l.putValue(ctx, db.BucketBlobs, pendingValue{digest: d, encoded: value}); err != nil {
		return d, err
	}
	l.known(d, p.total)
	return d, nil
}

// chunkPipeline runs a chunked put in three stages, each on a goroutine
// of its own: the caller cuts chunks (restic's chunker, which reads a byte
// at a time, is the slowest stage), one stage hashes and stages each
// chunk, and one hashes the whole blob. Three buffers go round: the
// chunker fills one while the stages read the others.
type chunkPipeline struct {
	ctx     context.Context
	l       *Lease
	bufs    [pipelineBuffers]*[]byte
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
		p.bufs[i] = chunkBuffers.Get().(*[]byte)
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
	return *p.bufs[i%len(p.bufs)]
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
			chunkBuffers.Put(b)
		}
	}
	return p.err
}

func (l *Lease) known(d manifest.Digest, size int64) {
	l.mu.Lock()
	l.sizes[d] = size
	l.mu.Unlock()
}

// Size reports the logical size of blob d if this lease put it
// successfully. Such a blob needs no second look before Commit: it was
// found stored or is staged, and the lease's hold keeps it.
func (l *Lease) Size(d manifest.Digest) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	size, ok := l.sizes[d]
	return size, ok
}

// putValue holds it.digest, then stages its value unless the store
// already has it. The hold comes first, so a value seen as stored stays
// stored.
func (l *Lease) putValue(ctx context.Context, bucket []byte, it pendingValue) error {
	return l.putValues(ctx, bucket, []pendingValue{it})
}

// A pendingValue is a value to put: its logical bytes, encoded only if
// the store turns out not to have them (and not kept after the put), or
// its value already encoded.
type pendingValue struct {
	digest  manifest.Digest
	data    []byte
	encoded []byte
}

// putValues is putValue for many values at once: one look at the store
// for all of them, and the encoding of the missing ones spread over the
// cores.
func (l *Lease) putValues(ctx context.Context, bucket []byte, items []pendingValue) error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return ErrLeaseDone
	}
	if l.spillErr != nil {
		l.mu.Unlock()
		return l.spillErr
	}
	var fresh []pendingValue
	for _, it := range items {
		ref := refIn(bucket, it.digest)
		if _, ok := l.held[ref]; !ok {
			l.held[ref] = struct{}{}
			fresh = append(fresh, it)
		}
	}
	l.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}

	l.s.holds.mu.Lock()
	for _, it := range fresh {
		l.s.holds.n[it.digest]++
	}
	l.s.holds.mu.Unlock()

	var missing []pendingValue
	if err := l.s.db.View(func(tx *bolt.Tx) error {
		b, err := db.Bucket(tx, bucket)
		if err != nil {
			return err
		}
		for _, it := range fresh {
			if !hasValue(b, it.digest) {
				missing = append(missing, it)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	parallel(len(missing), func(i int) { l.stage(ctx, bucket, missing[i]) })
	return nil
}

// maxRawPacked is the largest blob whose raw value fits in a pack.
const maxRawPacked = packMax - 1 - binary.MaxVarintLen64

// stage encodes it and keeps its value for the commit, writing early once
// enough is staged. A small value goes straight into the pack being
// filled; it is compressed first, outside the lock, so that puts on other
// goroutines go on meanwhile.
func (l *Lease) stage(ctx context.Context, bucket []byte, it pendingValue) {
	v := it.encoded
	if v == nil {
		v = compressValue(l.s.level, it.data)
	}
	packed := len(v) <= packMax && (v != nil || len(it.data) <= maxRawPacked)
	if !packed && v == nil {
		v = appendRawValue(make([]byte, 0, 1+binary.MaxVarintLen64+len(it.data)), it.data)
	}
	ref := refIn(bucket, it.digest)

	l.mu.Lock()
	if !packed {
		l.staged.values = append(l.staged.values, stagedValue{bucket, it.digest, v})
		l.staged.bytes += len(v)
	} else {
		if l.pack == nil {
			l.pack = newPack()
		}
		before := len(l.pack.data)
		if v == nil {
			l.pack.addRaw(ref, it.data)
		} else {
			l.pack.add(ref, v)
		}
		l.staged.bytes += len(l.pack.data) - before
		if l.pack.full() {
			l.staged.packs = append(l.staged.packs, l.pack)
			l.pack = nil
		}
	}
	var batch spillBatch
	spill := l.staged.bytes >= l.s.spillBytes
	if spill {
		batch = l.takeStaged()
	}
	l.mu.Unlock()
	if spill {
		l.spill(ctx, batch)
	}
}

// takeStaged hands over everything staged, the pack being filled with it.
// The caller holds l.mu.
func (l *Lease) takeStaged() spillBatch {
	if l.pack != nil {
		l.staged.packs = append(l.staged.packs, l.pack)
		l.pack = nil
	}
	batch := l.staged
	l.staged = spillBatch{}
	return batch
}

// PutBatch puts many blobs at once and returns their digests in order: it
// hashes and compresses on every core and looks at the store once, where a
// loop of PutBytes would do each blob in turn.
func (l *Lease) PutBatch(ctx context.Context, blobs [][]byte) ([]manifest.Digest, error) {
	digests := make([]manifest.Digest, len(blobs))
	var small []pendingValue
	var smallIdx []int
	parallel(len(blobs), func(i int) {
		if len(blobs[i]) <= InlineMax {
			digests[i] = manifest.Sum(blobs[i])
		}
	})
	for i, b := range blobs {
		if len(b) > InlineMax {
			d, err := l.putChunked(ctx, bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			digests[i] = d
			continue
		}
		small = append(small, pendingValue{digest: digests[i], data: b})
		smallIdx = append(smallIdx, i)
	}
	if err := l.putValues(ctx, db.BucketBlobs, small); err != nil {
		return nil, err
	}
	for _, i := range smallIdx {
		l.known(digests[i], int64(len(blobs[i])))
	}
	return digests, nil
}

// parallel runs fn(0..n-1) on every core and waits.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// spill writes batch, marked provisional, in the background; it waits
// first for the write before it, so at most two batches are in memory.
func (l *Lease) spill(ctx context.Context, batch spillBatch) {
	l.spilling <- struct{}{}
	// The put that started it may return, and its context end, before the
	// write does; Commit and Abort wait for it either way.
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer func() { <-l.spilling }()
		var (
			stored []valueRef
			packs  []earlyPack
		)
		err := l.s.db.Update(ctx, func(tx *bolt.Tx) (err error) {
			stored, packs, err = writeValues(tx, batch, true)
			return err
		})
		batch.recycle()
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			if l.spillErr == nil {
				l.spillErr = fmt.Errorf("write blobs early: %w", err)
			}
			return
		}
		l.wrote = append(l.wrote, stored...)
		l.early = append(l.early, packs...)
	}()
}

// waitSpill waits for the background write, if one runs, and returns the
// first early write's error.
func (l *Lease) waitSpill() error {
	l.spilling <- struct{}{}
	<-l.spilling
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spillErr
}

// Commit writes what the lease staged, makes everything it holds
// permanent, and runs fn, all in one transaction: either all of it is
// durable when Commit returns nil, or none of it is kept and what only this
// lease wrote is deleted.
func (l *Lease) Commit(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return ErrLeaseDone
	}
	l.done = true
	batch, held := l.takeStaged(), l.heldList()
	l.mu.Unlock()
	defer batch.recycle()

	spillErr := l.waitSpill()
	l.mu.Lock()
	wrote, early := l.wrote, l.early
	l.mu.Unlock()
	if spillErr != nil {
		l.s.release(held, true, early)
		return spillErr
	}
	err := l.s.db.Update(ctx, func(tx *bolt.Tx) error {
		stored, _, err := writeValues(tx, batch, false)
		if err != nil {
			return err
		}
		var t tally
		packed, err := commitEarly(tx, early, &t)
		if err != nil {
			return err
		}
		if err := t.flush(tx); err != nil {
			return err
		}
		stored = append(stored, packed...)
		prov, err := db.Bucket(tx, db.BucketProvisional)
		if err != nil {
			return err
		}
		for _, ref := range wrote {
			if err := prov.Delete(ref.key()); err != nil {
				return err
			}
		}
		// What the lease holds but did not write may be another lease's
		// early write, which that lease's failure would take away.
		written := make(map[valueRef]struct{}, len(stored)+len(wrote))
		for _, ref := range slices.Concat(stored, wrote) {
			written[ref] = struct{}{}
		}
		var others []valueRef
		for _, ref := range held {
			if _, ok := written[ref]; !ok {
				others = append(others, ref)
			}
		}
		if err := settleRefs(tx, others); err != nil {
			return err
		}
		if fn != nil {
			return fn(tx)
		}
		return nil
	})
	if err == nil {
		// Recorded before the holds go, so a collection running now
		// never sees these unheld and unrecorded.
		for _, ref := range held {
			l.s.Touch(ref.digest)
		}
	}
	if rerr := l.s.release(held, err != nil, early); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// Abort drops the lease: what it staged is forgotten, and what it wrote
// early that no other lease or image holds is deleted.
func (l *Lease) Abort() error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return nil
	}
	l.done = true
	held := l.heldList()
	batch := l.takeStaged()
	l.mu.Unlock()
	batch.recycle()
	l.waitSpill() // what it writes is reclaimed below with the rest
	l.mu.Lock()
	early := l.early
	l.mu.Unlock()
	return l.s.release(held, true, early)
}

func (l *Lease) heldList() []valueRef {
	out := make([]valueRef, 0, len(l.held))
	for ref := range l.held {
		out = append(out, ref)
	}
	return out
}

// release lets go of a lease's values; with reclaim, it deletes those
// that are still provisional and whose digest no other lease holds, and
// the lease's early packs, which no one else can have found.
func (s *Bolt) release(held []valueRef, reclaim bool, early []earlyPack) error {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	for _, ref := range held {
		if s.holds.n[ref.digest]--; s.holds.n[ref.digest] <= 0 {
			delete(s.holds.n, ref.digest)
		}
	}
	if !reclaim {
		return nil
	}
	var free []valueRef
	for _, ref := range held {
		if s.holds.n[ref.digest] == 0 {
			free = append(free, ref)
		}
	}
	if len(free) == 0 && len(early) == 0 {
		return nil
	}
	// Not the caller's context: cleaning up must not be cancelled with
	// the work it cleans up after.
	return s.db.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, ep := range early {
			if _, err := dropEarlyPack(tx, packKey(ep.id)); err != nil {
				return err
			}
		}
		_, err := deleteProvisional(tx, free)
		return err
	})
}
