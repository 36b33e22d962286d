package worktree

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/processfork/pf/manifest"
)

// sortWalked orders a walk's entries as a full sort by ComparePaths does,
// names that extend a directory's with bytes below and above '/' included,
// and falls back to a full sort when a directory is not among them.
func TestSortWalked_OrderOfComparePaths(t *testing.T) {
	names := []string{"a", "a-b", "a.txt", "a0", "b", "B", "ab", "a b", "z~"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var entries []manifest.Entry
		var add func(dir string, depth int)
		add = func(dir string, depth int) {
			for _, n := range names {
				if rng.IntN(3) == 0 {
					continue
				}
				p := n
				if dir != "" {
					p = dir + "/" + n
				}
				if depth < 3 && rng.IntN(2) == 0 {
					entries = append(entries, manifest.Entry{Path: p, Kind: manifest.KindDir})
					add(p, depth+1)
				} else {
					entries = append(entries, manifest.Entry{Path: p, Kind: manifest.KindFile})
				}
			}
		}
		add("", 0)
		if round%5 == 0 && len(entries) > 0 {
			// A directory left out: only a full sort places its entries.
			i := slices.IndexFunc(entries, func(e manifest.Entry) bool { return e.Kind == manifest.KindDir })
			if i >= 0 {
				entries = slices.Delete(entries, i, i+1)
			}
		}
		if round%2 == 0 {
			rng.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
		} else if len(entries) > 0 {
			// As a walk adds them: a directory's entries in runs, a run
			// split where a subdirectory's came between, in no order.
			k := rng.IntN(len(entries))
			entries = append(entries[k:], entries[:k]...)
		}
		want := slices.Clone(entries)
		slices.SortFunc(want, func(a, b manifest.Entry) int { return manifest.ComparePaths(a.Path, b.Path) })
		sortWalked(entries)
		if !slices.Equal(entries, want) {
			t.Fatalf("round %d: got %v, want %v", round, paths(entries), paths(want))
		}
	}
}

func paths(entries []manifest.Entry) string {
	var s []string
	for _, e := range entries {
		s = append(s, e.Path)
	}
	return fmt.Sprint(s)
}

func BenchmarkSortWalked(b *testing.B) {
	var entries []manifest.Entry
	for d := range 1300 {
		dir := fmt.Sprintf("cmd/compile/internal/pkg%02d/sub%03d", d%40, d)
		entries = append(entries, manifest.Entry{Path: dir, Kind: manifest.KindDir})
		for f := range 9 {
			entries = append(entries, manifest.Entry{Path: fmt.Sprintf("%s/file_%03d.go", dir, f), Kind: manifest.KindFile})
		}
	}
	for d := range 40 {
		entries = append(entries, manifest.Entry{Path: fmt.Sprintf("cmd/compile/internal/pkg%02d", d), Kind: manifest.KindDir})
	}
	for _, p := range []string{"cmd", "cmd/compile", "cmd/compile/internal"} {
		entries = append(entries, manifest.Entry{Path: p, Kind: manifest.KindDir})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	work := make([]manifest.Entry, len(entries))
	for _, sorter := range []struct {
		name string
		sort func([]manifest.Entry)
	}{
		{"walked", sortWalked},
		{"full", func(e []manifest.Entry) { (&manifest.Tree{Entries: e}).Sort() }},
	} {
		b.Run(sorter.name, func(b *testing.B) {
			for b.Loop() {
				copy(work, entries)
				sorter.sort(work)
			}
		})
	}
}
