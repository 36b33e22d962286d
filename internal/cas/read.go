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
		dropMapped(h.payload, s.mapBase(), uintptr(tx.Size()))
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
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	refs, err := parseChunkList(d, h)
	if err != nil {
		return nil, err
	}
	return &chunkReader{ctx: ctx, s: s, digest: d, refs: refs, whole: sha256.New()}, nil
}

// chunkReader streams a chunked blob, checking each chunk against its
// digest and the whole against the blob's.
type chunkReader struct {
	ctx    context.Context
	s      *Bolt
	digest manifest.Digest
	refs   []chunkRef
	next   int
	cur    []byte
	whole  hash.Hash
	err    error
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
		var got manifest.Digest
		r.whole.Sum(got[:0])
		if got != r.digest {
			return corrupt(r.digest, "chunks hash to %s", got)
		}
		return io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	ref := r.refs[r.next]
	var h header
	err := r.s.db.View(func(tx *bolt.Tx) error {
		chunks, err := db.Bucket(tx, db.BucketChunks)
		if err != nil {
			return err
		}
		var mapped []byte
		h, mapped, err = copyChunk(chunks, r.digest, r.next, ref)
		dropMapped(mapped, r.s.mapBase(), uintptr(tx.Size()))
		return err
	})
	if err != nil {
		return err
	}
	b, err := decodeValue(ref.digest, h)
	if err != nil {
		return fmt.Errorf("blob %s: %w", r.digest, err)
	}
	r.whole.Write(b)
	r.cur = b
	r.next++
	return nil
}

func (r *chunkReader) Close() error {
	r.err = fmt.Errorf("blob %s: read after close", r.digest)
	r.cur = nil
	return nil
}

// mapBase is where the store file is mapped; it moves only when a write
// grows the map, which waits for every read transaction to end, so it is
// stable inside one.
func (s *Bolt) mapBase() uintptr { return s.db.Bolt().Info().Data }
