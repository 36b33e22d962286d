package cas

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/heaplimit"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

// A spillBatch is what a lease has staged and not yet written: packs of
// small values, and values too large to pack.
type spillBatch struct {
	packs  []*pack
	values []stagedValue
	bytes  int
}

// recycle returns the batch's pack and value buffers, once it is written
// or dropped.
func (sb *spillBatch) recycle() {
	for _, p := range sb.packs {
		p.recycle()
	}
	sb.packs = nil
	for _, v := range sb.values {
		if v.buf != nil {
			valueBuffers().put(v.buf)
		}
	}
	sb.values = nil
}

// A stagedValue is a value too large to pack, encoded, waiting to be
// written. buf, if not nil, is the buffer from valueBuffers that value
// lies in.
type stagedValue struct {
	ref   valueRef
	value []byte
	buf   []byte
}

// putValue holds it.digest, then stages its value unless the store
// already has it. The hold comes first, so a value seen as stored stays
// stored.
func (l *Lease) putValue(ctx context.Context, bucket []byte, it pendingValue) error {
	return l.putValues(ctx, bucket, []pendingValue{it})
}

// A pendingValue is a value to put: its logical bytes, encoded only if
// the store turns out not to have them (and not kept after the put), or
// its value already encoded, or its logical bytes in a buffer from
// newRawValue, which the put takes over: staged as the raw value where
// it lies, or given back to valueBuffers. keepRaw stages it raw without
// a look at whether zstd would pay: a chunk's head and tail, cut from a
// chunk judged so already (pagedhead.go).
type pendingValue struct {
	digest  manifest.Digest
	data    []byte
	encoded []byte
	raw     []byte
	keepRaw bool
}

// bytes returns its logical bytes (nil if it is given encoded).
func (it pendingValue) bytes() []byte {
	if it.raw != nil {
		return it.raw[rawValueRoom:]
	}
	return it.data
}

// drop gives back the buffer of a value that is not staged.
func (it pendingValue) drop() {
	if it.raw != nil {
		valueBuffers().put(it.raw)
	}
}

// putValues is putValue for many values at once: one look at the store
// for all of them, and the encoding of the missing ones spread over the
// cores.
func (l *Lease) putValues(ctx context.Context, bucket []byte, items []pendingValue) error {
	l.mu.Lock()
	if l.done || l.spillErr != nil {
		err := l.spillErr
		if l.done {
			err = ErrLeaseDone
		}
		l.mu.Unlock()
		for _, it := range items {
			it.drop()
		}
		return err
	}
	fresh := make([]pendingValue, 0, len(items))
	for _, it := range items {
		ref := refIn(bucket, it.digest)
		if _, ok := l.held[ref]; !ok {
			l.held[ref] = struct{}{}
			fresh = append(fresh, it)
		} else {
			it.drop()
		}
	}
	which := 0 // of Lease.empty
	if bytes.Equal(bucket, db.BucketChunks) {
		which = 1
	}
	empty := l.empty[which]
	l.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}

	l.s.holds.mu.Lock()
	for _, it := range fresh {
		l.s.holds.take(l, it.digest)
	}
	l.s.holds.mu.Unlock()

	missing := fresh
	if !empty {
		var err error
		if missing, err = l.missing(bucket, which, fresh); err != nil {
			for _, it := range fresh {
				it.drop()
			}
			return err
		}
	}
	return parallel(ctx, len(missing), func(i int) error {
		l.stage(ctx, bucket, missing[i])
		return nil
	})
}

// missing returns the values of items that bucket does not hold, and
// gives back the buffers of the others. A bucket found empty is noted
// (Lease.empty[which]): the lease's later puts into it skip the look.
func (l *Lease) missing(bucket []byte, which int, items []pendingValue) ([]pendingValue, error) {
	var missing []pendingValue
	err := l.s.db.View(func(tx *bolt.Tx) error {
		b, err := db.Bucket(tx, bucket)
		if err != nil {
			return err
		}
		if k, _ := b.Cursor().First(); k == nil {
			l.mu.Lock()
			l.empty[which] = true
			l.mu.Unlock()
			missing = items
			return nil
		}
		committed := func(manifest.Digest) bool { return false }
		if which == 0 {
			if has, done := l.s.committed.stored(tx); has != nil {
				defer done()
				committed = has
			}
		}
		for _, it := range items {
			if !committed(it.digest) && !hasValue(b, it.digest) {
				missing = append(missing, it)
			} else {
				it.drop()
			}
		}
		return nil
	})
	return missing, err
}

// maxRawPacked is the largest blob whose raw value fits in a pack.
const maxRawPacked = packMax - 1 - binary.MaxVarintLen64

