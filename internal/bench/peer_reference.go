package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/manifest"
)

// The reference design: the directory store of pf-core 1.0.x, as
// docs/format.md lays it out and its store.rs describes it, written here so
// that pf is compared with that design rather than with a straw man.
//
//   - blobs/sha256/<2 hex>/<64 hex>.zst: each blob one zstd frame of level
//     19. A put that finds the file there does nothing; otherwise it writes
//     a temporary file beside it, fsyncs it and renames it into place.
//     A get reads the file, decodes it and hashes the bytes, refusing any
//     that do not match the digest (its FsBlobStore::get re-hashes on read).
//   - images/<64 hex>.json: a plain copy of each manifest, written once
//     (not fsynced, as store.rs writes it); the manifest is also a blob.
//   - history lists images by reading and parsing every file of images/.
//
// Go has no zstd level 19: klauspost/compress's strongest level
// (SpeedBestCompression, what EncoderLevelFromZstd(19) returns) stands in.
// It is much faster than libzstd's level 19 on incompressible data (it
// stores such blocks raw early) and compresses a little less, so the
// reference's speed here is if anything flattered. Blobs of one snapshot
// are put one capture (layer) at a time, the captures concurrently, as
// its snapshot orchestration runs them.
type refStore struct {
	root string
	tmp  atomic.Uint64
	dirs sync.Map // blob fan-out directories known to exist
}

// refLevel is the reference's zstd level, in Go.
var refLevel = zstd.EncoderLevelFromZstd(19)

var (
	refEncoderOnce sync.Once
	refEncoder     *zstd.Encoder
	refDecoderOnce sync.Once
	refDecoder     *zstd.Decoder
)

// refEnc is one encoder for the process, one slot per core, with the
// zstd crate's defaults: content size in the frame header, no checksum.
func refEnc() *zstd.Encoder {
	refEncoderOnce.Do(func() {
		var err error
		refEncoder, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(refLevel),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(false))
		if err != nil {
			panic(err)
		}
	})
	return refEncoder
}

func refDec() *zstd.Decoder {
	refDecoderOnce.Do(func() {
		var err error
		refDecoder, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithDecoderMaxMemory(4<<30))
		if err != nil {
			panic(err)
		}
	})
	return refDecoder
}

// openRefStore opens the store rooted at root, creating its directories.
func openRefStore(root string) (*refStore, error) {
	for _, d := range []string{"images", filepath.Join("blobs", "sha256")} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &refStore{root: root}, nil
}

func (s *refStore) blobPath(d manifest.Digest) string {
	h := d.Hex()
	return filepath.Join(s.root, "blobs", "sha256", h[:2], h+".zst")
}

func (s *refStore) imagePath(id manifest.Digest) string {
	return filepath.Join(s.root, "images", id.Hex()+".json")
}

// Put stores b unless its file exists: compress, write a temporary file,
// fsync, rename.
func (s *refStore) Put(b []byte) (manifest.Digest, error) {
	d := manifest.Sum(b)
	path := s.blobPath(d)
	if _, err := os.Stat(path); err == nil {
		return d, nil
	}
	dir := filepath.Dir(path)
	if _, ok := s.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return d, err
		}
		s.dirs.Store(dir, true)
	}
	frame := refEnc().EncodeAll(b, make([]byte, 0, len(b)/2+64))
	tmp := path + ".tmp." + strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(s.tmp.Add(1), 10)
	if err := writeSynced(tmp, frame); err != nil {
		os.Remove(tmp)
		return d, fmt.Errorf("reference: put %s: %w", d, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return d, fmt.Errorf("reference: put %s: %w", d, err)
	}
	return d, nil
}

// writeSynced writes b to a new file at path and fsyncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get reads and decompresses a blob, then hashes what it decoded and
// refuses bytes that do not match d, as the reference's FsBlobStore::get
// does ("defence in depth: re-hash on read").
func (s *refStore) Get(d manifest.Digest) ([]byte, error) {
	frame, err := os.ReadFile(s.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reference: blob %s: not found", d)
	}
	if err != nil {
		return nil, err
	}
	b, err := refDec().DecodeAll(frame, nil)
	if err != nil {
		return nil, fmt.Errorf("reference: blob %s: %w", d, err)
	}
	if got := manifest.Sum(b); got != d {
		return nil, fmt.Errorf("reference: blob %s on disk hashes to %s", d, got)
	}
	return b, nil
}

// PutManifest stores a manifest as a blob and drops its copy in images/.
func (s *refStore) PutManifest(raw []byte) (manifest.Digest, error) {
	id, err := s.Put(raw)
	if err != nil {
		return id, err
	}
	path := s.imagePath(id)
	if _, err := os.Stat(path); err == nil {
		return id, nil
	}
	return id, os.WriteFile(path, raw, 0o644)
}

