package pf_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// Every use of a store after Close fails with an error wrapping ErrClosed,
// reads as well as writes, instead of a panic or bbolt's own error.
func TestStore_Close_ErrClosed(t *testing.T) {
	s, err := pf.Open(filepath.Join(t.TempDir(), "store.pf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(1, 3)})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := s.Blobs().PutBytes(ctx, []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	uses := map[string]func() error{
		"Snapshot":  func() error { _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(2, 3)}); return err },
		"Image":     func() error { _, err := s.Image(ctx, id); return err },
		"Log":       func() error { _, _, err := s.Log(ctx, pf.LogQuery{}); return err },
		"Tag":       func() error { _, err := s.Tag(ctx, "t", id); return err },
		"Tags":      func() error { _, err := s.Tags(ctx); return err },
		"Resolve":   func() error { _, err := s.ResolveImage(ctx, id.String()[:20]); return err },
		"Verify":    func() error { _, err := s.Verify(ctx, pf.VerifyOptions{}); return err },
		"GC":        func() error { _, err := s.GC(ctx, pf.GCOptions{}); return err },
		"Stats":     func() error { _, err := s.Stats(ctx); return err },
		"Blobs.Get": func() error { _, err := s.Blobs().Get(ctx, blob); return err },
		"Blobs.Has": func() error { _, err := s.Blobs().Has(ctx, blob); return err },
		"Blobs.Put": func() error { _, err := s.Blobs().PutBytes(ctx, []byte("late")); return err },
	}
	for name, use := range uses {
		if err := use(); !errors.Is(err, pf.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// Store.Blobs is the blobs by digest, and nothing of how they are kept:
// what it puts reads back verified, a batch becomes visible only when it
// commits, and a missing blob is ErrNotFound.
func TestStore_Blobs_PutGetBatch(t *testing.T) {
	s := openStore(t)
	blobs := s.Blobs()
	d, err := blobs.Put(ctx, strings.NewReader("streamed"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := blobs.Get(ctx, d); err != nil || string(got) != "streamed" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if info, err := blobs.Stat(ctx, d); err != nil || info.Digest != d || info.Size != int64(len("streamed")) {
		t.Fatalf("Stat = %+v, %v", info, err)
	}

	batch := blobs.NewBatch()
	ds, err := pf.PutAll(ctx, batch, [][]byte{[]byte("one"), []byte("two")})
	if err != nil {
		t.Fatal(err)
	}
	if has, err := blobs.Has(ctx, ds[0]); err != nil || has {
		t.Fatalf("Has before Commit = %v, %v; want false", has, err)
	}
	if err := batch.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rc, err := blobs.Open(ctx, ds[1])
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil || got.String() != "two" {
		t.Fatalf("Open read %q, %v", got.String(), err)
	}
	rc.Close()

	aborted := blobs.NewBatch()
	gone, err := aborted.PutBytes(ctx, []byte("aborted"))
	if err != nil {
		t.Fatal(err)
	}
	if err := aborted.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.Get(ctx, gone); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("Get of an aborted batch's blob = %v, want ErrNotFound", err)
	}
	if _, err := blobs.Stat(ctx, manifest.Digest{1}); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("Stat of a missing blob = %v, want ErrNotFound", err)
	}
}
