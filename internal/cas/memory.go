package cas

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
)

// Memory is a Store in a map: for tests of code that uses a Store, and the
// second implementation the conformance suite (castest) holds the bbolt
// store to.
type Memory struct {
	mu    sync.RWMutex
	blobs map[manifest.Digest][]byte
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{blobs: map[manifest.Digest][]byte{}} }

var _ Store = (*Memory)(nil)

func (m *Memory) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return manifest.Digest{}, fmt.Errorf("read blob: %w", err)
	}
	return m.PutBytes(ctx, b)
}

func (m *Memory) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	if err := ctx.Err(); err != nil {
		return manifest.Digest{}, err
	}
	d := manifest.Sum(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blobs[d]; !ok {
		m.blobs[d] = bytes.Clone(b)
	}
	return d, nil
}

func (m *Memory) Get(ctx context.Context, d manifest.Digest) ([]byte, error) {
	m.mu.RLock()
	b, ok := m.blobs[d]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, db.ErrNotFound)
	}
	if manifest.Sum(b) != d {
		return nil, corrupt(d, "content hashes to %s", manifest.Sum(b))
	}
	return bytes.Clone(b), nil
}

func (m *Memory) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	b, err := m.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *Memory) OpenAt(ctx context.Context, d manifest.Digest, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("blob %s: negative offset %d", d, offset)
	}
	b, err := m.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b[min(offset, int64(len(b))):])), nil
}

func (m *Memory) Has(ctx context.Context, d manifest.Digest) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.blobs[d]
	return ok, nil
}

func (m *Memory) Stat(ctx context.Context, d manifest.Digest) (Info, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.blobs[d]
	if !ok {
		return Info{}, fmt.Errorf("blob %s: %w", d, db.ErrNotFound)
	}
	return Info{Digest: d, Size: int64(len(b)), Stored: int64(len(b))}, nil
}

// Corrupt replaces a stored blob's bytes, for tests of what readers do
// with damage.
func (m *Memory) Corrupt(d manifest.Digest, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[d] = b
}
