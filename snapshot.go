package pf

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"time"

	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

// BlobWriter is where a capture puts the blobs of its layer. What it puts
// becomes permanent only if the whole snapshot commits.
type BlobWriter interface {
	Put(ctx context.Context, r io.Reader) (manifest.Digest, error)
	PutBytes(ctx context.Context, b []byte) (manifest.Digest, error)
}

// One capture interface per layer: each writes its layer's blobs and
// returns the layer's part of the manifest. Captures of one snapshot run
// concurrently.
//
// A capture that knows its layer has not changed since an earlier image
// (pages it has not written, files it watched) may return that image's
// part and put nothing: hashing the bytes again is most of what a
// snapshot of unchanged state costs. The commit checks that every blob the
// part names is stored, as it does for any part, so the image has no
// holes; that the layer really is unchanged only the capture can know.
type (
	ModelCapture interface {
		CaptureModel(ctx context.Context, w BlobWriter) (manifest.Model, error)
	}
	CacheCapture interface {
		CaptureCache(ctx context.Context, w BlobWriter) (manifest.Cache, error)
	}
	WorldCapture interface {
		CaptureWorld(ctx context.Context, w BlobWriter) (manifest.World, error)
	}
	EffectsCapture interface {
		CaptureEffects(ctx context.Context, w BlobWriter) (manifest.Effects, error)
	}
	TraceCapture interface {
		CaptureTrace(ctx context.Context, w BlobWriter) (manifest.Trace, error)
	}
)

// Snapshot describes an image to capture. A nil capture leaves its layer's
// digests pointing at the empty blob.
type Snapshot struct {
	Agent     manifest.Agent
	Parents   []manifest.Digest
	CreatedAt time.Time // zero means now

	Model   ModelCapture
	Cache   CacheCapture
	World   WorldCapture
	Effects EffectsCapture
	Trace   TraceCapture

	// Head, when set, is the head (see Store.Head) that the new image
	// becomes, in the commit's own transaction: a workspace's head never
	// names an image older than its newest snapshot.
	Head *HeadRef

	// SkipUnchanged commits nothing when the image would have the agent
	// and layers of its first parent: Snapshot returns the parent's id
	// (and sets Head to it, if Head names another image). A backup of a
	// workspace that has not changed since its head is that head.
	SkipUnchanged bool

	// Defer, when set, receives the file-cache records that a snapshot
	// which SkipUnchanged gives back as its parent (already Head) would
	// otherwise write in a transaction of its own, for the caller to
	// write with Store.CommitDeferred in a commit it makes anyway: a
	// restore whose backup is the head then commits once. Records never
	// written cost the next capture only a second read of those files.
	Defer *Deferred
}

// Deferred is what a snapshot left to a later commit (Snapshot.Defer).
type Deferred struct {
	pc *pendingCommit
}

// HeadRef names a head: a workspace directory (absolute, as WorkspaceDir
// gives it) and a session ("" for the default one).
type HeadRef struct {
	Dir, Session string
}

// Snapshot runs the captures concurrently, then commits the image in one
// transaction with every blob they wrote. If a capture fails or panics, or
// ctx is cancelled, no image appears and what the captures wrote that
// nothing else holds is deleted.
func (s *Store) Snapshot(ctx context.Context, spec Snapshot) (manifest.Digest, error) {
	if spec.Head != nil {
		if err := checkHeadArgs(spec.Head.Dir, spec.Head.Session); err != nil {
			return manifest.Digest{}, err
		}
	}
	created := spec.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	m := manifest.New(spec.Agent, created.UTC(), spec.Parents...)
	lease := s.blobs.NewLeaseSized(int(s.snapshotHeld.Load()))
	pc := &pendingCommit{}
	if err := capture(ctx, lease, s.refs, m, spec, pc); err != nil {
		lease.Abort()
		return manifest.Digest{}, err
	}
	if spec.SkipUnchanged && len(m.Parents) > 0 {
		parent, err := s.Image(ctx, m.Parents[0])
		if err != nil {
			lease.Abort()
			return manifest.Digest{}, err
		}
		if sameContent(parent.Manifest, m) {
			lease.Abort()
			return parent.ID, s.keepUnchanged(ctx, spec.Head, parent.ID, pc, spec.Defer)
		}
	}
	raw, err := m.Encode()
	if err != nil {
		lease.Abort()
		return manifest.Digest{}, err
	}
	id := manifest.Sum(raw)
	commit := s.commitFn(id, raw, m, lease, false, pc)
	if h := spec.Head; h != nil {
		commitImage := commit
		commit = func(tx *bolt.Tx) error {
			if err := commitImage(tx); err != nil {
				return err
			}
			_, err := setHeadTx(tx, h.Dir, h.Session, id, time.Now())
			return err
		}
	}
	s.snapshotHeld.Store(int64(lease.Held()))
	if err := lease.Commit(ctx, commit); err != nil {
		return manifest.Digest{}, err
	}
	return id, nil
}

