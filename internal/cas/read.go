package cas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

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
	if offset == 0 {
		r.whole = sha256.New()
		return r, nil
	}
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
// digest and, when it reads from the start, the whole against the blob's
// (whole is nil otherwise).
type chunkReader struct {
	ctx    context.Context
	s      *Bolt
	digest manifest.Digest
	refs   []chunkRef
	next   int
	cur    []byte
	whole  hash.Hash
	// proveByWhole leaves the chunks unhashed: a WriteTo from the start
	// hands the whole blob over, which its digest proves.
	proveByWhole bool
	err          error
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
		if r.whole == nil {
			r.release()
			return io.EOF
		}
		err := r.checkWhole()
		r.release()
		if err != nil {
			return err
		}
		return io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	ref := r.refs[r.next]
	if cap(r.payload) < int(ref.size) {
		// From the list, not grown: a new buffer is cleared and faulted
		// in, which for a large blob's reads cost as much as the copy.
		if r.payload != nil {
			readBuffers().put(r.payload)
		}
		r.payload = readBuffers().get(chunkMax)
	}
	var h header
	err := r.s.db.View(func(tx *bolt.Tx) error {
		chunks, err := db.Bucket(tx, db.BucketChunks)
		if err != nil {
			return err
		}
		if h, err = chunkValue(chunks, r.digest, r.next, ref); err != nil {
			return err
		}
		r.payload = r.s.appendMapped(r.payload[:0], h.payload, r.s.mapBase(), uintptr(tx.Size()))
		h.payload = r.payload
		return nil
	})
	if err != nil {
		return err
	}
	decode := decodeValueInto
	if r.proveByWhole {
		decode = decodeUnverifiedInto
	}
	b, err := decode(r.decoded[:0], ref.digest, h)
	if err != nil {
		return fmt.Errorf("blob %s: %w", r.digest, err)
	}
	if h.format != formatRaw {
		r.decoded = b
	}
	if r.whole != nil {
		r.whole.Write(b)
	}
	if r.proveByWhole && r.next == len(r.refs)-1 {
		// The last chunk goes out only once the whole is proven, so
		// that no one is handed every byte of a damaged blob.
		if err := r.checkWhole(); err != nil {
			return err
		}
	}
	r.cur = b
	r.next++
	return nil
}

// checkWhole checks what the whole hash has read against the blob's
// digest. Where the chunks were not hashed one by one, a mismatch is
// looked into, to name the chunk that is damaged if one is.
func (r *chunkReader) checkWhole() error {
	var got manifest.Digest
	r.whole.Sum(got[:0])
	if got == r.digest {
		return nil
	}
	if r.proveByWhole {
		if err := r.s.db.View(func(tx *bolt.Tx) error { return verifyBlob(tx, r.digest) }); err != nil {
			return fmt.Errorf("blob %s: %w", r.digest, err)
		}
	}
	return corrupt(r.digest, "chunks hash to %s", got)
}

// WriteTo writes the rest of the blob to w. From the start, it hands w
// the whole blob, which the blob's digest proves: the chunks are not
// hashed one by one as well, which would hash every byte twice (a push
// spent an eighth of its time there), and the last chunk is written only
// once the whole is proven.
func (r *chunkReader) WriteTo(w io.Writer) (int64, error) {
	if r.whole != nil && r.next == 0 && len(r.cur) == 0 {
		r.proveByWhole = true
	}
	var n int64
	for {
		for len(r.cur) == 0 {
			if r.err != nil {
				if r.err == io.EOF {
					return n, nil
				}
				return n, r.err
			}
			r.err = r.load()
		}
		m, err := w.Write(r.cur)
		n += int64(m)
		r.cur = r.cur[m:]
		if err != nil {
			return n, err
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
	if r.payload != nil {
		readBuffers().put(r.payload)
	}
	r.cur, r.payload, r.decoded = nil, nil, nil
}

// mapBase is where the store file is mapped; it moves only when a write
// grows the map, which waits for every read transaction to end, so it is
// stable inside one.
func (s *Bolt) mapBase() uintptr { return s.db.Bolt().Info().Data }
