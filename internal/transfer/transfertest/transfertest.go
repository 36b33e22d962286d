// Package transfertest is the conformance suite of package transfer: the
// same cases, run against every place images travel to (a bundle, an OCI
// image layout, a reference directory store, a file:// or oci://
// registry), as containerd runs one suite against every snapshotter.
package transfertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/fixture"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/manifest"
)

// A Place is one place images travel to, fresh for one case.
type Place interface {
	// Export writes images ids of s there (as the command line would).
	Export(ctx context.Context, s *pf.Store, ids []manifest.Digest, opts transfer.ExportOptions) (*transfer.Report, error)
	// Source reads back what is there.
	Source(t *testing.T) transfer.Source
	// Corrupt changes the bytes the place holds for blob d, so that they
	// no longer decompress to bytes hashing to d; Remove deletes them.
	Corrupt(t *testing.T, d manifest.Digest)
	Remove(t *testing.T, d manifest.Digest)
}

// Traits say what a place keeps, where places differ.
type Traits struct {
	// Tags: tags written go with the images. A reference directory
	// store has no tags.
	Tags bool
	// OneImage: the place holds a single image, without its ancestors
	// (the reference's file:// registry). The cases then move one image,
	// received shallow.
	OneImage bool
	// Anew: each export writes the place anew (a tar file), so a second
	// export writes everything again.
	Anew bool
}

var ctx = context.Background()

// Images is the history the cases move: a root, a fork of it, a child of
// the fork with a blob large enough to be chunked, tagged main, and an
// unrelated root, tagged other.
type Images struct {
	Root, Fork, Big, Other manifest.Digest
}

// All lists the images, parents first.
func (im Images) All() []manifest.Digest {
	return []manifest.Digest{im.Root, im.Fork, im.Big, im.Other}
}

// bigTrace is a trace layer of one blob over cas's chunking threshold.
type bigTrace struct{ n int }

func (b bigTrace) CaptureTrace(ctx context.Context, w pf.BlobWriter) (manifest.Trace, error) {
	d, err := w.Put(ctx, io.LimitReader(&splitmix{x: uint64(b.n)}, int64(b.n)))
	return manifest.Trace{Messages: d}, err
}

type splitmix struct{ x uint64 }

func (s *splitmix) Read(p []byte) (int, error) {
	for i := range p {
		s.x += 0x9e3779b97f4a7c15
		z := s.x
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		p[i] = byte(z ^ z>>31)
	}
	return len(p), nil
}

