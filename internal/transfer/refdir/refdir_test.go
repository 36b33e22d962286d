package refdir_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/fixture"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/refdir"
	"github.com/processfork/pf/internal/transfer/transfertest"
	"github.com/processfork/pf/manifest"
)

var ctx = context.Background()

type place struct{ root string }

func (p place) Export(ctx context.Context, s *pf.Store, ids []manifest.Digest, opts transfer.ExportOptions) (*transfer.Report, error) {
	sink, err := refdir.Create(p.root)
	if err != nil {
		return nil, err
	}
	return transfer.Export(ctx, s, ids, sink, opts)
}

func (p place) Source(t *testing.T) transfer.Source {
	src, err := refdir.Open(p.root)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// Corrupt writes a frame of other bytes in the blob's place: it
// decompresses well, to the wrong bytes.
func (p place) Corrupt(t *testing.T, d manifest.Digest) {
	writeFrame(t, refdir.BlobPath(p.root, d), []byte("not the blob"))
}

func (p place) Remove(t *testing.T, d manifest.Digest) {
	if err := os.Remove(refdir.BlobPath(p.root, d)); err != nil {
		t.Fatal(err)
	}
}

func TestRefdir_Conformance(t *testing.T) {
	transfertest.Run(t, transfertest.Traits{}, func(t *testing.T) transfertest.Place {
		return place{filepath.Join(t.TempDir(), "processfork")}
	})
}

// level19 compresses as the reference does: one frame at zstd level 19.
var level19, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(19)), zstd.WithEncoderConcurrency(1))

