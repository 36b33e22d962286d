package pf_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/manifest"
)

var ctx = context.Background()

func openStore(t testing.TB) *pf.Store {
	t.Helper()
	s, err := pf.Open(filepath.Join(t.TempDir(), "store.pf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var agent = manifest.Agent{Kind: "test", Version: "0.1.0", Fingerprint: "f"}

// world is a WorldCapture of a few files.
type world struct {
	files map[string][]byte
}

func (w world) CaptureWorld(ctx context.Context, bw pf.BlobWriter) (manifest.World, error) {
	var tree manifest.Tree
	for path, b := range w.files {
		d, err := bw.PutBytes(ctx, b)
		if err != nil {
			return manifest.World{}, err
		}
		tree.Entries = append(tree.Entries, manifest.Entry{Path: path, Mode: 0o644, Size: int64(len(b)), Kind: manifest.KindFile, Blob: d})
	}
	raw, err := tree.Encode()
	if err != nil {
		return manifest.World{}, err
	}
	fs, err := bw.PutBytes(ctx, raw)
	if err != nil {
		return manifest.World{}, err
	}
	env, err := bw.PutBytes(ctx, []byte(`{"kind":"env.v1","cwd":"/","vars":{}}`))
	if err != nil {
		return manifest.World{}, err
	}
	procs, err := bw.PutBytes(ctx, []byte(`{"kind":"procs.unsupported.v1"}`))
	return manifest.World{FS: fs, Env: env, Procs: procs}, err
}

func files(seed uint64, n int) world {
	w := world{files: map[string][]byte{}}
	for i := 0; i < n; i++ {
		w.files[fmt.Sprintf("src/f%04d", i)] = castest.Payload(seed*10000+uint64(i), 6000)
	}
	return w
}

// trace is a TraceCapture that can fail, panic or wait.
type trace struct {
	lines []byte
	fail  error
	panic bool
	block bool
}

func (tr trace) CaptureTrace(ctx context.Context, bw pf.BlobWriter) (manifest.Trace, error) {
	d, err := bw.PutBytes(ctx, tr.lines)
	switch {
	case err != nil:
		return manifest.Trace{}, err
	case tr.panic:
		panic("trace capture exploded")
	case tr.block:
		<-ctx.Done()
		return manifest.Trace{}, ctx.Err()
	}
	return manifest.Trace{Messages: d}, tr.fail
}

func TestStore_Snapshot_ReadsBack(t *testing.T) {
	s := openStore(t)
	w := files(1, 5)
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w, Trace: trace{lines: []byte(`{"role":"user","content":"hi"}` + "\n")}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if manifest.Sum(img.Raw) != id {
		t.Fatal("image bytes do not hash to the id")
	}
	raw, err := s.Blobs().Get(ctx, img.Manifest.World.FS)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := manifest.DecodeTree(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tree.Entries {
		b, err := s.Blobs().Get(ctx, e.Blob)
		if err != nil || !bytes.Equal(b, w.files[e.Path]) {
			t.Fatalf("file %s read back wrong: %v", e.Path, err)
		}
	}
	if img.Manifest.Model.Diff != manifest.EmptyDigest {
		t.Errorf("a layer without a capture points at %s, want the empty blob", img.Manifest.Model.Diff)
	}
}

// Every way a snapshot can fail leaves no image and no blob it wrote.
func TestStore_Snapshot_Atomic(t *testing.T) {
	boom := errors.New("engine went away")
	tests := []struct {
		name  string
		trace trace
		want  string
	}{
		{"capture fails", trace{lines: []byte("t1"), fail: boom}, "engine went away"},
		{"capture panics", trace{lines: []byte("t2"), panic: true}, "trace capture exploded"},
		{"context cancelled", trace{lines: []byte("t3"), block: true}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			before, _ := s.Stats(ctx)
			c, cancel := context.WithCancel(ctx)
			if tt.trace.block {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			defer cancel()
			w := files(7, 40) // 200 KB: with no spill limit hit, all staged
			_, err := s.Snapshot(c, pf.Snapshot{Agent: agent, World: w, Trace: tt.trace})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("snapshot: %v, want %q", err, tt.want)
			}
			after, _ := s.Stats(ctx)
			if after.Images != 0 || after.Blobs != before.Blobs || after.Stored != before.Stored {
				t.Fatalf("a failed snapshot changed the store: %+v -> %+v", before, after)
			}
			for _, b := range w.files {
				if ok, _ := s.Blobs().Has(ctx, manifest.Sum(b)); ok {
					t.Fatal("a blob of the failed snapshot stayed behind")
				}
			}
		})
	}
}

func TestStore_Commit_IntegrityNamesMissing(t *testing.T) {
	s := openStore(t)
	present, _ := s.Blobs().PutBytes(ctx, []byte("present"))
	missingFile := manifest.Sum([]byte("a file never stored"))
	missingPage := manifest.Sum([]byte("a page never stored"))
	tree, _ := (&manifest.Tree{Entries: []manifest.Entry{
		{Path: "a", Mode: 0o644, Size: 7, Kind: manifest.KindFile, Blob: present},
		{Path: "b", Mode: 0o644, Size: 19, Kind: manifest.KindFile, Blob: missingFile},
	}}).Encode()
	treeID, _ := s.Blobs().PutBytes(ctx, tree)
	pages, _ := (&manifest.CachePages{Layout: manifest.DefaultCacheLayout, Dtype: manifest.DtypeBF16, Pages: []manifest.CachePage{{Ix: 0, K: present, V: missingPage}}}).Encode()
	pagesID, _ := s.Blobs().PutBytes(ctx, pages)

	base := func() *manifest.Manifest {
		m := manifest.New(agent, time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
		m.Model = manifest.Model{Base: present, Diff: present}
		m.Cache.Manifest = present
		m.World = manifest.World{FS: present, Env: present, Procs: present}
		m.Effects.Ledger = present
		m.Trace.Messages = present
		return m
	}
	tests := []struct {
		name    string
		edit    func(m *manifest.Manifest)
		missing manifest.Digest
	}{
		{"layer", func(m *manifest.Manifest) { m.Trace.Messages = missingFile }, missingFile},
		{"tree entry", func(m *manifest.Manifest) { m.World.FS = treeID }, missingFile},
		{"cache page", func(m *manifest.Manifest) { m.Cache.Manifest = pagesID }, missingPage},
		{"parent", func(m *manifest.Manifest) { m.Parents = []manifest.Digest{missingPage} }, missingPage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.edit(m)
			_, err := s.CommitManifest(ctx, m)
			if !errors.Is(err, pf.ErrNotFound) || !strings.Contains(err.Error(), tt.missing.String()) {
				t.Fatalf("commit: %v, want ErrNotFound naming %s", err, tt.missing)
			}
			if st, _ := s.Stats(ctx); st.Images != 0 {
				t.Fatal("an image was committed")
			}
		})
	}
	id, err := s.CommitManifest(ctx, base())
	if err != nil {
		t.Fatalf("complete manifest: %v", err)
	}
	if _, err := s.CommitManifest(ctx, base()); err != nil {
		t.Fatalf("committing the same image again: %v", err)
	}
	if st, _ := s.Stats(ctx); st.Images != 1 {
		t.Fatalf("%d images after committing one twice", st.Images)
	}
	_ = id
}

// reusedBuffer is a WorldCapture whose tree names a blob it never puts,
// and which writes another tree, naming only what it put, into the same
// buffer once the put returns.
type reusedBuffer struct{ present, missing manifest.Digest }

func (w reusedBuffer) CaptureWorld(ctx context.Context, bw pf.BlobWriter) (manifest.World, error) {
	tree := func(d manifest.Digest) []byte {
		raw, _ := (&manifest.Tree{Entries: []manifest.Entry{{Path: "a", Mode: 0o644, Kind: manifest.KindFile, Blob: d}}}).Encode()
		return raw
	}
	buf := tree(w.missing)
	fs, err := bw.PutBytes(ctx, buf)
	copy(buf, tree(w.present))
	return manifest.World{FS: fs, Env: fs, Procs: fs}, err
}

// pageList is a CacheCapture whose page list names a page it never puts.
type pageList struct{ missing manifest.Digest }

func (c pageList) CaptureCache(ctx context.Context, bw pf.BlobWriter) (manifest.Cache, error) {
	k := []byte("k page")
	pages, _ := (&manifest.CachePages{Layout: manifest.DefaultCacheLayout, Dtype: manifest.DtypeBF16, Pages: []manifest.CachePage{{Ix: 0, K: manifest.Sum(k), V: c.missing}}}).Encode()
	ds, err := pf.PutAll(ctx, bw, [][]byte{k, pages})
	if err != nil {
		return manifest.Cache{}, err
	}
	return manifest.Cache{Manifest: ds[1]}, nil
}

// A snapshot checks what its tree and page list name as a commit does,
// whatever the capture does with its buffers after putting them.
func TestStore_Snapshot_IntegrityNamesMissing(t *testing.T) {
	s := openStore(t)
	present, _ := s.Blobs().PutBytes(ctx, []byte("present"))
	missing := manifest.Sum([]byte("never stored"))
	for _, spec := range []pf.Snapshot{
		{Agent: agent, World: reusedBuffer{present: present, missing: missing}},
		{Agent: agent, Cache: pageList{missing: missing}},
	} {
		_, err := s.Snapshot(ctx, spec)
		if !errors.Is(err, pf.ErrNotFound) || !strings.Contains(err.Error(), missing.String()) {
			t.Fatalf("snapshot: %v, want ErrNotFound naming %s", err, missing)
		}
	}
	if st, _ := s.Stats(ctx); st.Images != 0 {
		t.Fatal("an image was committed")
	}
}

// A manifest that arrives as bytes is kept as those bytes, even when they
// are not how pf would write them.
func TestStore_Commit_KeepsExactBytes(t *testing.T) {
	s := openStore(t)
	e, _ := s.Blobs().PutBytes(ctx, nil)
	E := e.String()
	raw := []byte(`{"schema_version":1,"media_type":"application/vnd.processfork.image.v1+json","agent":{"kind":"demo","version":"0.1.0","fingerprint":"f","extra":1},` +
		`"model":{"base":"` + E + `","diff":"` + E + `"},"cache":{"layout":"paged-batchinvariant-v1","manifest":"` + E + `"},` +
		`"world":{"fs":"` + E + `","env":"` + E + `","procs":"` + E + `"},"effects":{"ledger":"` + E + `"},"trace":{"messages":"` + E + `"},` +
		`"created_at":"2026-05-05T14:11:00.12Z"}`)
	id, err := s.Commit(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if id != manifest.Sum(raw) {
		t.Fatal("id is not the digest of the bytes given")
	}
	img, err := s.Image(ctx, id)
	if err != nil || !bytes.Equal(img.Raw, raw) {
		t.Fatalf("stored bytes differ: %v", err)
	}
}

func TestStore_Snapshot_Concurrent(t *testing.T) {
	s := openStore(t)
	root, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(1, 10)})
	if err != nil {
		t.Fatal(err)
	}
	const agents, each = 8, 10
	var wg sync.WaitGroup
	ids := make(chan manifest.Digest, agents*each)
	errs := make(chan error, agents)
	for a := 0; a < agents; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parent := root
			for i := 0; i < each; i++ {
				// Agents share half their files: dedupe under concurrency.
				id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Parents: []manifest.Digest{parent},
					World: files(uint64(1+(a+i)%3), 10), Trace: trace{lines: []byte(fmt.Sprint(a, i))}})
				if err != nil {
					errs <- err
					return
				}
				ids <- id
				parent = id
			}
		}()
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 0
	for id := range ids {
		n++
		img, err := s.Image(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Blobs().Get(ctx, img.Manifest.World.FS); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Stats(ctx); st.Images != int64(n+1) {
		t.Fatalf("%d images, want %d", st.Images, n+1)
	}
}

// A snapshot large enough that its lease writes early, then fails: what it
// wrote early is deleted too.
func TestStore_Snapshot_AtomicAfterSpill(t *testing.T) {
	s := openStore(t)
	before, _ := s.Stats(ctx)
	w := files(9, 2000) // 12 MB: more than a lease stages in memory
	_, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w, Trace: trace{lines: []byte("x"), fail: errors.New("late failure")}})
	if err == nil {
		t.Fatal("snapshot with a failing capture succeeded")
	}
	after, _ := s.Stats(ctx)
	after.FileSize = before.FileSize // bbolt may grow the file; the content must not change
	if after != before {
		t.Fatalf("store changed: %+v -> %+v", before, after)
	}
	for _, b := range w.files {
		if ok, _ := s.Blobs().Has(ctx, manifest.Sum(b)); ok {
			t.Fatal("a blob written early stayed behind")
		}
	}
}

