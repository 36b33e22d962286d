package pf_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
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
