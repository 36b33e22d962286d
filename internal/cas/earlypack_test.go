package cas

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/processfork/pf/manifest"
)

// TestMergeEarly_OrdersMembersByDigest checks the merge commitEarly
// loads the buckets in: every member of every pack once, by digest, with
// the index of its pack, for counts of packs that pair up evenly and not.
func TestMergeEarly_OrdersMembersByDigest(t *testing.T) {
	for _, sizes := range [][]int{{}, {3}, {0, 4}, {5, 1, 0}, {4, 4, 4, 4}, {7, 2, 9, 1, 6}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			var early []earlyPack
			want := 0
			for i, n := range sizes {
				ep := earlyPack{id: uint64(i)}
				for j := range n {
					d := manifest.Digest(sha256.Sum256(fmt.Appendf(nil, "%d/%d", i, j)))
					ep.members = append(ep.members, earlyMember{packMember: packMember{ref: valueRef{digest: d}}})
				}
				// Sorted as writeEarlyPack leaves them.
				slices.SortFunc(ep.members, func(a, b earlyMember) int { return bytes.Compare(a.ref.digest[:], b.ref.digest[:]) })
				early = append(early, ep)
				want += n
			}
			got := mergeEarly(early)
			if len(got) != want {
				t.Fatalf("merged %d members, want %d", len(got), want)
			}
			seen := map[*earlyMember]bool{}
			for i, p := range got {
				if seen[p.m] {
					t.Fatalf("member %x merged twice", p.m.ref.digest[:4])
				}
				seen[p.m] = true
				inPack := false
				for j := range early[p.pack].members {
					inPack = inPack || &early[p.pack].members[j] == p.m
				}
				if !inPack {
					t.Fatalf("member %x placed with pack %d, not its own", p.m.ref.digest[:4], p.pack)
				}
				if i > 0 && bytes.Compare(got[i-1].m.ref.digest[:], p.m.ref.digest[:]) > 0 {
					t.Fatalf("members %d and %d out of digest order", i-1, i)
				}
			}
		})
	}
}
