package pf_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/fixture"
	"github.com/processfork/pf/manifest"
)

// BenchmarkSnapshot_Warm snapshots the reference's fixture into a store
// that holds it, each image the child of the one before, as pf-bench's
// warm snapshot row does: every blob is stored already.
func BenchmarkSnapshot_Warm(b *testing.B) {
	ctx := context.Background()
	f := fixture.New(fixture.Options{Seed: 1})
	s, err := pf.Open(filepath.Join(b.TempDir(), "store.pf"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	clock := fixture.Epoch
	snapshot := func(parents ...manifest.Digest) manifest.Digest {
		spec := f.Snapshot(parents...)
		clock = clock.Add(time.Second)
		spec.CreatedAt = clock
		id, err := s.Snapshot(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		return id
	}
	prev := snapshot()
	b.SetBytes(f.Bytes())
	for b.Loop() {
		prev = snapshot(prev)
	}
}

// BenchmarkSnapshot_Forks12 snapshots 12 forks of the fixture, each
// differing from it in one page and one file in eight, as children of
// the base in a store holding only the base: pf-bench's forks row. Each
// iteration is the 12 forks into a new store.
func BenchmarkSnapshot_Forks12(b *testing.B) {
	ctx := context.Background()
	base := fixture.New(fixture.Options{Seed: 1})
	forks := make([]*fixture.Fixture, 12)
	var bytes int64
	for k := range forks {
		forks[k] = fixture.New(fixture.Options{Seed: 1, Fork: k + 1, Differ: 1.0 / 8})
		bytes += forks[k].Bytes()
	}
	b.SetBytes(bytes)
	dir := b.TempDir()
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		path := filepath.Join(dir, fmt.Sprintf("store%d.pf", round))
		s, err := pf.Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		spec := base.Snapshot()
		spec.CreatedAt = fixture.Epoch
		id, err := s.Snapshot(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for k, fk := range forks {
			spec := fk.Snapshot(id)
			spec.CreatedAt = fixture.Epoch.Add(time.Duration(k+1) * time.Second)
			if _, err := s.Snapshot(ctx, spec); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		os.Remove(path)
		b.StartTimer()
	}
}
