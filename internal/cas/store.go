package cas

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Info describes a stored blob.
type Info struct {
	Digest manifest.Digest
	Size   int64 // logical (uncompressed) bytes
	Stored int64 // bytes its values take: the value, plus its chunks' values
	Chunks int   // 0 for a blob stored as one value
}

// Store is what every blob store does. Each method that can block takes a
// context; anything that can be large is an io.Reader.
type Store interface {
	// Put stores what r yields and returns its digest. A blob already
	// stored is not stored again.
	Put(ctx context.Context, r io.Reader) (manifest.Digest, error)
	// PutBytes is Put for bytes already in memory.
	PutBytes(ctx context.Context, b []byte) (manifest.Digest, error)
	// Get returns a blob's bytes, verified. A missing blob is ErrNotFound;
	// bytes that do not hash to d are ErrCorrupt (a chunked blob's are
	// proven by its chunks' digests, each chunk's bytes by its own).
	Get(ctx context.Context, d manifest.Digest) ([]byte, error)
	// Open streams a blob. The reader checks each chunk against its
	// digest before handing out any of its bytes, and returns ErrCorrupt
	// at the first that does not match; its WriteTo, if it has one, reads
	// and checks the chunks ahead on every core, a few at a time, and
	// hands them over in order.
	Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error)
	// OpenAt streams a blob from offset on, without reading what comes
	// before the chunk that holds it: a reader from 0 is Open's.
	OpenAt(ctx context.Context, d manifest.Digest, offset int64) (io.ReadCloser, error)
	// Has reports whether the blob is stored.
	Has(ctx context.Context, d manifest.Digest) (bool, error)
	// Stat describes a stored blob without reading its content.
	Stat(ctx context.Context, d manifest.Digest) (Info, error)
}

// Options tune a Bolt store.
type Options struct {
	// Level is the zstd level of new values; zero means DefaultLevel.
	Level zstd.EncoderLevel
	// SpillBytes is how much a lease stages in memory before it writes
	// early; zero means DefaultSpillBytes.
	SpillBytes int
	// HeapHeadroom, if positive, bounds the Go heap while a put of a
	// large value streams from a reader (one that reads past SpillBytes;
	// not a put of bytes the caller holds): the
	// process's soft memory limit is then what the heap kept at its last
	// collection plus HeapHeadroom for each such put (internal/heaplimit).
	// Zero leaves the heap to the collector's pacing, which lets garbage
	// grow to as much as the heap keeps.
	HeapHeadroom int64
}

// DefaultSpillBytes keeps a lease's staged values, plus the copy bbolt makes
// when it commits them, well inside the 128 MiB a 2 GiB put may use, while
// each early write is still large enough to cost little per byte.
const DefaultSpillBytes = 8 << 20

// Bolt is the blob store inside a pf store file.
type Bolt struct {
	db         *db.DB
	level      zstd.EncoderLevel
	spillBytes int
	headroom   int64
	holds      holds
	committed  committed
	track      tracker
	sf         storeFile
	// listing is the last listing PutListing cut: the base of the next
	// one's cut.
	listing atomic.Pointer[listingBase]
}

// New returns the blob store of an open store file.
func New(d *db.DB, opts Options) *Bolt {
	if opts.Level == 0 {
		opts.Level = DefaultLevel
	}
	if opts.SpillBytes <= 0 {
		opts.SpillBytes = DefaultSpillBytes
	}
	return &Bolt{db: d, level: opts.Level, spillBytes: opts.SpillBytes, headroom: opts.HeapHeadroom, holds: holds{n: map[manifest.Digest]int{}}}
}

var _ Store = (*Bolt)(nil)

// Put stores one blob in its own lease, committed before it returns.
func (s *Bolt) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	l := s.NewLease()
	d, err := l.Put(ctx, r)
	if err != nil {
		l.Abort()
		return d, err
	}
	return d, l.Commit(ctx, nil)
}

// PutBytes stores one blob in its own lease, committed before it returns.
func (s *Bolt) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	l := s.NewLease()
	d, err := l.PutBytes(ctx, b)
	if err != nil {
		l.Abort()
		return d, err
	}
	return d, l.Commit(ctx, nil)
}

// Has reports whether blobs/ holds d.
func (s *Bolt) Has(ctx context.Context, d manifest.Digest) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := db.Bucket(tx, db.BucketBlobs)
		if err != nil {
			return err
		}
		ok = hasValue(b, d)
		return nil
	})
	return ok, err
}

