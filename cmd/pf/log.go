package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func logCommand() *cli.Command {
	return &cli.Command{
		Name:      "log",
		Usage:     "list images, newest first: every image, or IMAGEs and their ancestors",
		ArgsUsage: "[IMAGE...]",
		Description: "Without IMAGE, lists every image created inside the window. With IMAGEs (tags, ids or\n" +
			"id prefixes), lists them and all their ancestors, each once, by creation time; the window\n" +
			"only filters what is shown, so an image inside it is listed even if its parent is not.\n\n" +
			"Each line: short id, created (local time), agent kind@version, parents, fingerprint, tags.\n\n" +
			"--graph draws the edges between the images listed as git log --graph does (git's lane\n" +
			"rules); with -n it shows the first N images of the whole listing's graph, drawn as there.\n\n" +
			"T is " + timeHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "since", Usage: "only images created at or after `T`"},
			&cli.StringFlag{Name: "until", Usage: "only images created before `T`"},
			&cli.IntFlag{Name: "max-count", Aliases: []string{"n"}, Usage: "list at most `N` images", DefaultText: "all"},
			&cli.BoolFlag{Name: "reverse", Usage: "oldest first"},
			&cli.BoolFlag{Name: "graph", Usage: "draw the parent edges, as git log --graph"},
			&cli.BoolFlag{Name: "json", Usage: "write one JSON object per image and line"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			o, err := logFlags(c)
			if err != nil {
				return err
			}
			for _, ref := range c.Args().Slice() {
				id, err := resolveImage(c, s, ref)
				if err != nil {
					return err
				}
				o.from = append(o.from, id)
			}
			return writeLog(c.Context, c.App.Writer, s, o)
		}),
	}
}

// logOptions is what pf log lists and how.
type logOptions struct {
	query pf.LogQuery       // window, order, limit
	from  []manifest.Digest // the images whose ancestry is listed; none: every image
	none  bool              // -n 0: list nothing
	graph bool
	json  bool
	loc   *time.Location // the zone times are shown in
}

func logFlags(c *cli.Context) (logOptions, error) {
	inv := invocationOf(c)
	o := logOptions{graph: c.Bool("graph"), json: c.Bool("json"), loc: inv.Location}
	o.query.Reverse = c.Bool("reverse")
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &o.query.Since}, {"until", &o.query.Until}} {
		if !c.IsSet(f.name) {
			continue
		}
		t, err := parseWhen(c.String(f.name), time.Now(), inv.Location)
		if err != nil {
			return o, usagef("--%s: %v", f.name, err)
		}
		*f.dst = t
	}
	switch n := c.Int("max-count"); {
	case n < 0:
		return o, usagef("--max-count: %d is negative", n)
	case n == 0 && c.IsSet("max-count"):
		o.none = true
	default:
		o.query.Limit = n
	}
	if o.graph && o.json {
		return o, usagef("--graph and --json do not go together: the graph is drawn for people")
	}
	if o.graph && o.query.Reverse {
		return o, usagef("--graph and --reverse do not go together: a graph is drawn children first")
	}
	return o, nil
}

// logPage is how many images pf log reads at a time when it streams a
// listing: it holds one page, not the whole history, in memory.
const logPage = 1000

