package bench

import (
	"github.com/processfork/pf/internal/fixture"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// The store's gates: each test fails when the store keeps more than the
// bytes an image adds, whatever the speed.

// clock hands out creation times that never repeat within the process, so
// that every snapshot is a new image even where the system clock is
// coarse: committing an image the store already has is a no-op, which
// would make a gate or a benchmark measure nothing.
var clock atomic.Int64

func nextTime() time.Time {
	return fixture.Epoch.Add(time.Duration(clock.Add(1)) * time.Microsecond)
}

// openStore opens a new store in a temporary directory that is removed
// when tb ends.
func openStore(tb testing.TB, opts *pf.Options) *pf.Store {
	tb.Helper()
	s, err := pf.Open(filepath.Join(tb.TempDir(), "s.pf"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// snapshot takes a snapshot of f with the given parents at a new time.
func snapshot(tb testing.TB, s *pf.Store, f *fixture.Fixture, parents ...manifest.Digest) manifest.Digest {
	tb.Helper()
	spec := f.Snapshot(parents...)
	spec.CreatedAt = nextTime()
	id, err := s.Snapshot(tb.Context(), spec)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func stats(tb testing.TB, s *pf.Store) pf.Stats {
	tb.Helper()
	st, err := s.Stats(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// The reference's gate is 4 KiB (it measured 614 B). A second snapshot of
// unchanged state adds one manifest; anything more is a blob stored twice.
func TestGate_SecondSnapshotUnder1KiB(t *testing.T) {
	s := openStore(t, nil)
	f := fixture.New(fixture.Options{Seed: 1})
	first := snapshot(t, s, f)
	before := stats(t, s)
	second := snapshot(t, s, f)
	after := stats(t, s)
	if first == second {
		t.Fatalf("the second snapshot has the first's id %s", first)
	}
	if after.Images != before.Images+1 {
		t.Fatalf("images %d, then %d", before.Images, after.Images)
	}
	growth := after.Stored - before.Stored
	t.Logf("first snapshot stores %d B; the second adds %d B (%d blobs, then %d; file %d B, then %d)",
		before.Stored, growth, before.Blobs, after.Blobs, before.FileSize, after.FileSize)
	if growth >= 1024 {
		t.Errorf("a second identical snapshot grew the store by %d B, want under 1024", growth)
	}
}

// The reference's gate is "12 forks take at most 1.5x the storage of one".
// That figure depends on how much forks differ, so the gate here is
// relative to what they must add: the pages and files that differ, the
// page manifest and tree naming them, and each fork's manifest, within 5%
// and 16 KiB. Forks that change nothing but their metadata must add next to
// nothing.
func TestGate_Forks(t *testing.T) {
	const forks = 12
	ctx := t.Context()
	s := openStore(t, nil)
	f := fixture.New(fixture.Options{Seed: 1})
	base := snapshot(t, s, f)
	one := stats(t, s).Stored

	stored := map[manifest.Digest]bool{}
	for _, b := range f.Blobs() {
		stored[b.Digest] = true
	}
	var unavoidable int64
	for k := 1; k <= forks; k++ {
		fk := fixture.New(fixture.Options{Seed: 1, Fork: k, Differ: 1.0 / 8})
		id := snapshot(t, s, fk, base)
		for _, b := range fk.Blobs() {
			if !stored[b.Digest] {
				stored[b.Digest] = true
				unavoidable += int64(len(b.Data))
			}
		}
		img, err := s.Image(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		unavoidable += int64(len(img.Raw))
	}
	afterForks := stats(t, s)
	growth := afterForks.Stored - one
	limit := unavoidable + unavoidable/20 + 16<<10
	t.Logf("one snapshot stores %d B; %d forks (differ 1/8) add %d B, unavoidable %d B (%.3fx of it), limit %d B",
		one, forks, growth, unavoidable, float64(growth)/float64(unavoidable), limit)
	t.Logf("fork ratio: total after %d forks / one snapshot = %.3f (the reference's gate: at most 1.5)",
		forks, float64(afterForks.Stored)/float64(one))
	if growth > limit {
		t.Errorf("%d forks grew the store by %d B, more than the %d B they must add times 1.05 plus 16 KiB (%d B)",
			forks, growth, unavoidable, limit)
	}

	for range forks {
		snapshot(t, s, f, base)
	}
	after := stats(t, s)
	meta := after.Stored - afterForks.Stored
	t.Logf("%d metadata-only forks add %d B (%.2f%% of one snapshot); metadata-only fork ratio = %.4f",
		forks, meta, 100*float64(meta)/float64(one), float64(one+meta)/float64(one))
	if meta*100 >= one {
		t.Errorf("%d metadata-only forks grew the store by %d B, want under 1%% of one snapshot (%d B)", forks, meta, one/100)
	}
	if want := int64(1 + 2*forks); after.Images != want {
		t.Errorf("%d images, want %d", after.Images, want)
	}
}
