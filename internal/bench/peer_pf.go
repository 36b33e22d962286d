package bench

import (
	"bytes"
	"context"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"path/filepath"
	"sync"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// pfSystem is pf itself, through its public API as a program embedding it
// would call it.
type pfSystem struct{}

func (pfSystem) Name() string { return sysPF }
func (pfSystem) Check() error { return nil }

func pfPath(dir string) string { return filepath.Join(dir, "store.pf") }

func (pfSystem) Open(ctx context.Context, dir string) (store, error) {
	s, err := pf.Open(pfPath(dir), nil)
	if err != nil {
		return nil, err
	}
	return &pfStore{s: s}, nil
}

type pfStore struct{ s *pf.Store }

func (p *pfStore) Snapshot(ctx context.Context, f *fixture.Fixture, t time.Time, parents []manifest.Digest) (manifest.Digest, error) {
	spec := f.Snapshot(parents...)
	spec.CreatedAt = t
	return p.s.Snapshot(ctx, spec)
}

// ingestBatch is how many bytes of blobs one PutAll takes: enough to
// keep both cores busy, little enough that memory stays bounded whatever
// the number of blobs.
const ingestBatch = 4 << 20

// Ingest puts the blobs through one batch, PutAll by PutAll (pf's way to
// put many blobs: hashed and compressed on every core), and commits.
func (p *pfStore) Ingest(ctx context.Context, blobs [][]byte) ([]string, error) {
	l := p.s.Blobs().NewBatch()
	keys := make([]string, 0, len(blobs))
	for start := 0; start < len(blobs); {
		end, n := start, 0
		for end < len(blobs) && (end == start || n+len(blobs[end]) <= ingestBatch) {
			n += len(blobs[end])
			end++
		}
		ds, err := pf.PutAll(ctx, l, blobs[start:end])
		if err != nil {
			l.Abort()
			return nil, err
		}
		for _, d := range ds {
			keys = append(keys, string(d[:]))
		}
		start = end
	}
	return keys, l.Commit(ctx)
}

func (p *pfStore) Get(ctx context.Context, key string) ([]byte, error) {
	return p.s.Blobs().Get(ctx, manifest.Digest([]byte(key)))
}

// PutLarge streams the blob in, as pf put does with a file.
func (p *pfStore) PutLarge(ctx context.Context, b []byte) error {
	_, err := p.s.Blobs().Put(ctx, bytes.NewReader(b))
	return err
}

func (p *pfStore) Close() error { return p.s.Close() }

// BuildHistory puts the layer blobs, then commits every manifest through
// Store.Commit, one goroutine per chain of the history so that group
// commit batches them (each chain is in order: a parent must be committed
// before its child).
func (pfSystem) BuildHistory(ctx context.Context, dir string, h *history) error {
	s, err := pf.Open(pfPath(dir), nil)
	if err != nil {
		return err
	}
	if err := commitHistory(ctx, s, h); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

func commitHistory(ctx context.Context, s *pf.Store, h *history) error {
	l := s.Blobs().NewBatch()
	var blobs [][]byte
	for _, b := range h.layers.blobs {
		blobs = append(blobs, b.Data)
	}
	if _, err := pf.PutAll(ctx, l, blobs); err != nil {
		l.Abort()
		return err
	}
	if err := l.Commit(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for c := range h.chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < h.n; i += h.chains {
				raw := h.manifest(i)
				if _, err := s.Commit(ctx, raw); err != nil {
					once.Do(func() { first = fmt.Errorf("commit image %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// CompactHistory is pf compact: the values recompressed at zstd's
// strongest level where that is smaller, the file copied with its pages
// full.
func (pfSystem) CompactHistory(ctx context.Context, dir string) error {
	_, _, err := pf.Compact(ctx, pfPath(dir), nil)
	return err
}

func (pfSystem) Compaction() string { return "pf compact" }

// CompactIngest is pf compact, as for a history store.
func (p pfSystem) CompactIngest(ctx context.Context, dir string) error {
	return p.CompactHistory(ctx, dir)
}

func (pfSystem) OpenHistory(ctx context.Context, dir string) (historyStore, error) {
	s, err := pf.Open(pfPath(dir), &pf.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	return pfHistory{s}, nil
}

type pfHistory struct{ s *pf.Store }

// Newest is Store.Summaries, as pf log runs it.
func (p pfHistory) Newest(ctx context.Context, since time.Time, n int) ([]imageSummary, error) {
	sums, _, err := p.s.Summaries(ctx, pf.LogQuery{Since: since, Limit: n})
	if err != nil {
		return nil, err
	}
	out := make([]imageSummary, len(sums))
	for i, s := range sums {
		out[i] = imageSummary{id: s.ID, created: s.CreatedAt, agent: s.Agent, parents: s.Parents}
	}
	return out, nil
}

func (p pfHistory) Close() error { return p.s.Close() }
