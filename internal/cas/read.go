package cas

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Open returns a reader of d's bytes. A blob stored as one value is read
// and verified at once; a chunked one is read a chunk at a time, so a
// reader holds at most one chunk in memory.
func (s *Bolt) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	return s.OpenAt(ctx, d, 0)
}

// OpenAt returns a reader of d's bytes from offset on (none past the
// end). A chunked blob is read from the chunk that holds offset, so a
// read near the end of a large blob costs a chunk, not the blob: each
// chunk read is checked against its digest, and the whole blob's digest
// is checked at the end when offset is 0.
func (s *Bolt) OpenAt(ctx context.Context, d manifest.Digest, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("blob %s: negative offset %d", d, offset)
	}
	var (
		value []byte
		h     header
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if h, _, err = lookup(tx, d); err != nil {
			return err
		}
		// Values are only valid inside the transaction.
		value = bytes.Clone(h.payload)
		if len(h.payload) >= preadMin {
			// A small value's pages stay mapped, as Get leaves them:
			// dropping them costs a madvise, which on a process of
			// many threads is dearer than the copy (a served restore
			// of 100 small files made 100).
			dropMapped(h.payload, s.mapBase(), uintptr(tx.Size()))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.payload = value
	if h.format != formatChunks {
		b, err := decodeValue(d, h)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b[min(offset, int64(len(b))):])), nil
	}
	refs, err := parseChunkList(d, h)
	if err != nil {
		return nil, err
	}
	r := &chunkReader{ctx: ctx, s: s, digest: d, refs: refs}
	// Skip the chunks before offset by their sizes in the list, then
	// the start of the one that holds it.
	for r.next < len(refs) && offset >= refs[r.next].size {
		offset -= refs[r.next].size
		r.next++
	}
	if offset > 0 && r.next < len(refs) {
		if err := r.load(); err != nil {
			return nil, err
		}
		r.cur = r.cur[offset:]
	}
	return r, nil
}