func writeFrame(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, level19.EncodeAll(b, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeReferenceStore lays out, from the spec alone (no Rust toolchain
// here), the store the reference's pf snapshot --fixture would leave: the
// reference's fixture at seeds 0 and 1, a child of the first, each blob a
// level-19 frame under blobs/sha256/<aa>/<hex>.zst, each manifest a blob
// and a copy under images/, and a temporary file a killed write left
// behind. It returns the image ids, parents first.
func writeReferenceStore(t *testing.T, root string) []manifest.Digest {
	t.Helper()
	at := time.Date(2026, 5, 5, 14, 11, 0, 0, time.UTC)
	var ids []manifest.Digest
	put := func(f *fixture.Fixture, m *manifest.Manifest) manifest.Digest {
		for _, b := range f.Blobs() {
			writeFrame(t, refdir.BlobPath(root, b.Digest), b.Data)
		}
		raw, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		id := manifest.Sum(raw)
		writeFrame(t, refdir.BlobPath(root, id), raw)
		if err := os.WriteFile(refdir.ImagePath(root, id), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		return id
	}
	if err := os.MkdirAll(filepath.Join(root, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	f0 := fixture.New(fixture.Options{Seed: 0})
	root0 := put(f0, f0.Manifest(at))
	put(f0, f0.Manifest(at.Add(time.Second), root0))
	f1 := fixture.New(fixture.Options{Seed: 1})
	put(f1, f1.Manifest(at.Add(2*time.Second)))
	left := filepath.Join(filepath.Dir(refdir.BlobPath(root, root0)), ".tmpXYZ123")
	if err := os.WriteFile(left, []byte("half a blob"), 0o644); err != nil {
		t.Fatal(err)
	}
	return ids
}

// A reference store made from the spec goes into pf, out again as a
// reference store, and into pf again: the same ids each time, the same
// manifest files, the same blobs.
func TestRefdir_ImportExportImport_KeepsIds(t *testing.T) {
	ref := filepath.Join(t.TempDir(), "ref")
	ids := writeReferenceStore(t, ref)

	first := transfertest.OpenStore(t)
	src, err := refdir.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := transfer.Import(ctx, first, src, transfer.ImportOptions{})
	if err != nil || rep.Err() != nil || rep.Count(transfer.Imported) != len(ids) {
		t.Fatalf("import: %v, %v: %s", err, rep.Err(), transfertest.Describe(rep))
	}
	for i, r := range rep.Images {
		if r.ID != ids[i] {
			t.Fatalf("image %d imported as %s, want %s", i, r.ID.Short(), ids[i].Short())
		}
	}

	out := filepath.Join(t.TempDir(), "out")
	sink, err := refdir.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := transfer.Export(ctx, first, ids, sink, transfer.ExportOptions{}); err != nil || rep.Err() != nil {
		t.Fatalf("export: %v, %v", err, rep.Err())
	}
	for _, id := range ids {
		a, _ := os.ReadFile(refdir.ImagePath(ref, id))
		b, err := os.ReadFile(refdir.ImagePath(out, id))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("images/%s.json differs after the round trip: %v", id.Hex(), err)
		}
	}
	// Every blob of the first store is in the second, with the same
	// bytes, and nothing else is (the left-over temporary file is not a
	// blob).
	if got, want := blobNames(t, out), blobNames(t, ref); !slices.Equal(got, want) {
		t.Fatalf("blobs written: %d, the reference store has %d", len(got), len(want))
	}
	for _, name := range blobNames(t, ref) {
		d, _ := manifest.ParseHex(strings.TrimSuffix(name, ".zst"))
		if !bytes.Equal(readBlob(t, ref, d), readBlob(t, out, d)) {
			t.Fatalf("blob %s differs", d.Short())
		}
	}

	second := transfertest.OpenStore(t)
	src, _ = refdir.Open(out)
	rep, err = transfer.Import(ctx, second, src, transfer.ImportOptions{})
	if err != nil || rep.Err() != nil || rep.Count(transfer.Imported) != len(ids) {
		t.Fatalf("second import: %v, %v", err, rep.Err())
	}
	for _, id := range ids {
		transfertest.SameImage(t, first, second, id)
	}
}

func TestRefdir_Import_SecondRunAddsNothing(t *testing.T) {
	ref := filepath.Join(t.TempDir(), "ref")
	ids := writeReferenceStore(t, ref)
	s := transfertest.OpenStore(t)
	for run := 0; run < 2; run++ {
		src, _ := refdir.Open(ref)
		rep, err := transfer.Import(ctx, s, src, transfer.ImportOptions{})
		if err != nil || rep.Err() != nil {
			t.Fatal(err, rep.Err())
		}
		if run == 1 && (rep.Count(transfer.Present) != len(ids) || rep.Blobs != 0) {
			t.Fatalf("second run: %d present, %d blobs moved", rep.Count(transfer.Present), rep.Blobs)
		}
	}
}

// A manifest file that does not hash to its name is read from the blob
// the reference's get reads; if that is bad too, the image is reported,
// with exit status 4's sentinel, and the others come in.
func TestRefdir_Import_BadManifestCopy(t *testing.T) {
	ref := filepath.Join(t.TempDir(), "ref")
	ids := writeReferenceStore(t, ref)
	if err := os.WriteFile(refdir.ImagePath(ref, ids[0]), []byte(`{"tampered":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := transfertest.OpenStore(t)
	src, _ := refdir.Open(ref)
	rep, _ := transfer.Import(ctx, s, src, transfer.ImportOptions{})
	if rep.Err() != nil || rep.Count(transfer.Imported) != len(ids) {
		t.Fatalf("with images/ damaged but the blob whole: %v", rep.Err())
	}

	os.Remove(refdir.BlobPath(ref, ids[2]))
	os.WriteFile(refdir.ImagePath(ref, ids[2]), []byte(`{}`), 0o644)
	s = transfertest.OpenStore(t)
	src, _ = refdir.Open(ref)
	rep, _ = transfer.Import(ctx, s, src, transfer.ImportOptions{})
	if err := rep.Err(); !errors.Is(err, pf.ErrCorrupt) || rep.Count(transfer.Imported) != 2 {
		t.Fatalf("with an image's manifest lost: %v; %s", err, transfertest.Describe(rep))
	}
}

func TestRefdir_Create_RefusesADirectoryOfSomethingElse(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if _, err := refdir.Create(dir); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("Create in a directory of other files: %v", err)
	}
	file := filepath.Join(dir, "notes.txt")
	if _, err := refdir.Create(file); err == nil {
		t.Fatal("Create on a file succeeded")
	}
	if _, err := refdir.Open(dir); err == nil {
		t.Fatal("Open of a directory that is not a reference store succeeded")
	}
}

func blobNames(t *testing.T, root string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(filepath.Join(root, "blobs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			names = append(names, d.Name())
		}
		return err
	})
	slices.Sort(names)
	return names
}

func readBlob(t *testing.T, root string, d manifest.Digest) []byte {
	t.Helper()
	r, err := refdir.OpenBlob(root, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