// Stat reads d's header and, for a chunked blob, its chunks' sizes.
func (s *Bolt) Stat(ctx context.Context, d manifest.Digest) (Info, error) {
	info := Info{Digest: d}
	err := s.db.View(func(tx *bolt.Tx) error {
		h, stored, err := lookup(tx, d)
		if err != nil {
			return err
		}
		info.Size, info.Stored = h.size, stored
		if h.format != formatChunks {
			return nil
		}
		refs, err := parseChunkList(d, h)
		if err != nil {
			return err
		}
		chunks, err := db.Bucket(tx, db.BucketChunks)
		if err != nil {
			return err
		}
		info.Chunks = len(refs)
		for _, r := range refs {
			v, err := getValue(chunks, r.digest)
			if err != nil {
				return err
			}
			info.Stored += int64(len(v))
		}
		return nil
	})
	return info, err
}

// A Chunk is one chunk of a chunked blob: its digest (SHA-256 of its
// bytes) and its size.
type Chunk struct {
	Digest manifest.Digest
	Size   int64
}

// Chunks lists the chunks d is stored in, in order, reading none of
// them; nil for a blob stored as one value.
func (s *Bolt) Chunks(ctx context.Context, d manifest.Digest) ([]Chunk, error) {
	var out []Chunk
	err := s.db.View(func(tx *bolt.Tx) error {
		refs, err := chunkRefsTx(tx, d)
		if err != nil || refs == nil {
			return err
		}
		out = make([]Chunk, len(refs))
		for i, r := range refs {
			out[i] = Chunk{r.digest, r.size}
		}
		return nil
	})
	return out, err
}

// hashInTxMax is the largest raw value Get hashes inside its read
// transaction, before copying it out: a larger one is copied first, so
// that the transaction, which a commit that grows the file must wait for,
// stays short.
const hashInTxMax = 64 << 10

// Get reads a whole blob into memory, verified. A blob stored as one value
// is decoded straight into a buffer of its size.
func (s *Bolt) Get(ctx context.Context, d manifest.Digest) ([]byte, error) {
	var (
		out      []byte
		chunked  bool
		refs     []chunkRef
		size     int64
		verified bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		h, _, err := lookup(tx, d)
		if err != nil {
			return err
		}
		switch h.format {
		case formatRaw:
			if len(h.payload) <= hashInTxMax {
				// Hashed where it lies, then copied: the copy then
				// reads bytes the hash just brought into the cache,
				// where copying first read them from memory (a
				// tenth of a random read of 16 KiB). What the
				// transaction maps cannot change while it is open,
				// so the copy is the bytes that were checked.
				if got := manifest.Sum(h.payload); got != d {
					return corrupt(d, "content hashes to %s", got)
				}
				verified = true
			}
			// This copy out of the transaction is the result itself.
			out = bytes.Clone(h.payload)
		case formatChunks:
			// Parsed here: the list's bytes are the transaction's, and
			// once it ends their page may be freed and reused.
			chunked, size = true, h.size
			refs, err = parseChunkList(d, h)
		default:
			// Decoded from the transaction's memory: a copy of the
			// compressed bytes first, to decode them once the
			// transaction ended, was an allocation and a copy more
			// for each read (a third of what a read of 16 KiB of JSON
			// lines did besides decoding and hashing).
			out, err = decodeUnverifiedInto(nil, d, h)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if verified {
		return out, nil
	}
	if !chunked {
		if manifest.Sum(out) != d {
			return nil, corrupt(d, "content hashes to %s", manifest.Sum(out))
		}
		return out, nil
	}
	return s.getChunked(ctx, d, refs, size)
}

// lookup finds d in blobs/ and parses its header; the header's payload
// points into the transaction's memory.
func lookup(tx *bolt.Tx, d manifest.Digest) (header, int64, error) {
	b, err := db.Bucket(tx, db.BucketBlobs)
	if err != nil {
		return header{}, 0, err
	}
	v, err := getValue(b, d)
	if err != nil {
		return header{}, 0, err
	}
	if v == nil {
		return header{}, 0, fmt.Errorf("blob %s: %w", d, db.ErrNotFound)
	}
	h, err := parseValue(d, v)
	return h, int64(len(v)), err
}