// writeLog writes the listing o selects.
func writeLog(ctx context.Context, w io.Writer, s *pf.Store, o logOptions) error {
	if o.none {
		return nil
	}
	tags, err := tagsByImage(ctx, s)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	// The table and the graph show no more of an image than its summary,
	// which the store lists without reading manifests; --json writes
	// created_at as the manifest spells it, so it lists whole images.
	summaries := func(e pf.LogEntry) pf.Summary { return e.Summary() }
	switch {
	case o.graph:
		// The whole listing, so that the lines drawn for the images
		// shown are the whole graph's (see writeGraph).
		whole := o
		whole.query.Limit = 0
		var all []pf.Summary
		err = eachPage(ctx, s, whole, s.Summaries, summaries, func(page []pf.Summary) error {
			all = append(all, page...)
			return nil
		})
		if err == nil {
			err = writeGraph(bw, all, o.query.Limit, tags, o.loc)
		}
	case o.json:
		err = eachPage(ctx, s, o, s.Log, func(e pf.LogEntry) pf.LogEntry { return e }, func(page []pf.LogEntry) error {
			for _, e := range page {
				if err := writeJSON(bw, logLine(e, tags)); err != nil {
					return err
				}
			}
			return nil
		})
	default:
		err = eachPage(ctx, s, o, s.Summaries, summaries, func(page []pf.Summary) error {
			rows := make([][]string, len(page))
			for i, e := range page {
				rows[i] = logRow(e, tags, o.loc)
			}
			return writeTable(bw, rows)
		})
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// eachPage calls fn with the listing o selects, a page at a time, each
// page listed by list (Store.Log or Store.Summaries); an ancestry's images
// are turned into what fn takes by of.
func eachPage[T any](ctx context.Context, s *pf.Store, o logOptions, list func(context.Context, pf.LogQuery) ([]T, string, error),
	of func(pf.LogEntry) T, fn func([]T) error) error {
	q := o.query
	if len(o.from) > 0 {
		// An ancestry is sorted whole before it is cut, so it comes in one piece.
		entries, _, err := s.Ancestry(ctx, o.from, q)
		if err != nil {
			return err
		}
		for len(entries) > 0 {
			n := min(len(entries), logPage)
			page := make([]T, n)
			for i, e := range entries[:n] {
				page[i] = of(e)
			}
			if err := fn(page); err != nil {
				return err
			}
			entries = entries[n:]
		}
		return nil
	}
	left := o.query.Limit
	for {
		q.Limit = logPage
		if left > 0 {
			q.Limit = min(left, logPage)
		}
		page, next, err := list(ctx, q)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		left -= len(page)
		if next == "" || o.query.Limit > 0 && left <= 0 {
			return nil
		}
		q.Cursor = next
	}
}

// logJSON is one line of pf log --json.
type logJSON struct {
	ID        manifest.Digest   `json:"id"`
	CreatedAt string            `json:"created_at"`
	Agent     agentJSON         `json:"agent"`
	Parents   []manifest.Digest `json:"parents"`
	Tags      []string          `json:"tags,omitempty"`
}

func logLine(e pf.LogEntry, tags map[manifest.Digest][]string) logJSON {
	return logJSON{
		ID:        e.ID,
		CreatedAt: rawCreatedAt(&e.Image),
		Agent:     agentOf(e.Manifest),
		Parents:   parentsOf(e.Manifest),
		Tags:      tags[e.ID],
	}
}

// logRow is the cells of one image's line: short id, created, agent,
// parents (how many, and which), fingerprint, tags.
func logRow(e pf.Summary, tags map[manifest.Digest][]string, loc *time.Location) []string {
	parents := make([]string, len(e.Parents))
	for i, p := range e.Parents {
		parents[i] = p.Short()
	}
	decoration := ""
	if t := tags[e.ID]; len(t) > 0 {
		decoration = "(" + strings.Join(t, ", ") + ")"
	}
	return []string{
		e.ID.Short(),
		localTime(e.CreatedAt, loc),
		e.Agent.String(),
		plural(len(e.Parents), "parent", "parents"),
		strings.Join(parents, " "),
		e.Agent.Fingerprint,
		decoration,
	}
}

// writeGraph writes the first limit images (all when limit is 0) of the
// listing in topoOrder, each line behind the graph of its parent edges.
// The graph is the whole listing's, cut: -n shows fewer images, never
// other lines.
func writeGraph(w io.Writer, entries []pf.Summary, limit int, tags map[manifest.Digest][]string, loc *time.Location) error {
	return writeTable(w, graphRows(entries, limit, func(e pf.Summary) []string { return logRow(e, tags, loc) }))
}

// graphRows draws the graph of the listing and returns its rows: an
// image's graph cell then its cells, or an edge row alone.
func graphRows(entries []pf.Summary, limit int, cells func(pf.Summary) []string) [][]string {
	entries = topoOrder(entries)
	g := newGraph(entries)
	var rows [][]string
	for i, e := range entries {
		if limit > 0 && i == limit {
			break
		}
		row, edges := g.add(e.ID, e.Parents)
		rows = append(rows, append([]string{row}, cells(e)...))
		for _, edge := range edges {
			rows = append(rows, []string{edge})
		}
	}
	return rows
}
