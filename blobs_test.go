package pf_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

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
	if rc, err = blobs.OpenAt(ctx, ds[1], 1); err != nil {
		t.Fatal(err)
	}
	got.Reset()
	if _, err := got.ReadFrom(rc); err != nil || got.String() != "wo" {
		t.Fatalf("OpenAt 1 read %q, %v", got.String(), err)
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
