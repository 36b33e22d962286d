package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/index/indextest"
	"github.com/processfork/pf/manifest"
)

// checkLayout walks l's rows top to bottom as a browser draws them and
// fails t where a line breaks, two lines share a lane, a lane ends at
// the wrong image, or an image sits below one of its parents.
func checkLayout(t *testing.T, l *graphLayout) {
	t.Helper()
	carry := map[int]manifest.Digest{} // lane: the image its line goes down to
	seen := map[manifest.Digest]bool{}
	for i := range l.rows {
		r := l.at(i)
		where := fmt.Sprintf("row %d (%s)", i, r.ID.Short())
		if l.index[r.ID] != len(l.rows)-1-i {
			t.Fatalf("%s: index says %d", where, l.index[r.ID])
		}
		for _, p := range r.Parents {
			if seen[p] {
				t.Fatalf("%s: below its parent %s", where, p.Short())
			}
		}
		seen[r.ID] = true
		var pass, into []int
		for c, d := range carry {
			if d == r.ID {
				into = append(into, c)
			} else {
				pass = append(pass, c)
			}
		}
		slices.Sort(pass)
		slices.Sort(into)
		if !slices.Equal(pass, r.Pass) || !slices.Equal(into, slices.Sorted(slices.Values(r.Into))) {
			t.Fatalf("%s: pass %v into %v, but the lines above are pass %v into %v", where, r.Pass, r.Into, pass, into)
		}
		if slices.Contains(r.Pass, r.Lane) {
			t.Fatalf("%s: on lane %d, which a line crosses", where, r.Lane)
		}
		if r.Lane >= l.width {
			t.Fatalf("%s: lane %d, width %d", where, r.Lane, l.width)
		}
		for _, c := range into {
			delete(carry, c)
		}
		var inStore []manifest.Digest
		for _, p := range r.Parents {
			if _, ok := l.index[p]; ok {
				inStore = append(inStore, p)
			}
		}
		if len(inStore) != len(r.Out) {
			t.Fatalf("%s: %d lines out for %d parents in the store", where, len(r.Out), len(inStore))
		}
		for k, c := range r.Out {
			if d, busy := carry[c]; busy && d != inStore[k] {
				t.Fatalf("%s: line to %s on lane %d, which goes to %s", where, inStore[k].Short(), c, d.Short())
			}
			if c >= l.width {
				t.Fatalf("%s: line on lane %d, width %d", where, c, l.width)
			}
			carry[c] = inStore[k]
		}
	}
	if len(carry) != 0 {
		t.Fatalf("lines left at the bottom: %v", carry)
	}
}

// randomHistory makes n images, oldest first: mostly lines, with forks
// from older images, merges, new roots and parents the store lacks.
func randomHistory(rng *rand.Rand, n int) []graphRow {
	rows := make([]graphRow, n)
	for i := range rows {
		rows[i].ID = manifest.Digest{byte(i >> 16), byte(i >> 8), byte(i), 1}
		switch x := rng.IntN(100); {
		case i == 0 || x < 3: // a root
		case x < 5: // a parent the store lacks
			rows[i].Parents = []manifest.Digest{{0xff, byte(i)}}
		case x < 20: // a fork from an older image
			rows[i].Parents = []manifest.Digest{rows[rng.IntN(i)].ID}
		case x < 30 && i > 1: // a merge
			a, b := rng.IntN(i), rng.IntN(i)
			rows[i].Parents = []manifest.Digest{rows[i-1].ID, rows[a].ID}
			if b != a {
				rows[i].Parents = append(rows[i].Parents, rows[b].ID)
			}
			if a == i-1 {
				rows[i].Parents = rows[i].Parents[1:]
			}
		default:
			rows[i].Parents = []manifest.Digest{rows[i-1].ID}
		}
	}
	return rows
}

