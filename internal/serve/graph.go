package serve

import (
	"container/heap"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// The history graph of the web UI: every image a row, children above
// their parents, newest first otherwise; each image on a lane, with the
// lines that pass its row and join it to its parents, as git log --graph
// draws them. The server keeps the layout of the whole history and
// serves it a window of rows at a time, so that a browser draws only the
// rows in view of a history of any length. The layout is made once; then
// each new image is laid on top of it (extend), at a cost that grows with
// the rows between it and its parents, not with the history: only a
// change that is not new images on top (a prune, an import of images
// older than those in the store) lays the whole history out again.

// graphRow is one row of the layout.
type graphRow struct {
	ID        manifest.Digest   `json:"id"`
	CreatedAt string            `json:"created_at"`
	Agent     string            `json:"agent"`
	Parents   []manifest.Digest `json:"parents"`
	Lane      int               `json:"lane"`
	// Pass are the lanes whose lines cross the row, in lane order; Into
	// the lanes whose lines end at this image (its children's); Out the
	// lanes that leave it for its parents, one for each parent in the
	// store, in the order of Parents.
	Pass []int `json:"pass"`
	Into []int `json:"into"`
	Out  []int `json:"out"`
}

// clone copies r with slices of its own, for use outside the cache's lock.
func (r graphRow) clone() graphRow {
	r.Parents = slices.Clone(r.Parents)
	r.Pass, r.Into, r.Out = slices.Clone(r.Pass), slices.Clone(r.Into), slices.Clone(r.Out)
	return r
}

type graphLayout struct {
	images int64
	newest manifest.Digest
	// rows are oldest first, so that a new image is an append: the row
	// shown at position i (0 at the top) is rows[len(rows)-1-i].
	rows  []graphRow
	width int
	index map[manifest.Digest]int // an image's place in rows
}

// at is the row shown at position i.
func (l *graphLayout) at(i int) *graphRow { return &l.rows[len(l.rows)-1-i] }

// graphCache keeps the layout up to date with the store. Its rows are
// changed in place by extend, so they are read only under mu.
type graphCache struct {
	mu     sync.Mutex
	layout *graphLayout
}

// maxExtend is the most new images laid on top of the layout one by one;
// beyond it the whole history is laid out again.
const maxExtend = 1024

// withGraph calls fn with the layout brought up to date, under the cache's
// lock: fn copies what it needs.
func (s *Server) withGraph(ctx context.Context, fn func(*graphLayout) error) error {
	stats, err := s.Store.Stats(ctx)
	if err != nil {
		return err
	}
	top, _, err := s.Store.Log(ctx, pf.LogQuery{Limit: 1})
	if err != nil {
		return err
	}
	var newest manifest.Digest
	if len(top) > 0 {
		newest = top[0].ID
	}
	s.graphs.mu.Lock()
	defer s.graphs.mu.Unlock()
	l := s.graphs.layout
	switch {
	case l != nil && l.images == stats.Images && l.newest == newest:
	case l != nil && stats.Images > l.images && stats.Images-l.images <= maxExtend && s.extendGraph(ctx, l, int(stats.Images-l.images)):
		l.images, l.newest = stats.Images, newest
	default:
		all, err := s.Store.Nodes(ctx)
		if err != nil {
			return err
		}
		nodes := make([]graphRow, len(all))
		for i, n := range all {
			nodes[i] = graphRow{ID: n.ID, CreatedAt: manifest.FormatTime(n.CreatedAt), Parents: n.Parents}
		}
		l = layoutGraph(nodes)
		l.images, l.newest = stats.Images, newest
		s.graphs.layout = l
	}
	if fn == nil {
		return nil
	}
	return fn(l)
}

// refreshGraph brings the layout up to date, so that the next browser
// finds it ready.
func (s *Server) refreshGraph(ctx context.Context) error { return s.withGraph(ctx, nil) }

// extendGraph lays the store's n images that l lacks on top of l, and
// says whether it could: they must be among the newest images, and none
// may be the parent of an image l has (which would have to be drawn
// below it). Nothing is changed when it cannot.
func (s *Server) extendGraph(ctx context.Context, l *graphLayout, n int) bool {
	entries, _, err := s.Store.Log(ctx, pf.LogQuery{Limit: 2*n + 32})
	if err != nil {
		return false
	}
	var fresh []graphRow // oldest first
	isFresh := map[manifest.Digest]bool{}
	for _, e := range slices.Backward(entries) {
		if _, ok := l.index[e.ID]; ok {
			continue
		}
		isFresh[e.ID] = true
		fresh = append(fresh, graphRow{ID: e.ID, CreatedAt: manifest.FormatTime(e.Manifest.CreatedAt), Parents: slices.Clone(e.Manifest.Parents)})
	}
	if len(fresh) != n {
		return false // another change, or new images older than the newest ones
	}
	for _, r := range fresh {
		children, err := s.Store.Children(ctx, r.ID)
		if err != nil {
			return false
		}
		for _, c := range children {
			if !isFresh[c] {
				return false
			}
		}
	}
	// Parents before their children: the oldest first, a new image
	// whose new parent is not laid yet waiting for it.
	for len(fresh) > 0 {
		rest := fresh[:0]
		for _, r := range fresh {
			if slices.ContainsFunc(r.Parents, func(p manifest.Digest) bool { _, laid := l.index[p]; return isFresh[p] && !laid }) {
				rest = append(rest, r)
				continue
			}
			l.extend(r)
		}
		if len(rest) == len(fresh) {
			return false // a cycle: no store holds one, but never loop
		}
		fresh = rest
	}
	return true
}

// extend lays row, an image none of l's images names as a parent, on top
// of l. Each of its parents' lines takes a lane free in every row between
// the two images, the first parent's own lane when it is free, the
// lowest otherwise; the rows between get the line as passing.
func (l *graphLayout) extend(row graphRow) {
	top := len(l.rows)
	row.Pass, row.Into, row.Out = []int{}, []int{}, []int{}
	for _, p := range row.Parents {
		j, ok := l.index[p]
		if !ok {
			continue // a parent this store lacks: no line to draw
		}
		used := make([]bool, l.width+len(row.Parents)+1)
		for _, c := range row.Out {
			used[c] = true
		}
		for _, c := range l.rows[j].Pass {
			used[c] = true
		}
		for _, c := range l.rows[j].Into {
			used[c] = true
		}
		for _, r := range l.rows[j+1:] {
			used[r.Lane] = true
			for _, lanes := range [][]int{r.Pass, r.Into, r.Out} {
				for _, c := range lanes {
					used[c] = true
				}
			}
		}
		lane := l.rows[j].Lane
		if len(row.Out) > 0 || used[lane] {
			lane = slices.Index(used, false)
		}
		for k := j + 1; k < top; k++ {
			l.rows[k].Pass = insertLane(l.rows[k].Pass, lane)
		}
		l.rows[j].Into = insertLane(l.rows[j].Into, lane)
		row.Out = append(row.Out, lane)
	}
	if len(row.Out) > 0 {
		row.Lane = row.Out[0]
	}
	l.width = max(l.width, row.Lane+1, slices.Max(append([]int{0}, row.Out...))+1)
	l.index[row.ID] = top
	l.rows = append(l.rows, row)
}

// insertLane adds lane c to lanes, kept in order.
func insertLane(lanes []int, c int) []int {
	i, _ := slices.BinarySearch(lanes, c)
	return slices.Insert(lanes, i, c)
}

// layoutGraph orders nodes (given newest first) so that every image comes
// before its parents, and gives each a lane.
func layoutGraph(nodes []graphRow) *graphLayout {
	index := make(map[manifest.Digest]int, len(nodes))
	for i, n := range nodes {
		index[n.ID] = i
	}
	// Kahn's algorithm, taking the newest ready image first: an image is
	// ready once all its children in the store are placed.
	children := make([]int32, len(nodes))
	for _, n := range nodes {
		for _, p := range n.Parents {
			if j, ok := index[p]; ok {
				children[j]++
			}
		}
	}
	ready := &intHeap{}
	for i := range nodes {
		if children[i] == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]int, 0, len(nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, i)
		for _, p := range nodes[i].Parents {
			if j, ok := index[p]; ok {
				if children[j]--; children[j] == 0 {
					heap.Push(ready, j)
				}
			}
		}
	}
	l := &graphLayout{rows: make([]graphRow, 0, len(nodes))}
	var lanes []manifest.Digest // the image each lane waits for; zero: free
	free := func() int {
		for i, d := range lanes {
			if d.IsZero() {
				return i
			}
		}
		lanes = append(lanes, manifest.Digest{})
		return len(lanes) - 1
	}
	for _, i := range order {
		row := nodes[i]
		row.Pass, row.Into, row.Out = []int{}, []int{}, []int{}
		lane := -1
		for c, d := range lanes {
			if d.IsZero() {
				continue
			}
			if d == row.ID {
				row.Into = append(row.Into, c)
				if lane < 0 {
					lane = c
				}
				lanes[c] = manifest.Digest{}
			} else {
				row.Pass = append(row.Pass, c)
			}
		}
		if lane < 0 {
			lane = free()
		}
		row.Lane = lane
		for k, p := range row.Parents {
			if _, inStore := index[p]; !inStore {
				continue // a parent this store lacks: no line to draw
			}
			waiting := -1
			for c, d := range lanes {
				if d == p {
					waiting = c
					break
				}
			}
			switch {
			case waiting >= 0:
				row.Out = append(row.Out, waiting)
			case k == 0 && lanes[lane].IsZero():
				lanes[lane] = p
				row.Out = append(row.Out, lane)
			default:
				c := free()
				lanes[c] = p
				row.Out = append(row.Out, c)
			}
		}
		for len(lanes) > 0 && lanes[len(lanes)-1].IsZero() {
			lanes = lanes[:len(lanes)-1]
		}
		l.width = max(l.width, lane+1, len(lanes))
		l.rows = append(l.rows, row)
	}
	slices.Reverse(l.rows)
	l.index = make(map[manifest.Digest]int, len(l.rows))
	for i, r := range l.rows {
		l.index[r.ID] = i
	}
	return l
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// maxGraphRows bounds a window of the graph.
const maxGraphRows = 2000

func (s *Server) handleGraph(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit := 0, 100
	for _, p := range []struct {
		name string
		dst  *int
		max  int
	}{{"offset", &offset, 1 << 40}, {"limit", &limit, maxGraphRows}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > p.max {
				apiError(w, http.StatusBadRequest, "%s %q: want 0 to %d", p.name, v, p.max)
				return
			}
			*p.dst = n
		}
	}
	ctx := r.Context()
	if ref := q.Get("find"); ref != "" {
		id, err := s.Store.ResolveImage(ctx, ref)
		if err != nil {
			storeError(w, err)
			return
		}
		var row int
		err = s.withGraph(ctx, func(l *graphLayout) error {
			i, ok := l.index[id]
			if !ok {
				return fmt.Errorf("image %s: %w", id, pf.ErrNotFound)
			}
			row = len(l.rows) - 1 - i
			return nil
		})
		if err != nil {
			storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "row": row})
		return
	}
	var (
		window       []graphRow
		start, total int
		width        int
	)
	err := s.withGraph(ctx, func(l *graphLayout) error {
		total, width = len(l.rows), l.width
		start = min(offset, total)
		end := min(start+limit, total)
		window = make([]graphRow, 0, end-start)
		for i := start; i < end; i++ {
			window = append(window, l.at(i).clone())
		}
		return nil
	})
	if err != nil {
		storeError(w, err)
		return
	}
	tags, err := tagsByImage(ctx, s.Store)
	if err != nil {
		storeError(w, err)
		return
	}
	heads, err := s.Store.Heads(ctx)
	if err != nil {
		storeError(w, err)
		return
	}
	headsOf := map[manifest.Digest][]headJSON{}
	for _, h := range heads {
		headsOf[h.ID] = append(headsOf[h.ID], newHeadJSON(h))
	}
	type rowJSON struct {
		graphRow
		Tags  []string   `json:"tags"`
		Heads []headJSON `json:"heads"`
	}
	rows := make([]rowJSON, 0, len(window))
	for _, row := range window {
		// The layout comes from the indexes; what made each image, from
		// its manifest, for the rows asked for only.
		if img, err := s.Store.Image(ctx, row.ID); err == nil {
			row.Agent = img.Manifest.Agent.String()
		}
		t, h := tags[row.ID], headsOf[row.ID]
		if t == nil {
			t = []string{}
		}
		if h == nil {
			h = []headJSON{}
		}
		if row.Parents == nil {
			row.Parents = []manifest.Digest{}
		}
		rows = append(rows, rowJSON{row, t, h})
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "width": width, "offset": start, "rows": rows})
}