// keepUnchanged finishes a snapshot that gives its parent back: it sets
// the head, and saves what the captures found of their files (a file read
// again that proved the same), in one transaction, or none when there is
// nothing to write: the snapshot of an unchanged workspace is a read.
// With deferred set, records that are all it would write are left to
// the caller's commit.
func (s *Store) keepUnchanged(ctx context.Context, head *HeadRef, id manifest.Digest, pc *pendingCommit, deferred *Deferred) error {
	moveHead := false
	if head != nil {
		h, ok, err := s.Head(ctx, head.Dir, head.Session)
		if err != nil {
			return err
		}
		moveHead = !ok || h.ID != id
	}
	if !moveHead && !pc.writes() {
		pc.unwritten()
		return nil
	}
	if !moveHead {
		if deferred != nil {
			deferred.pc = pc
			return nil
		}
		head = nil
	}
	return s.commitHeadAndRecords(ctx, head, id, pc)
}

// CommitDeferred writes what a snapshot left in d (Snapshot.Defer) and
// moves head to id, unless head is nil, in one transaction; with nothing
// to write and no head, it writes nothing. d may be nil or empty.
func (s *Store) CommitDeferred(ctx context.Context, d *Deferred, head *HeadRef, id manifest.Digest) error {
	if head != nil {
		if err := checkHeadArgs(head.Dir, head.Session); err != nil {
			return err
		}
	}
	var pc *pendingCommit
	if d != nil {
		pc, d.pc = d.pc, nil
	}
	if head == nil && pc == nil {
		return nil
	}
	return s.commitHeadAndRecords(ctx, head, id, pc)
}

// commitHeadAndRecords moves head to id, unless head is nil, and writes
// what the captures found of their files (pc, which may be nil), in one
// transaction.
func (s *Store) commitHeadAndRecords(ctx context.Context, head *HeadRef, id manifest.Digest, pc *pendingCommit) error {
	return s.db.Update(ctx, func(tx *bolt.Tx) error {
		if head != nil {
			if _, err := setHeadTx(tx, head.Dir, head.Session, id, time.Now()); err != nil {
				return err
			}
		}
		// The blobs the saves name are looked up: the lease that put
		// them is gone.
		return pc.apply(tx, func(manifest.Digest) (int64, bool) { return 0, false })
	})
}

func capture(parent context.Context, w BlobWriter, refs *refCache, m *manifest.Manifest, spec Snapshot, pc *pendingCommit) error {
	// The first capture to fail cancels the others.
	g, ctx := errgroup.WithContext(parent)
	// A layer without a capture points at the empty blob, stored only
	// when some layer needs it.
	if spec.Model == nil || spec.Cache == nil || spec.World == nil || spec.Effects == nil || spec.Trace == nil {
		empty, err := w.PutBytes(ctx, nil)
		if err != nil {
			return err
		}
		m.Model = manifest.Model{Base: empty, Diff: empty}
		m.Cache.Manifest = empty
		m.World = manifest.World{FS: empty, Env: empty, Procs: empty}
		m.Effects.Ledger = empty
		m.Trace.Messages = empty
	}

	run := func(layer string, fn func() error) {
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
				}
				if err != nil {
					err = fmt.Errorf("capture %s: %w", layer, err)
				}
			}()
			return fn()
		})
	}
	// Each capture fills its own fields of m; none reads another's.
	if spec.Model != nil {
		run("model", func() (err error) { m.Model, err = spec.Model.CaptureModel(ctx, w); return })
	}
	if spec.Cache != nil {
		run("cache", func() (err error) {
			k := newContentKeeper(w, manifest.LayerCacheManifest, pc, refs)
			m.Cache, err = spec.Cache.CaptureCache(ctx, k)
			return k.parsed(m.Cache.Manifest, err)
		})
	}
	if spec.World != nil {
		run("world", func() (err error) {
			k := newContentKeeper(w, manifest.LayerWorldFS, pc, refs)
			m.World, err = spec.World.CaptureWorld(ctx, k)
			return k.parsed(m.World.FS, err)
		})
	}
	if spec.Effects != nil {
		run("effects", func() (err error) {
			k := newContentKeeper(w, manifest.LayerEffectsLedger, pc, refs)
			m.Effects, err = spec.Effects.CaptureEffects(ctx, k)
			return k.parsed(m.Effects.Ledger, err)
		})
	}
	if spec.Trace != nil {
		run("trace", func() (err error) { m.Trace, err = spec.Trace.CaptureTrace(ctx, w); return })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return parent.Err()
}

// PutAll puts many blobs through w at once and returns their digests in
// order. A capture with many independent blobs (KV-cache pages, files)
// uses it instead of a loop of PutBytes: the store's writer hashes and
// compresses them on every core and looks each up in one read.
func PutAll(ctx context.Context, w BlobWriter, blobs [][]byte) ([]manifest.Digest, error) {
	if b, ok := w.(interface {
		PutBatch(context.Context, [][]byte) ([]manifest.Digest, error)
	}); ok {
		return b.PutBatch(ctx, blobs)
	}
	digests := make([]manifest.Digest, len(blobs))
	for i, b := range blobs {
		var err error
		if digests[i], err = w.PutBytes(ctx, b); err != nil {
			return nil, err
		}
	}
	return digests, nil
}

// sameContent reports whether two manifests have the same agent and
// layers, whatever their parents and times.
func sameContent(a, b *manifest.Manifest) bool {
	return a.Agent == b.Agent && slices.Equal(a.Layers(), b.Layers())
}