// NewHistory makes the images of the cases in a new store.
func NewHistory(t *testing.T) (*pf.Store, Images) {
	t.Helper()
	s := OpenStore(t)
	var im Images
	var err error
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	snap := func(spec pf.Snapshot, minutes int) manifest.Digest {
		t.Helper()
		spec.CreatedAt = at.Add(time.Duration(minutes) * time.Minute)
		id, err := s.Snapshot(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	im.Root = snap(fixture.New(fixture.Options{Seed: 1}).Snapshot(), 0)
	im.Fork = snap(fixture.New(fixture.Options{Seed: 1, Fork: 1, Differ: 0.25}).Snapshot(im.Root), 1)
	big := fixture.New(fixture.Options{Seed: 1, Fork: 1, Differ: 0.25}).Snapshot(im.Fork)
	big.Trace = bigTrace{3<<20 + 12345}
	im.Big = snap(big, 2)
	im.Other = snap(fixture.New(fixture.Options{Seed: 2}).Snapshot(), 3)
	if _, err = s.Tag(ctx, "main", im.Big); err != nil {
		t.Fatal(err)
	}
	if _, err = s.Tag(ctx, "other", im.Other); err != nil {
		t.Fatal(err)
	}
	return s, im
}

// OpenStore opens a new store in a temporary directory.
func OpenStore(t testing.TB) *pf.Store {
	t.Helper()
	s, err := pf.Open(filepath.Join(t.TempDir(), "store.pf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Run runs every case against the place newPlace makes.
func Run(t *testing.T, traits Traits, newPlace func(t *testing.T) Place) {
	src, im := NewHistory(t)
	exported := []manifest.Digest{im.Big, im.Other}
	exportOpts := transfer.ExportOptions{Ancestors: true, Tags: true}
	want := im.All()
	if traits.OneImage {
		exported, want = []manifest.Digest{im.Fork}, []manifest.Digest{im.Fork}
		exportOpts.Ancestors = false
	}
	importOpts := transfer.ImportOptions{Tags: true, Ancestors: true, Shallow: traits.OneImage}

	exportTo := func(t *testing.T, p Place) {
		t.Helper()
		rep, err := p.Export(ctx, src, exported, exportOpts)
		if err == nil {
			err = rep.Err()
		}
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if rep.Count(transfer.Imported) != len(want) {
			t.Fatalf("export: %d images written, want %d", rep.Count(transfer.Imported), len(want))
		}
	}
	importFrom := func(t *testing.T, p Place, dst *pf.Store) *transfer.Report {
		t.Helper()
		s := p.Source(t)
		defer s.Close()
		rep, err := transfer.Import(ctx, dst, s, importOpts)
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		return rep
	}

	t.Run("RoundTripKeepsIdsBlobsAndTags", func(t *testing.T) {
		p := newPlace(t)
		exportTo(t, p)
		dst := OpenStore(t)
		rep := importFrom(t, p, dst)
		if err := rep.Err(); err != nil || rep.Count(transfer.Imported) != len(want) {
			t.Fatalf("import: %d images imported, %v; want %d", rep.Count(transfer.Imported), err, len(want))
		}
		for _, id := range want {
			SameImage(t, src, dst, id)
		}
		if traits.Tags {
			tags, _ := dst.Tags(ctx)
			if !slices.Equal(tags, []pf.Tag{{Name: "main", ID: im.Big}, {Name: "other", ID: im.Other}}) {
				t.Fatalf("tags after import: %v", tags)
			}
		}
		if v, err := dst.Verify(ctx, pf.VerifyOptions{Deep: true}); err != nil || len(v.Problems) > 0 {
			t.Fatalf("verify after import: %v, %v", v.Problems, err)
		}
	})

	t.Run("SecondRunMovesNothing", func(t *testing.T) {
		p := newPlace(t)
		exportTo(t, p)
		if !traits.Anew {
			rep, err := p.Export(ctx, src, exported, exportOpts)
			if err != nil || rep.Err() != nil || rep.Blobs != 0 {
				t.Fatalf("second export: %d blobs written, %v, %v; want none", rep.Blobs, err, rep.Err())
			}
		}
		dst := OpenStore(t)
		importFrom(t, p, dst)
		rep := importFrom(t, p, dst)
		// A source that lists its images reports each present; one that
		// finds ancestors (a registry) is not asked for those the store
		// has.
		if rep.Err() != nil || rep.Blobs != 0 || rep.Count(transfer.Imported) != 0 || rep.Count(transfer.Present) == 0 {
			t.Fatalf("second import: %d blobs, %d images imported, %d present, %v; want none, none, some", rep.Blobs, rep.Count(transfer.Imported), rep.Count(transfer.Present), rep.Err())
		}
	})

	t.Run("OnlyWhatIsMissingMoves", func(t *testing.T) {
		p := newPlace(t)
		exportTo(t, p)
		dst := OpenStore(t)
		// The store has the blobs of the first image wanted already.
		have := want[0]
		if !traits.OneImage {
			have = im.Root
		}
		blobs, err := src.Reached(ctx, have)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs[:len(blobs)/2] {
			data, _ := src.Blobs().Get(ctx, b.Digest)
			if _, err := dst.Blobs().PutBytes(ctx, data); err != nil {
				t.Fatal(err)
			}
		}
		rep := importFrom(t, p, dst)
		if err := rep.Err(); err != nil {
			t.Fatal(err)
		}
		total := distinctBlobs(t, src, want)
		if rep.PresentBlobs != len(blobs)/2 || rep.Blobs != total-len(blobs)/2 {
			t.Fatalf("import into a store with %d of the %d blobs: %d fetched, %d found present", len(blobs)/2, total, rep.Blobs, rep.PresentBlobs)
		}
	})

	// The last blob the fork reaches that neither root does (its child
	// reaches it too).
	ownBlob := func(t *testing.T, id manifest.Digest) manifest.Digest {
		t.Helper()
		others := map[manifest.Digest]bool{}
		for _, o := range []manifest.Digest{im.Root, im.Other} {
			bs, _ := src.Reached(ctx, o)
			for _, b := range bs {
				others[b.Digest] = true
			}
		}
		bs, _ := src.Reached(ctx, id)
		for i := len(bs) - 1; i >= 0; i-- {
			if !others[bs[i].Digest] {
				return bs[i].Digest
			}
		}
		t.Fatalf("image %s has no blob of its own", id.Short())
		return manifest.Digest{}
	}
	for _, damage := range []string{"Corrupt", "Missing"} {
		t.Run(damage+"BlobFailsItsImagesOnly", func(t *testing.T) {
			p := newPlace(t)
			exportTo(t, p)
			broken := im.Fork // and im.Big, its child
			d := ownBlob(t, broken)
			if damage == "Corrupt" {
				p.Corrupt(t, d)
			} else {
				p.Remove(t, d)
			}
			dst := OpenStore(t)
			rep := importFrom(t, p, dst)
			err := rep.Err()
			if !errors.Is(err, pf.ErrCorrupt) || !strings.Contains(err.Error(), d.String()) {
				t.Fatalf("import with blob %s damaged: %v; want an error wrapping ErrCorrupt naming it", d.Short(), err)
			}
			for _, r := range rep.Images {
				breaks := r.ID == broken || r.ID == im.Big
				if (r.Status == transfer.Failed) != breaks {
					t.Errorf("image %s: %s (%v)", r.ID.Short(), r.Status, r.Err)
				}
				if has, _ := dst.HasImage(ctx, r.ID); has == breaks {
					t.Errorf("image %s in the store: %v", r.ID.Short(), has)
				}
			}
			if len(rep.Images) != len(want) {
				t.Errorf("%d images reported, want %d", len(rep.Images), len(want))
			}
		})
	}
}

// SameImage checks that image id reads the same from both stores: its
// manifest's bytes and every blob it reaches.
func SameImage(t *testing.T, a, b *pf.Store, id manifest.Digest) {
	t.Helper()
	ia, err := a.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := b.Image(ctx, id)
	if err != nil {
		t.Fatalf("image %s: %v", id.Short(), err)
	}
	if !bytes.Equal(ia.Raw, ib.Raw) {
		t.Fatalf("image %s: manifest bytes differ", id.Short())
	}
	ba, err := a.Reached(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := b.Reached(ctx, id)
	if err != nil {
		t.Fatalf("image %s: %v", id.Short(), err)
	}
	if !slices.Equal(ba, bb) {
		t.Fatalf("image %s reaches %d blobs in one store, %d in the other", id.Short(), len(ba), len(bb))
	}
}

func distinctBlobs(t *testing.T, s *pf.Store, ids []manifest.Digest) int {
	t.Helper()
	seen := map[manifest.Digest]bool{}
	for _, id := range ids {
		bs, err := s.Reached(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			seen[b.Digest] = true
		}
	}
	return len(seen)
}

// Describe names a report's images and their fates, for failure messages.
func Describe(rep *transfer.Report) string {
	var b strings.Builder
	for _, r := range rep.Images {
		fmt.Fprintf(&b, "%s %s %v; ", r.ID.Short(), r.Status, r.Err)
	}
	return b.String()
}