// stage encodes it and keeps its value for the commit, writing early once
// enough is staged. A small value goes straight into the pack being
// filled; it is compressed first, if worth it (WorthCompressingAt),
// outside the lock, so that puts on other goroutines go on meanwhile.
func (l *Lease) stage(ctx context.Context, bucket []byte, it pendingValue) {
	data := it.bytes()
	v := it.encoded
	var buf []byte // the buffer from valueBuffers that v lies in
	if v == nil && !it.keepRaw && WorthCompressingAt(l.s.level, data) {
		// Compressed into a buffer of the list, not a new one: a snapshot
		// compresses its whole size, and new buffers are garbage that the
		// process faults in and the collector chases (a 2 GiB log made
		// as much). A packed value is copied into its pack and its buffer
		// given back at once; another is written from it.
		buf = valueBuffers().get(compressRoom(len(data)))
		if v = compressValueInto(buf, l.s.level, data); v == nil || &v[0] != &buf[:1][0] {
			valueBuffers().put(buf)
			buf = nil
		}
	}
	packed := len(v) <= packMax && (v != nil || len(data) <= maxRawPacked)
	if !packed && buf != nil {
		// Staged, the buffer counts whole: one of the value's size
		// spares early writes of a few values each.
		buf, v = fitValue(buf, v)
	}
	switch {
	case !packed && v == nil && it.raw != nil:
		buf, v = it.raw, rawValueIn(it.raw)
	case !packed && v == nil:
		buf = valueBuffers().get(rawValueRoom + len(data))
		v = appendRawValue(buf, data)
	}
	if it.raw != nil && (buf == nil || &buf[:1][0] != &it.raw[:1][0]) {
		// Packed or compressed: the pack and the compressed value are
		// copies.
		defer it.drop()
	}
	ref := refIn(bucket, it.digest)

	l.mu.Lock()
	if !packed {
		l.staged.values = append(l.staged.values, stagedValue{ref, v, buf})
		// What a buffer holds is memory too, though the value is shorter.
		l.staged.bytes += max(len(v), cap(buf))
	} else {
		if l.pack == nil && it.keepRaw {
			l.pack = newTailPack() // a chunk's tail: the lease puts a large blob
		} else if l.pack == nil {
			l.pack = newPack()
		}
		before := len(l.pack.data)
		if v == nil {
			l.pack.addRaw(ref, data)
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
		batch = l.takeSpill()
	}
	l.mu.Unlock()
	if packed && buf != nil {
		valueBuffers().put(buf) // copied into the pack
	}
	if spill {
		l.spill(ctx, batch)
	}
}

// fitValue moves the value v, which lies in buf, a buffer from
// valueBuffers, into a smaller one of them if it fits in less than half
// of buf, and returns the buffer v lies in and v.
func fitValue(buf, v []byte) ([]byte, []byte) {
	if len(v)+bufferStep > cap(buf)/2 {
		return buf, v
	}
	fit := append(valueBuffers().get(len(v)), v...)
	valueBuffers().put(buf)
	return fit, fit
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

// takeSpill is takeStaged for an early write, which leaves a pack of
// chunks' tails being filled (newTailPack) to the next write, unless it
// holds half of what a lease may stage: a large blob's put stages a few
// KiB of tails between early writes, and each written apart was a small
// pack, its last page's tail lost, and the leaves of packs/ and packlive/
// written again: 336 KB more on pf-bench's 1 GiB blob. The pack still
// counts as staged.
func (l *Lease) takeSpill() spillBatch {
	p := l.pack
	if p == nil || !p.tails || 2*len(p.data) >= l.s.spillBytes {
		return l.takeStaged()
	}
	l.pack = nil
	batch := l.takeStaged()
	l.pack = p
	l.staged.bytes = len(p.data)
	return batch
}

// parallel runs fn(0..n-1) on every core, a worker per core taking the
// next i, and returns the first error; after one, or once ctx ends, no
// further i starts. A single item runs on the caller's goroutine: most
// puts are of one value.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range workers {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := fn(i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// spill writes batch, marked provisional, in the background; it waits
// first for the write before it, so at most two batches are in memory.
func (l *Lease) spill(ctx context.Context, batch spillBatch) {
	l.spilling <- struct{}{}
	// The put that started it may return, and its context end, before the
	// write does; Commit and Abort wait for it either way.
	ctx = context.WithoutCancel(ctx)
	go func() {
		// After the write, not before the next: Commit waits for the
		// write alone.
		defer heaplimit.CollectAfterWrite(int64(batch.bytes))
		defer func() { <-l.spilling }()
		var (
			stored []valueRef
			packs  []earlyPack
		)
		err := l.s.db.Update(ctx, func(tx *bolt.Tx) (err error) {
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			stored, packs, err = bk.writeValues(batch, true)
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
