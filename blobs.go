package pf

import (
	"context"
	"io"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/manifest"
)

// BlobStore is a store's blobs, each kept under the SHA-256 of its
// bytes: put once however often it is put, every read checked against
// its digest. Anything large goes through an io.Reader; each method that
// can block takes a context. How the blobs are kept (values, packs,
// chunks) and collected is the store's business: a blob that no image
// reaches and no pin holds goes at the next GC, so a blob meant to stay
// is put with PutPinned, or named by an image.
type BlobStore interface {
	// Put stores what r yields, streamed, and returns its digest; PutBytes
	// stores bytes in memory. Each is committed before it returns.
	BlobWriter
	// Get returns a blob's bytes, verified. A missing blob is an error
	// wrapping ErrNotFound; bytes that do not hash to d, ErrCorrupt.
	Get(ctx context.Context, d manifest.Digest) ([]byte, error)
	// Open streams a blob, checking each chunk against its own digest
	// (a large blob is stored as chunks, each named by its SHA-256)
	// before any of its bytes go out, and returns an error wrapping
	// ErrCorrupt at the first that does not match. Its WriteTo (io.Copy
	// uses it) reads and checks the chunks ahead on every core, a few at
	// a time, and hands them over in order.
	Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error)
	// OpenAt streams a blob from offset on, without reading what comes
	// before the chunk that holds it (a Range request near the end of a
	// large blob costs a chunk): from 0 it is Open.
	OpenAt(ctx context.Context, d manifest.Digest, offset int64) (io.ReadCloser, error)
	// Has reports whether the blob is stored.
	Has(ctx context.Context, d manifest.Digest) (bool, error)
	// Stat describes a stored blob without reading its content.
	Stat(ctx context.Context, d manifest.Digest) (BlobInfo, error)
	// Chunks lists the chunks a large blob is stored in, in order,
	// without reading them: nil for a blob stored as one value. Two
	// blobs that share a prefix share its chunks, but for the one that
	// holds their end (the chunks are cut where the content says).
	Chunks(ctx context.Context, d manifest.Digest) ([]ChunkInfo, error)
	// NewBatch starts a batch of puts that become permanent together.
	NewBatch() BlobBatch
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Digest manifest.Digest
	Size   int64 // logical (uncompressed) bytes
	Stored int64 // bytes its values take: the value, plus its chunks' values
	Chunks int   // 0 for a blob stored as one value
}

// ChunkInfo is one chunk of a chunked blob: the SHA-256 of its bytes, and
// how many there are.
type ChunkInfo struct {
	Digest manifest.Digest
	Size   int64
}

// A BlobBatch groups puts, as a snapshot's captures do: what it puts is
// held from garbage collection at once, and becomes permanent in one
// commit (one fsync for the lot), or is deleted by Abort. PutAll on a
// batch hashes and compresses on every core. A BlobBatch is safe for
// concurrent use; after Commit or Abort it takes nothing more.
type BlobBatch interface {
	BlobWriter
	Commit(ctx context.Context) error
	Abort() error
}

// Blobs is the store's blobs by digest.
func (s *Store) Blobs() BlobStore { return blobStore{s.blobs} }

type blobStore struct{ b *cas.Bolt }

func (s blobStore) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	return s.b.Put(ctx, r)
}

func (s blobStore) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	return s.b.PutBytes(ctx, b)
}

func (s blobStore) Get(ctx context.Context, d manifest.Digest) ([]byte, error) {
	return s.b.Get(ctx, d)
}

func (s blobStore) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	return s.b.Open(ctx, d)
}

func (s blobStore) OpenAt(ctx context.Context, d manifest.Digest, offset int64) (io.ReadCloser, error) {
	return s.b.OpenAt(ctx, d, offset)
}

func (s blobStore) Has(ctx context.Context, d manifest.Digest) (bool, error) {
	return s.b.Has(ctx, d)
}

func (s blobStore) Stat(ctx context.Context, d manifest.Digest) (BlobInfo, error) {
	info, err := s.b.Stat(ctx, d)
	return BlobInfo(info), err
}

func (s blobStore) Chunks(ctx context.Context, d manifest.Digest) ([]ChunkInfo, error) {
	chunks, err := s.b.Chunks(ctx, d)
	if err != nil || chunks == nil {
		return nil, err
	}
	out := make([]ChunkInfo, len(chunks))
	for i, c := range chunks {
		out[i] = ChunkInfo(c)
	}
	return out, nil
}

func (s blobStore) NewBatch() BlobBatch { return blobBatch{s.b.NewLease()} }

// blobBatch is a lease whose commit writes nothing of the caller's.
type blobBatch struct{ l *cas.Lease }

func (b blobBatch) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	return b.l.Put(ctx, r)
}

func (b blobBatch) PutBytes(ctx context.Context, p []byte) (manifest.Digest, error) {
	return b.l.PutBytes(ctx, p)
}

// PutListing is what PutTree uses.
func (b blobBatch) PutListing(ctx context.Context, p []byte) (manifest.Digest, error) {
	return b.l.PutListing(ctx, p)
}

// PutListingSummed is what PutTreeFrom uses.
func (b blobBatch) PutListingSummed(ctx context.Context, p []byte, d manifest.Digest) (manifest.Digest, error) {
	return b.l.PutListingSummed(ctx, p, d)
}

// PutBatch is what PutAll uses.
func (b blobBatch) PutBatch(ctx context.Context, blobs [][]byte) ([]manifest.Digest, error) {
	return b.l.PutBatch(ctx, blobs)
}

func (b blobBatch) Commit(ctx context.Context) error { return b.l.Commit(ctx, nil) }
func (b blobBatch) Abort() error                     { return b.l.Abort() }
