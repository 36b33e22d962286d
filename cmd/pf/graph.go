package main

import (
	"container/heap"
	"slices"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// topoOrder reorders a listing so that every image comes before its
// parents, as a graph must be drawn; otherwise it keeps the listing's
// order (newest first). The two differ only where clocks were skewed and
// a parent claims to be newer than its child.
func topoOrder(entries []pf.LogEntry) []pf.LogEntry {
	pos := make(map[manifest.Digest]int, len(entries))
	for i, e := range entries {
		pos[e.ID] = i
	}
	// waiting[i] counts the listed children of entry i not yet placed.
	waiting := make([]int, len(entries))
	for _, e := range entries {
		for _, p := range e.Manifest.Parents {
			if i, ok := pos[p]; ok {
				waiting[i]++
			}
		}
	}
	ready := &indexHeap{}
	for i := range entries {
		if waiting[i] == 0 {
			heap.Push(ready, i)
		}
	}
	out := make([]pf.LogEntry, 0, len(entries))
	for ready.Len() > 0 {
		e := entries[heap.Pop(ready).(int)]
		out = append(out, e)
		for _, p := range e.Manifest.Parents {
			if i, ok := pos[p]; ok {
				if waiting[i]--; waiting[i] == 0 {
					heap.Push(ready, i)
				}
			}
		}
	}
	return out
}

// indexHeap pops the smallest index first: the earliest in the listing.
type indexHeap []int

func (h indexHeap) Len() int           { return len(h) }
func (h indexHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h indexHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *indexHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *indexHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// graph draws the parent edges of a listing as git log --graph does: one
// column (lane) per line of descent that is waiting for an image further
// down, '*' for the image of a row, and '|', '/', '\' and '_' for edges.
// Feed it the images in topoOrder.
type graph struct {
	lanes  []manifest.Digest // the image each column leads to
	listed map[manifest.Digest]bool
}

func newGraph(entries []pf.LogEntry) *graph {
	g := &graph{listed: make(map[manifest.Digest]bool, len(entries))}
	for _, e := range entries {
		g.listed[e.ID] = true
	}
	return g
}

// add places image id and returns the row that shows it, then the rows of
// edges that lead from it to its parents and move the other lanes into
// place. Parents outside the listing get no edge.
func (g *graph) add(id manifest.Digest, parents []manifest.Digest) (row string, edges []string) {
	c := slices.Index(g.lanes, id)
	if c < 0 {
		g.lanes = append(g.lanes, id)
		c = len(g.lanes) - 1
	}
	row = g.row(len(g.lanes), func(i int) byte {
		if i == c {
			return '*'
		}
		return '|'
	})

	// Parents that already have a lane are joined to it; the others get
	// lanes where this image's lane was.
	var fresh []manifest.Digest
	var joins []int
	for _, p := range parents {
		if !g.listed[p] || slices.Contains(fresh, p) {
			continue
		}
		if i := slices.Index(g.lanes, p); i >= 0 {
			joins = append(joins, i)
		} else {
			fresh = append(fresh, p)
		}
	}
	n := len(g.lanes)
	if len(joins) > 0 {
		line := []byte(g.row(n, func(i int) byte {
			if i == c && len(fresh) == 0 {
				return ' '
			}
			return '|'
		}))
		for _, e := range joins {
			if e < c { // "|_|/": left, under the lanes between
				line[2*c-1] = '/'
				for k := 2*e + 1; k < 2*c-1; k += 2 {
					line[k] = '_'
				}
			} else { // "|\|_|": right
				line[2*c+1] = '\\'
				for k := 2*c + 3; k < 2*e; k += 2 {
					line[k] = '_'
				}
			}
		}
		edges = append(edges, strings.TrimRight(string(line), " "))
	}
	switch len(fresh) {
	case 0: // the lane ends here: lanes to its right move left
		if c < n-1 {
			edges = append(edges, g.shift(n, c, '/'))
		}
		g.lanes = slices.Delete(g.lanes, c, c+1)
	case 1:
		g.lanes[c] = fresh[0]
	default: // a merge opens a lane: lanes to its right move right
		edges = append(edges, g.shift(n, c, '\\'))
		g.lanes[c] = fresh[0]
		g.lanes = slices.Insert(g.lanes, c+1, fresh[1:]...)
	}
	return row, edges
}

// row draws n lanes, lane i as mark(i), one space apart.
func (g *graph) row(n int, mark func(i int) byte) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, mark(i))
	}
	return string(b)
}

// shift draws the row in which the lanes right of c move one column: left
// ('/') when lane c has ended, right ('\') when a new lane opens beside c,
// drawn as c's second edge.
func (g *graph) shift(n, c int, dir byte) string {
	b := []byte(strings.Repeat(" ", 2*n+1))
	for i := range n {
		switch {
		case i < c:
			b[2*i] = '|'
		case i == c && dir == '\\':
			b[2*i], b[2*i+1] = '|', '\\'
		case i > c && dir == '/':
			b[2*i-1] = '/'
		case i > c:
			b[2*i+1] = '\\'
		}
	}
	return strings.TrimRight(string(b), " ")
}
