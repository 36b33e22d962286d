package pf_test

import (
	"errors"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// chain commits images at the given minutes past t0, each the child of
// the one before unless a parent index is given in parents.
func commitAt(t *testing.T, s *pf.Store, minute int, parents ...manifest.Digest) manifest.Digest {
	t.Helper()
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Parents: parents,
		CreatedAt: time.Date(2026, 11, 27, 10, minute, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestStore_Prune_KeepsLineageAndTags(t *testing.T) {
	s := openStore(t)
	//   a(0) - b(1) - c(2) - d(50)      d is recent: a, b, c stay as its ancestors
	//           \- e(3) - f(4)          f is tagged: e stays
	//   g(5) - h(6)                     pruned
	//   i(7)                            pruned
	a := commitAt(t, s, 0)
	b := commitAt(t, s, 1, a)
	c := commitAt(t, s, 2, b)
	d := commitAt(t, s, 50, c)
	e := commitAt(t, s, 3, b)
	f := commitAt(t, s, 4, e)
	g := commitAt(t, s, 5)
	h := commitAt(t, s, 6, g)
	i := commitAt(t, s, 7)
	if _, err := s.Tag(ctx, "keep-me", f); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)

	dry, err := s.Prune(ctx, pf.PruneOptions{KeepWithin: 30 * time.Minute, Now: now, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); st.Images != 9 {
		t.Fatal("a dry run removed images")
	}
	rep, err := s.Prune(ctx, pf.PruneOptions{KeepWithin: 30 * time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 3 || len(dry.Removed) != 3 || rep.Kept != 6 {
		t.Fatalf("removed %d (dry run %d), kept %d; want 3, 3, 6", len(rep.Removed), len(dry.Removed), rep.Kept)
	}
	for _, id := range []manifest.Digest{a, b, c, d, e, f} {
		if ok, _ := s.HasImage(ctx, id); !ok {
			t.Fatalf("kept image %s was removed", id.Short())
		}
	}
	for _, id := range []manifest.Digest{g, h, i} {
		if ok, _ := s.HasImage(ctx, id); ok {
			t.Fatalf("image %s outside the policy was kept", id.Short())
		}
	}
	// The indexes went with the manifests.
	entries, _, err := s.Log(ctx, pf.LogQuery{})
	if err != nil || len(entries) != 6 {
		t.Fatalf("log after prune: %d entries, %v", len(entries), err)
	}
	roots, _ := s.Roots(ctx)
	if len(roots) != 1 || roots[0] != a {
		t.Fatalf("roots after prune: %v", roots)
	}
	// And the blobs go with gc.
	if _, err := s.GC(ctx, pf.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []manifest.Digest{a, b, c, d, e, f} {
		checkImage(t, s, id)
	}
}

func TestStore_Prune_KeepLast(t *testing.T) {
	s := openStore(t)
	var ids []manifest.Digest
	for m := 0; m < 5; m++ {
		ids = append(ids, commitAt(t, s, m)) // five roots
	}
	rep, err := s.Prune(ctx, pf.PruneOptions{KeepLast: 2})
	if err != nil || len(rep.Removed) != 3 {
		t.Fatalf("prune: %+v, %v", rep, err)
	}
	for i, id := range ids {
		ok, _ := s.HasImage(ctx, id)
		if ok != (i >= 3) {
			t.Fatalf("image %d kept=%v", i, ok)
		}
	}
}

func TestStore_Prune_NeedsPolicy(t *testing.T) {
	s := openStore(t)
	commitAt(t, s, 0)
	if _, err := s.Prune(ctx, pf.PruneOptions{}); !errors.Is(err, pf.ErrNoPolicy) {
		t.Fatalf("prune without a policy: %v", err)
	}
}
