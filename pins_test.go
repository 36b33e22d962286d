package pf_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/manifest"
)

// A blob put by hand goes at the next collection unless pinned; a pinned
// chunked blob keeps its chunks; an unpinned one goes.
func TestStore_GC_KeepsPinnedBlobs(t *testing.T) {
	s := openStore(t)
	loose, _ := s.Blobs().PutBytes(ctx, []byte("nobody names me"))
	kept, err := s.PutPinned(ctx, bytes.NewReader([]byte("keep me")))
	if err != nil {
		t.Fatal(err)
	}
	big := castest.Payload(4, 3<<20) // chunked
	bigID, _ := s.Blobs().Put(ctx, bytes.NewReader(big))
	if err := s.Pin(ctx, bigID); err != nil {
		t.Fatal(err)
	}
	rep, err := s.GC(ctx, pf.GCOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 1 || rep.Chunks != 0 || rep.Pinned != 2 {
		t.Fatalf("gc report %+v, want 1 blob removed and 2 pinned", rep)
	}
	if ok, _ := s.Blobs().Has(ctx, loose); ok {
		t.Fatal("the unpinned blob survived")
	}
	for _, d := range []manifest.Digest{kept, bigID} {
		if b, err := s.Blobs().Get(ctx, d); err != nil || len(b) == 0 {
			t.Fatalf("pinned blob %s: %v", d.Short(), err)
		}
	}
	pins, err := s.Pins(ctx)
	if err != nil || len(pins) != 2 || pins[0].PinnedAt.IsZero() {
		t.Fatalf("pins %+v, %v", pins, err)
	}
	if err := s.Unpin(ctx, bigID); err != nil {
		t.Fatal(err)
	}
	if rep, err = s.GC(ctx, pf.GCOptions{}); err != nil || rep.Blobs != 1 || rep.Chunks == 0 {
		t.Fatalf("gc after unpin: %+v %v", rep, err)
	}
	if v, err := s.Verify(ctx, pf.VerifyOptions{Deep: true}); err != nil || len(v.Problems) > 0 {
		t.Fatalf("verify: %v %v", v.Problems, err)
	}
}

func TestStore_Pin_Errors(t *testing.T) {
	s := openStore(t)
	missing := manifest.Sum([]byte("never stored"))
	if err := s.Pin(ctx, missing); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("pin of a missing blob: %v", err)
	}
	if err := s.Unpin(ctx, missing); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("unpin of an unpinned blob: %v", err)
	}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: files(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, id); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("pin of an image: %v", err)
	}
	if pins, _ := s.Pins(ctx); len(pins) != 0 {
		t.Fatalf("pins after errors: %v", pins)
	}
}