// refImage is one image as the reference lists it.
type refImage struct {
	id  manifest.Digest
	raw []byte
	m   *manifest.Manifest
}

// Images reads and parses every file of images/, in directory order.
// Entries that are not a readable manifest are skipped.
func (s *refStore) Images() ([]refImage, error) {
	dir := filepath.Join(s.root, "images")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]refImage, 0, len(entries))
	for _, e := range entries {
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		id, err := manifest.ParseHex(hex)
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		m, err := manifest.Decode(raw)
		if err != nil {
			continue
		}
		out = append(out, refImage{id, raw, m})
	}
	return out, nil
}

// Log is pf log over this store: every image listed, those created since
// kept, sorted newest first (ties by id), the first limit returned.
func (s *refStore) Log(since time.Time, limit int) ([]refImage, error) {
	all, err := s.Images()
	if err != nil {
		return nil, err
	}
	kept := all[:0]
	for _, img := range all {
		if !img.m.CreatedAt.Before(since) {
			kept = append(kept, img)
		}
	}
	slices.SortFunc(kept, func(a, b refImage) int {
		if c := b.m.CreatedAt.Compare(a.m.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	return kept[:min(limit, len(kept))], nil
}

// refSystem runs the reference design as a peer.
type refSystem struct{}

func (refSystem) Name() string { return sysReference }
func (refSystem) Check() error { return nil }

func (refSystem) Open(ctx context.Context, dir string) (store, error) {
	s, err := openRefStore(dir)
	if err != nil {
		return nil, err
	}
	return refPeer{s}, nil
}

type refPeer struct{ s *refStore }

// Snapshot runs the five captures concurrently, each putting its layer's
// blobs in turn, then stores the manifest.
func (p refPeer) Snapshot(ctx context.Context, f *fixture.Fixture, t time.Time, parents []manifest.Digest) (manifest.Digest, error) {
	layers := f.Layers()
	errs := make([]error, len(layers))
	var wg sync.WaitGroup
	for i, blobs := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range blobs {
				if _, err := p.s.Put(b.Data); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return manifest.Digest{}, err
	}
	raw, _, err := fixtureManifest(f, t, parents)
	if err != nil {
		return manifest.Digest{}, err
	}
	return p.s.PutManifest(raw)
}

// Ingest puts the blobs one after another, as a loop over the store's put
// would.
func (p refPeer) Ingest(ctx context.Context, blobs [][]byte) ([]string, error) {
	keys := make([]string, len(blobs))
	for i, b := range blobs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := p.s.Put(b)
		if err != nil {
			return nil, err
		}
		keys[i] = string(d[:])
	}
	return keys, nil
}

func (p refPeer) Get(ctx context.Context, key string) ([]byte, error) {
	return p.s.Get(manifest.Digest([]byte(key)))
}

func (p refPeer) PutLarge(ctx context.Context, b []byte) error {
	_, err := p.s.Put(b)
	return err
}

func (p refPeer) Close() error { return nil }

// BuildHistory writes images/ only, without fsync: the history query
// reads nothing else, and a cache that is cut short is rebuilt.
func (refSystem) BuildHistory(ctx context.Context, dir string, h *history) error {
	s, err := openRefStore(dir)
	if err != nil {
		return err
	}
	return parallelErr(ctx, h.n, func(i int) error {
		return os.WriteFile(s.imagePath(h.ids[i]), h.manifest(i), 0o644)
	})
}

func (refSystem) OpenHistory(ctx context.Context, dir string) (historyStore, error) {
	s, err := openRefStore(dir)
	if err != nil {
		return nil, err
	}
	return refHistory{s}, nil
}

type refHistory struct{ s *refStore }

// Newest is the reference's log: it parses every manifest to sort them.
func (r refHistory) Newest(ctx context.Context, since time.Time, n int) ([]imageSummary, error) {
	imgs, err := r.s.Log(since, n)
	if err != nil {
		return nil, err
	}
	out := make([]imageSummary, len(imgs))
	for i, img := range imgs {
		out[i] = summaryOf(img.id, img.m)
	}
	return out, nil
}

func (r refHistory) Close() error { return nil }

// parallelErr runs fn(0..n-1) on every core and returns the first error;
// after one, the calls not yet started are skipped.
func parallelErr(ctx context.Context, n int, fn func(i int) error) error {
	var (
		once  sync.Once
		stop  atomic.Bool
		first error
	)
	parallelIdx(n, func(i int) {
		if stop.Load() {
			return
		}
		err := ctx.Err()
		if err == nil {
			err = fn(i)
		}
		if err != nil {
			once.Do(func() { first = err; stop.Store(true) })
		}
	})
	return first
}
