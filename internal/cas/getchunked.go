package cas

import (
	"cmp"
	"context"
	"crypto/sha256"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// getChunked reads a chunked blob whole: size bytes, in the chunks refs
// lists (parsed by parseChunkList, so their sizes add up to size). Each
// chunk is decoded straight into its place in the result and checked
// against its own digest, and the chunks are spread over the cores: a
// chunk is keyed by its SHA-256, so the chunks of one blob can be proven
// at once, where the blob's own digest is one SHA-256 over every byte, on
// one core. A byte flipped anywhere is still refused: in a chunk, by that
// chunk's digest; in the chunk list, by the chunk it then fails to name
// or the sizes that no longer add up (parseChunkList, chunkValue). The
// list itself was cut from the bytes whose hash is the blob's digest when
// they were put.
func (s *Bolt) getChunked(ctx context.Context, d manifest.Digest, refs []chunkRef, size int64) ([]byte, error) {
	// Not cleared: every byte of it is a chunk's, copied or decoded in,
	// before it is returned, and on an error it is dropped.
	out := uninitializedBytes(int(size))
	var at int64
	for first := 0; first < len(refs); {
		// A window of the chunks at a time, each in a transaction of its
		// own: the values' bytes, and their places in the file, stay
		// valid until every core is done with them, and a writer that
		// grows the file waits for one window, not for a whole large blob.
		last, n := first+1, refs[first].size
		for last < len(refs) && n+refs[last].size <= getWindow {
			n += refs[last].size
			last++
		}
		err := s.db.View(func(tx *bolt.Tx) error {
			chunks, err := db.Bucket(tx, db.BucketChunks)
			if err != nil {
				return err
			}
			values := make([]header, last-first)
			for i := range values {
				if values[i], err = chunkValue(chunks, d, first+i, refs[first+i]); err != nil {
					return err
				}
			}
			g := newChunkedGet(s, d, first, out[at:at+n], refs[first:last], values, s.mapBase(), uintptr(tx.Size()))
			return g.run(ctx)
		})
		if err != nil {
			return nil, err
		}
		first, at = last, at+n
	}
	return out, nil
}

// getWindow bounds the bytes of the chunks a Get reads in one read
// transaction: about 20 ms on two cores.
const getWindow = 64 << 20

// pieceSize is the unit a raw chunk is copied out of the store file in,
// so that one core can copy the bytes of a chunk another core hashes.
// SHA-256 of one chunk cannot be split between cores, and a 4 MiB blob is
// only three to five chunks: on two cores one of them hashes one chunk
// more than the other, and with each core copying its own chunks too it
// also copies that chunk's bytes. Copied a piece at a time, the core
// that is done first copies what the other has left to hash, and each
// piece is hashed while it is still in the core's cache.
const pieceSize = 256 << 10

// chunkedGet is the work of one window of a getChunked: the chunks'
// hashes, dealt out to the cores before they start (largest first, each
// to the core with the fewest bytes so far; a core done with its own
// takes those another has not started), and the copies of the raw
// chunks' pieces, which any core takes, in the order the hashes will
// need them, whenever the piece it is to hash next is not there yet.
type chunkedGet struct {
	s            *Bolt
	d            manifest.Digest
	first        int // the blob's chunk refs[0] is, for errors
	out          []byte
	refs         []chunkRef
	values       []header // each chunk's stored value, in the transaction's map
	starts       []int64  // each chunk's place in out
	base, mapped uintptr
	hashes       [][]int // the chunks each core hashes, in order
	pieces       [][]int // each raw chunk's pieces, indexes into copies
	copies       []piece // in the order they are needed
	claimed      atomic.Int64
	started      []atomic.Bool // chunk i is taken: one core proves it
	failed       atomic.Bool   // a core found a bad chunk: the others stop
}

// piece is a part of a raw chunk: its bytes go to out[start:end], from
// the chunk's stored value at offset start-chunkStart.
type piece struct {
	chunk      int
	start, end int64
	done       chan struct{} // closed once the bytes are in out
}

func newChunkedGet(s *Bolt, d manifest.Digest, first int, out []byte, refs []chunkRef, values []header, base, mapped uintptr) *chunkedGet {
	g := &chunkedGet{s: s, d: d, first: first, out: out, refs: refs, values: values, base: base, mapped: mapped}
	g.starts = make([]int64, len(refs))
	g.started = make([]atomic.Bool, len(refs))
	var at int64
	for i, r := range refs {
		g.starts[i], at = at, at+r.size
	}
	// Largest first, each to the core with the fewest bytes so far, so
	// that the cores end together rather than one waiting on a large
	// chunk taken last.
	order := make([]int, len(refs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(refs[b].size, refs[a].size) })
	g.hashes = make([][]int, min(runtime.GOMAXPROCS(0), len(refs)))
	load := make([]int64, len(g.hashes))
	type need struct {
		piece piece
		at    int64 // the bytes its core hashes before it
	}
	var needs []need
	for _, i := range order {
		c := slices.Index(load, slices.Min(load))
		g.hashes[c] = append(g.hashes[c], i)
		if values[i].format == formatRaw {
			for off := int64(0); off < refs[i].size; off += pieceSize {
				start := g.starts[i] + off
				needs = append(needs, need{piece{chunk: i, start: start, end: start + min(pieceSize, refs[i].size-off)}, load[c] + off})
			}
		}
		load[c] += refs[i].size
	}
	slices.SortStableFunc(needs, func(a, b need) int { return cmp.Compare(a.at, b.at) })
	g.pieces = make([][]int, len(refs))
	g.copies = make([]piece, len(needs))
	for k, n := range needs {
		n.piece.done = make(chan struct{})
		g.copies[k] = n.piece
		g.pieces[n.piece.chunk] = append(g.pieces[n.piece.chunk], k)
	}
	return g
}

// run proves every chunk, one goroutine a core, this one among them.
func (g *chunkedGet) run(ctx context.Context) error {
	errs := make([]error, len(g.hashes))
	var wg sync.WaitGroup
	for c := 1; c < len(g.hashes); c++ {
		wg.Go(func() { errs[c] = g.work(ctx, c) })
	}
	errs[0] = g.work(ctx, 0)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// work hashes core c's chunks, then those dealt to the other cores that
// none has started yet, last dealt first, then copies the pieces no core
// has taken, for the others to hash. The goroutines after the first
// start on cores woken for them, which can be late: under a load of 13
// on two cores, 80 us at the tenth percentile and a millisecond at the
// median of 4 MiB Gets. The first core done then takes over the chunks
// the late one has not reached, where it used to wait for it.
func (g *chunkedGet) work(ctx context.Context, c int) error {
	for _, i := range g.hashes[c] {
		if err := g.take(ctx, i); err != nil || g.failed.Load() {
			return err
		}
	}
	for o := range g.hashes {
		if o == c {
			continue
		}
		for k := len(g.hashes[o]) - 1; k >= 0; k-- {
			if err := g.take(ctx, g.hashes[o][k]); err != nil || g.failed.Load() {
				return err
			}
		}
	}
	for g.copyNext() {
	}
	return nil
}

// take proves chunk i unless another core has taken it.
func (g *chunkedGet) take(ctx context.Context, i int) error {
	if g.failed.Load() || !g.started[i].CompareAndSwap(false, true) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		g.failed.Store(true)
		return err
	}
	if err := g.prove(i); err != nil {
		g.failed.Store(true)
		return err
	}
	return nil
}

// prove puts chunk i in its place in out and checks it against its
// digest: a raw chunk piece by piece as the pieces are copied, a chunk
// in zstd decoded whole.
func (g *chunkedGet) prove(i int) error {
	r := g.refs[i]
	end := g.starts[i] + r.size
	dst := g.out[g.starts[i]:end:end]
	h := sha256.New()
	if v := g.values[i]; v.format == formatRaw {
		for _, k := range g.pieces[i] {
			p := &g.copies[k]
			g.await(k)
			h.Write(g.out[p.start:p.end])
		}
	} else {
		// dst is the chunk's size and capacity: a frame that decodes
		// longer cannot write into the next chunk's place.
		b, err := appendDecoded(dst[:0], r.digest, v)
		if err != nil {
			return err
		}
		if &b[0] != &dst[0] {
			copy(dst, b)
		}
		h.Write(dst)
		dropMapped(v.payload, g.base, g.mapped)
	}
	var got manifest.Digest
	if h.Sum(got[:0]); got != r.digest {
		return corrupt(g.d, "chunk %d (%s) hashes to %s", g.first+i, r.digest, got)
	}
	return nil
}

// await returns once piece k is in out, copying pieces, k or those
// needed before it, while it is not taken.
func (g *chunkedGet) await(k int) {
	p := &g.copies[k]
	for int64(k) >= g.claimed.Load() {
		g.copyNext()
	}
	<-p.done
}

// copyNext copies the next piece no core has taken, and reports whether
// there was one.
func (g *chunkedGet) copyNext() bool {
	k := g.claimed.Add(1) - 1
	if k >= int64(len(g.copies)) {
		return false
	}
	p := &g.copies[k]
	v := g.values[p.chunk].payload
	at := p.start - g.starts[p.chunk]
	g.s.copyMapped(g.out[p.start:p.end], v[at:at+(p.end-p.start)], at == 0, g.base, g.mapped)
	close(p.done)
	return true
}