// TestGraph_Extend: a layout made at once and one extended image by
// image are both drawable, for random histories; and a line of new
// images on top of a line stays on its lane.
func TestGraph_Extend(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		hist := randomHistory(rng, 20+rng.IntN(300))
		newestFirst := slices.Clone(hist)
		slices.Reverse(newestFirst)
		whole := layoutGraph(newestFirst)
		checkLayout(t, whole)

		split := rng.IntN(len(hist))
		older := slices.Clone(hist[:split])
		slices.Reverse(older)
		l := layoutGraph(older)
		for _, r := range hist[split:] {
			l.extend(r)
		}
		checkLayout(t, l)
		if len(l.rows) != len(hist) {
			t.Fatalf("seed %d: %d rows for %d images", seed, len(l.rows), len(hist))
		}
	}

	line := layoutGraph([]graphRow{{ID: manifest.Digest{2}, Parents: []manifest.Digest{{1}}}, {ID: manifest.Digest{1}}})
	for i := byte(3); i < 50; i++ {
		line.extend(graphRow{ID: manifest.Digest{i}, Parents: []manifest.Digest{{i - 1}}})
	}
	checkLayout(t, line)
	if line.width != 1 {
		t.Fatalf("a line extended image by image is %d lanes wide", line.width)
	}
}

// TestGraph_NewImageShowsWithoutRelayout: after the layout is made, a
// new snapshot and a fork are laid on top of it (the same layout, not a
// new one), a prune lays the history out again, and the API shows each.
func TestGraph_NewImageShowsWithoutRelayout(t *testing.T) {
	ts := startTestServer(t)
	ctx := context.Background()
	var first *graphLayout
	ts.srv.withGraph(ctx, func(l *graphLayout) error { first = l; return nil })
	var page struct {
		Total int        `json:"total"`
		Rows  []graphRow `json:"rows"`
	}
	for _, parent := range []manifest.Digest{ts.merged, ts.root} {
		id, err := ts.store.Snapshot(ctx, pf.Snapshot{Agent: manifest.Agent{Kind: "new", Version: "1"}, Parents: []manifest.Digest{parent}})
		if err != nil {
			t.Fatal(err)
		}
		ts.get("/api/v1/graph?limit=10", &page)
		if page.Rows[0].ID != id || page.Total != len(page.Rows) {
			t.Fatalf("after a snapshot on %s: top row %s of %d, want %s", parent.Short(), page.Rows[0].ID.Short(), page.Total, id.Short())
		}
	}
	ts.srv.withGraph(ctx, func(l *graphLayout) error {
		if l != first {
			t.Error("a new image laid the whole history out again")
		}
		checkLayout(t, l)
		return nil
	})
}

// TestGraph_SnapshotOn100k: a snapshot that lands on a store of 100,000
// images is in the API's history within a bound, since it is laid on top
// of the layout made at start rather than laying out the whole history
// again (which takes seconds on this machine).
func TestGraph_SnapshotOn100k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a store of 100,000 images")
	}
	path := filepath.Join(t.TempDir(), "big.pf")
	if err := indextest.Build(path, 100_000); err != nil {
		t.Fatal(err)
	}
	s, err := pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := &Server{Store: s}
	l, err := ListenUnix(filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeUnix(l)
	defer srv.Shutdown(context.Background())
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", l.Addr().String())
	}}}
	ctx := context.Background()
	start := time.Now()
	if err := srv.refreshGraph(ctx); err != nil {
		t.Fatal(err)
	}
	layout := time.Since(start)
	top, _, err := s.Log(ctx, pf.LogQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	for i := range 5 {
		id, err := s.Snapshot(ctx, pf.Snapshot{Agent: manifest.Agent{Kind: "new", Version: "1"}, Parents: []manifest.Digest{top[0].ID}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := client.Get("http://pf/api/v1/graph?limit=5")
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Total int        `json:"total"`
			Rows  []graphRow `json:"rows"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if page.Rows[0].ID != id || page.Total != 100_001+i {
			t.Fatalf("snapshot %d: top row %s of %d, want %s of %d", i, page.Rows[0].ID.Short(), page.Total, id.Short(), 100_001+i)
		}
		worst = max(worst, took)
		top[0].ID = id
	}
	t.Logf("100,000 images: the whole layout %v; a new snapshot in the API's history within %v at worst of 5", layout.Round(time.Millisecond), worst.Round(time.Millisecond))
	// The bound is generous for a shared, loaded machine, and still a
	// fraction of a whole layout.
	if bound := 500 * time.Millisecond; worst > bound {
		t.Errorf("a new snapshot took %v to show in the history of 100,000 images, want within %v", worst, bound)
	}
}
