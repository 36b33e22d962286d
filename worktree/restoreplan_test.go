package worktree

import (
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/processfork/pf/manifest"
)

// internPaths gives an entry like's string only where like has the same
// path, in trees that differ by paths added and removed on either side,
// and leaves every path as it was in value.
func TestInternPaths_SharesEqualPathsOnly(t *testing.T) {
	tests := []struct {
		name          string
		entries, like []string
		shared        []string
	}{
		{"same", []string{"a", "a/b", "c"}, []string{"a", "a/b", "c"}, []string{"a", "a/b", "c"}},
		{"none", []string{"a", "b"}, nil, nil},
		{"added and removed", []string{"a", "a/b", "a/c", "d"}, []string{"a", "a/a", "a/c", "b", "d", "e"}, []string{"a", "a/c", "d"}},
		{"order of ComparePaths", []string{"a", "a/x", "a-b", "a.txt"}, []string{"a", "a/x", "a.txt", "b"}, []string{"a", "a/x", "a.txt"}},
	}
	// Each path a string of its own, as a decoded tree and a walk make them.
	own := func(paths []string) []manifest.Entry {
		out := make([]manifest.Entry, len(paths))
		for i, p := range paths {
			out[i] = manifest.Entry{Path: strings.Clone(p), Kind: manifest.KindFile}
		}
		slices.SortFunc(out, func(a, b manifest.Entry) int { return manifest.ComparePaths(a.Path, b.Path) })
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, like := own(tt.entries), own(tt.like)
			before := make([]string, len(entries))
			for i, e := range entries {
				before[i] = e.Path
			}
			internPaths(entries, like)
			var shared []string
			for i, e := range entries {
				if e.Path != before[i] {
					t.Fatalf("entry %d: path %q became %q", i, before[i], e.Path)
				}
				for _, l := range like {
					if unsafe.StringData(l.Path) == unsafe.StringData(e.Path) {
						shared = append(shared, e.Path)
					}
				}
			}
			if !slices.Equal(shared, tt.shared) {
				t.Errorf("shared %q, want %q", shared, tt.shared)
			}
		})
	}
}
