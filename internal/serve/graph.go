package serve

import (
	"container/heap"
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// The history graph of the web UI: every image a row, children above
// their parents, newest first otherwise; each image on a lane, with the
// lines that pass its row and join it to its parents, as git log --graph
// draws them. The server lays out the whole history once per change of
// the store and serves it a window of rows at a time, so that a browser
// draws only the rows in view of a history of any length.

// graphRow is one row of the layout.
type graphRow struct {
	ID        manifest.Digest   `json:"id"`
	CreatedAt string            `json:"created_at"`
	Agent     string            `json:"agent"`
	Parents   []manifest.Digest `json:"parents"`
	Lane      int               `json:"lane"`
	// Pass are the lanes whose lines cross the row, top to bottom; Into
	// the lanes whose lines end at this image (its children's); Out the
	// lanes that leave it for its parents.
	Pass []int `json:"pass"`
	Into []int `json:"into"`
	Out  []int `json:"out"`
}

type graphLayout struct {
	images int64
	newest manifest.Digest
	rows   []graphRow
	width  int
	index  map[manifest.Digest]int
}

// graphCache keeps the layout until the store changes.
type graphCache struct {
	mu     sync.Mutex
	layout *graphLayout
}

func (s *Server) graph(ctx context.Context) (*graphLayout, error) {
	stats, err := s.Store.Stats(ctx)
	if err != nil {
		return nil, err
	}
	top, _, err := s.Store.Log(ctx, pf.LogQuery{Limit: 1})
	if err != nil {
		return nil, err
	}
	var newest manifest.Digest
	if len(top) > 0 {
		newest = top[0].ID
	}
	s.graphs.mu.Lock()
	defer s.graphs.mu.Unlock()
	if l := s.graphs.layout; l != nil && l.images == stats.Images && l.newest == newest {
		return l, nil
	}
	all, err := s.Store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	nodes := make([]graphRow, len(all))
	for i, n := range all {
		nodes[i] = graphRow{ID: n.ID, CreatedAt: manifest.FormatTime(n.CreatedAt), Parents: n.Parents}
	}
	l := layoutGraph(nodes)
	l.images, l.newest = stats.Images, newest
	s.graphs.layout = l
	return l, nil
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
	l := &graphLayout{rows: make([]graphRow, 0, len(nodes)), index: make(map[manifest.Digest]int, len(nodes))}
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
		l.index[row.ID] = len(l.rows)
		l.rows = append(l.rows, row)
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
	l, err := s.graph(ctx)
	if err != nil {
		storeError(w, err)
		return
	}
	if ref := q.Get("find"); ref != "" {
		id, err := s.Store.ResolveImage(ctx, ref)
		if err != nil {
			storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "row": l.index[id]})
		return
	}
	start := min(offset, len(l.rows))
	end := min(start+limit, len(l.rows))
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
	rows := make([]rowJSON, 0, end-start)
	for _, row := range l.rows[start:end] {
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
	writeJSON(w, http.StatusOK, map[string]any{"total": len(l.rows), "width": l.width, "offset": start, "rows": rows})
}
