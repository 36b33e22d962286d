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
func topoOrder(entries []pf.Summary) []pf.Summary {
	pos := make(map[manifest.Digest]int, len(entries))
	for i, e := range entries {
		pos[e.ID] = i
	}
	// waiting[i] counts the listed children of entry i not yet placed.
	waiting := make([]int, len(entries))
	for _, e := range entries {
		for _, p := range e.Parents {
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
	out := make([]pf.Summary, 0, len(entries))
	for ready.Len() > 0 {
		e := entries[heap.Pop(ready).(int)]
		out = append(out, e)
		for _, p := range e.Parents {
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
// down, '*' for the image of a row, and '|', '/' and '\' for edges.
// Feed it the images in topoOrder.
//
// The lanes follow git's rules (graph.c), which users know: an image's
// parents take its column, the first parent in it and the others to its
// right; a parent that already has a lane to the left is joined to it, and
// a lane to the right that waits for a parent placed here collapses into
// it: edges to the left move a column a row ('/'), after the edges to the
// right ('\') have moved.
// The lanes are a function of the images drawn so far and of which images
// are in the whole listing, so a listing cut short (pf log -n) draws its
// images' rows exactly as the whole listing does.
type graph struct {
	lanes  []manifest.Digest // the image each column leads to, each once
	listed map[manifest.Digest]bool
}

func newGraph(entries []pf.Summary) *graph {
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
	n := len(g.lanes)
	row = g.row(n, func(i int) byte {
		if i == c {
			return '*'
		}
		return '|'
	})

	// The new lanes, as git builds them: those left of c as they are;
	// at c the parents that have no lane to the left; then the lanes
	// right of c, each collapsing into a parent placed at c if it waits
	// for one. target[i] is where lane i right of c goes.
	next := slices.Clone(g.lanes[:c])
	var placed []int    // the new columns of c's parents placed at c
	var leftJoins []int // the columns left of c that c's parents join
	for _, p := range parents {
		if !g.listed[p] {
			continue
		}
		switch j := slices.Index(next, p); {
		case j >= 0 && j < c:
			if !slices.Contains(leftJoins, j) {
				leftJoins = append(leftJoins, j)
			}
		case j < 0:
			next = append(next, p)
			placed = append(placed, len(next)-1)
		}
	}
	target := make([]int, n)
	for i := c + 1; i < n; i++ {
		j := slices.Index(next, g.lanes[i])
		if j < 0 {
			next = append(next, g.lanes[i])
			j = len(next) - 1
		}
		target[i] = j
	}

	// Strands: one for each old lane but c, and one for each parent of
	// c, all starting where their lane is now. A merge that places k
	// parents first pushes every lane right of it k-1 columns right (mid),
	// as git does; then joins and collapses move left to their lanes (to).
	type strand struct{ at, mid, to int }
	push := max(len(placed)-1, 0)
	var strands []strand
	for i := range n {
		switch {
		case i == c:
			for _, j := range placed {
				strands = append(strands, strand{c, j, j})
			}
			for _, j := range leftJoins {
				strands = append(strands, strand{c, c, j})
			}
		case i > c:
			strands = append(strands, strand{i, i + push, target[i]})
		default:
			strands = append(strands, strand{i, i, i})
		}
	}

	// A row per column moved, every strand a column a row: first to the
	// right, then to the left.
	width := 2*max(n+push, len(next)) + 1
	for _, right := range []bool{true, false} {
		for {
			line := []byte(strings.Repeat(" ", width))
			moved := false
			for k := range strands {
				s := &strands[k]
				switch {
				case right && s.at < s.mid:
					line[2*s.at+1] = '\\'
					s.at++
					moved = true
				case !right && s.at > s.to:
					line[2*s.at-1] = '/'
					s.at--
					moved = true
				default:
					line[2*s.at] = '|'
				}
			}
			if !moved {
				break
			}
			edges = append(edges, strings.TrimRight(string(line), " "))
		}
	}
	g.lanes = next
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
