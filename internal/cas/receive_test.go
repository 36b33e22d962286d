package cas

import (
	"bytes"
	"errors"
	"testing"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
)

func TestLease_PutVerified_StoresWhatHashesToTheDigestNamed(t *testing.T) {
	_, s := openStore(t, "", Options{})
	for _, size := range []int{0, 100, InlineMax, InlineMax + 1, 3*chunkMax + 17} {
		b := payload(uint64(size+1), size)
		l := s.NewLease()
		n, err := l.PutVerified(ctx, manifest.Sum(b), bytes.NewReader(b))
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: PutVerified = %d, %v", size, n, err)
		}
		if err := l.Commit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, manifest.Sum(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("size %d: stored blob reads back %d bytes, %v", size, len(got), err)
		}
	}
}

func TestLease_PutVerified_RefusesBytesThatHashElsewhere(t *testing.T) {
	_, s := openStore(t, "", Options{})
	for _, size := range []int{10, InlineMax + 1, 3 * chunkMax} {
		b := payload(uint64(size), size)
		want := manifest.Sum(append(bytes.Clone(b), 'x'))
		l := s.NewLease()
		_, err := l.PutVerified(ctx, want, bytes.NewReader(b))
		if !errors.Is(err, db.ErrCorrupt) {
			t.Fatalf("size %d: PutVerified of other bytes = %v, want ErrCorrupt", size, err)
		}
		if err := l.Commit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for _, d := range []manifest.Digest{want, manifest.Sum(b)} {
			if has(t, s, d) {
				t.Fatalf("size %d: a refused put left blob %s", size, d.Short())
			}
		}
	}
}

func TestLease_Flush_KeepsWhatArrivedThroughAnAbort(t *testing.T) {
	d, s := openStore(t, "", Options{SpillBytes: 1 << 16}) // spills early too
	l := s.NewLease()
	var before []manifest.Digest
	for i := range 8 {
		b := payload(uint64(i+100), 40000)
		if _, err := l.PutVerified(ctx, manifest.Sum(b), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		before = append(before, manifest.Sum(b))
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := provisionalCount(t, d); n != 0 {
		t.Fatalf("after a flush, %d provisional marks remain", n)
	}
	after := payload(999, 40000)
	if _, err := l.PutBytes(ctx, after); err != nil {
		t.Fatal(err)
	}
	if err := l.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, dg := range before {
		if !has(t, s, dg) {
			t.Fatalf("blob %s, flushed, went with the abort", dg.Short())
		}
	}
	if has(t, s, manifest.Sum(after)) {
		t.Fatal("a blob put after the flush survived the abort")
	}
	checkPacked(t, d)
}

func TestLease_Flush_HoldsWhatItWroteUntilCommit(t *testing.T) {
	_, s := openStore(t, "", Options{})
	l := s.NewLease()
	b := payload(7, 5000)
	if _, err := l.PutBytes(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	held := isHeld(s, manifest.Sum(b))
	if !held || !has(t, s, manifest.Sum(b)) {
		t.Fatalf("after a flush: held %v, stored %v; want both", held, has(t, s, manifest.Sum(b)))
	}
	if err := l.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	held = isHeld(s, manifest.Sum(b))
	if held {
		t.Fatal("still held after the commit")
	}
	if err := l.Flush(ctx); !errors.Is(err, ErrLeaseDone) {
		t.Fatalf("Flush after Commit = %v, want ErrLeaseDone", err)
	}
}