// sameWorld is a WorldCapture that returns an earlier image's part and
// puts nothing, as a capture that knows its layer is unchanged may.
type sameWorld struct{ part manifest.World }

func (w sameWorld) CaptureWorld(context.Context, pf.BlobWriter) (manifest.World, error) {
	return w.part, nil
}

// An unchanged layer can be committed again by its digests alone; a part
// naming what the store does not hold is refused like any other.
func TestStore_Snapshot_UnchangedLayerPutsNothing(t *testing.T) {
	s := openStore(t)
	w := files(1, 5)
	first, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Stats(ctx)
	second, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Parents: []manifest.Digest{first}, World: sameWorld{img.Manifest.World}})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.Stats(ctx)
	if after.Blobs != before.Blobs {
		t.Errorf("blobs: %d before, %d after a snapshot that put nothing", before.Blobs, after.Blobs)
	}
	next, err := s.Image(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if next.Manifest.World != img.Manifest.World {
		t.Fatalf("world %+v, want the first image's %+v", next.Manifest.World, img.Manifest.World)
	}

	other := openStore(t)
	_, err = other.Snapshot(ctx, pf.Snapshot{Agent: agent, World: sameWorld{img.Manifest.World}})
	if !errors.Is(err, pf.ErrNotFound) || !strings.Contains(err.Error(), img.Manifest.World.FS.String()) {
		t.Fatalf("a part naming blobs another store holds: %v, want ErrNotFound naming %s", err, img.Manifest.World.FS)
	}
	if st, _ := other.Stats(ctx); st.Images != 0 {
		t.Fatal("an image with holes was committed")
	}
}