// chunkReader streams a chunked blob, checking each chunk against its
// digest before any of its bytes go out: the chunks' digests prove the
// blob, as for Get (getchunked.go).
type chunkReader struct {
	ctx    context.Context
	s      *Bolt
	digest manifest.Digest
	refs   []chunkRef
	next   int
	cur    []byte
	err    error
	// The chunk's stored payload and its decoded bytes are read into
	// these, one chunk after another: a new buffer for each chunk would
	// be memory the process has to fault in again for every chunk, which
	// cost more than reading and hashing the chunk (internal/transfer's
	// pushes spent half their time there).
	payload, decoded []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.load()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// load reads the next chunk into cur, or sets up the final outcome.
func (r *chunkReader) load() error {
	if r.next == len(r.refs) {
		r.release()
		return io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	b, err := r.s.loadChunk(&r.payload, &r.decoded, r.digest, r.next, r.refs[r.next])
	if err != nil {
		return err
	}
	r.cur = b
	r.next++
	return nil
}

// loadChunk reads chunk i of blob d into *payload (its stored bytes) and,
// for a chunk in zstd, *decoded, taking them from readBuffers when they
// are short, and returns its bytes once they match its digest.
func (s *Bolt) loadChunk(payload, decoded *[]byte, d manifest.Digest, i int, ref chunkRef) ([]byte, error) {
	if cap(*payload) < int(ref.size) {
		// From the list, not grown: a new buffer is cleared and faulted
		// in, which for a large blob's reads cost as much as the copy.
		if *payload != nil {
			readBuffers().put(*payload)
		}
		*payload = readBuffers().get(chunkMax)
	}
	var h header
	err := s.db.View(func(tx *bolt.Tx) error {
		chunks, err := db.Bucket(tx, db.BucketChunks)
		if err != nil {
			return err
		}
		if h, err = chunkValue(chunks, d, i, ref); err != nil {
			return err
		}
		if h.format != formatRaw && cap(*decoded) < int(ref.size) {
			putReadBuffers(*decoded)
			*decoded = readBuffers().get(chunkMax)
		}
		*payload = s.appendMapped((*payload)[:0], h.payload, s.mapBase(), uintptr(tx.Size()))
		h.payload = *payload
		return nil
	})
	if err != nil {
		return nil, err
	}
	b, err := decodeValueInto((*decoded)[:0], ref.digest, h)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if h.format != formatRaw {
		*decoded = b
	}
	return b, nil
}

// WriteTo writes the rest of the blob to w. The chunks after the current
// one are read and checked ahead on every core, a few at a time, while w
// takes those before them, in order: w is handed no byte of a chunk
// before that chunk is proven, and nothing past the first bad one.
func (r *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if len(r.cur) > 0 {
		m, err := w.Write(r.cur)
		n += int64(m)
		r.cur = r.cur[m:]
		if err != nil {
			return n, err
		}
	}
	if r.err != nil {
		if r.err == io.EOF {
			return n, nil
		}
		return n, r.err
	}
	m, err := r.writeAhead(w)
	n += m
	r.release()
	if err == nil {
		r.err = io.EOF
		return n, nil
	}
	r.err = err
	return n, err
}

// maxReadAhead bounds the chunks a WriteTo reads ahead at once: each
// holds up to two chunk-sized buffers (stored and decoded bytes), so a
// machine of many cores would otherwise hold hundreds of MiB for one
// stream, where two or three cores already outpace most writers.
const maxReadAhead = 4

func readAheadWorkers() int { return min(runtime.GOMAXPROCS(0), maxReadAhead) }

// writeAhead writes the chunks from r.next on to w, each read and proven
// by one of a goroutine per core; they all end before it returns.
func (r *chunkReader) writeAhead(w io.Writer) (int64, error) {
	first, count := r.next, len(r.refs)-r.next
	if count == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	type loaded struct {
		b, payload, decoded []byte
		err                 error
	}
	var (
		results = make([]chan loaded, count)
		// A token for each chunk claimed and not yet written, one a
		// worker and one for the chunk w takes: memory stays a few chunks.
		// A token is taken before a chunk's number, so the lowest
		// unwritten chunk always holds one.
		window  = make(chan struct{}, readAheadWorkers()+1)
		claimed atomic.Int64
		wg      sync.WaitGroup
	)
	for k := range results {
		results[k] = make(chan loaded, 1)
	}
	worker := func() {
		defer wg.Done()
		var payload, decoded []byte
		for {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			k := int(claimed.Add(1) - 1)
			if k >= count {
				return
			}
			var l loaded
			if l.err = ctx.Err(); l.err == nil {
				l.b, l.err = r.s.loadChunk(&payload, &decoded, r.digest, first+k, r.refs[first+k])
			}
			// The buffers go with the chunk; the next is read into new ones.
			l.payload, l.decoded = payload, decoded
			payload, decoded = nil, nil
			results[k] <- l
		}
	}
	workers := min(readAheadWorkers(), count)
	wg.Add(workers)
	for range workers {
		go worker()
	}
	var (
		n   int64
		err error
	)
	for k := 0; k < count && err == nil; k++ {
		var l loaded
		select {
		case l = <-results[k]:
		case <-ctx.Done():
			// The workers stop claiming chunks: chunk k may never come.
			err = ctx.Err()
			continue
		}
		if err = l.err; err == nil {
			var m int
			m, err = w.Write(l.b)
			n += int64(m)
			r.next = first + k + 1
		}
		putReadBuffers(l.payload, l.decoded)
		<-window
	}
	cancel()
	wg.Wait()
	// Give back the buffers of what was read past an error.
	for k := range results {
		select {
		case l := <-results[k]:
			putReadBuffers(l.payload, l.decoded)
		default:
		}
	}
	return n, err
}

// putReadBuffers gives a chunk's buffers back to readBuffers.
func putReadBuffers(bufs ...[]byte) {
	for _, b := range bufs {
		if b != nil {
			readBuffers().put(b)
		}
	}
}

func (r *chunkReader) Close() error {
	r.err = fmt.Errorf("blob %s: read after close", r.digest)
	r.release()
	return nil
}

// release drops the buffers once the last chunk is read.
func (r *chunkReader) release() {
	putReadBuffers(r.payload, r.decoded)
	r.cur, r.payload, r.decoded = nil, nil, nil
}

// mapBase is where the store file is mapped; it moves only when a write
// grows the map, which waits for every read transaction to end, so it is
// stable inside one.
func (s *Bolt) mapBase() uintptr { return s.db.Bolt().Info().Data }
