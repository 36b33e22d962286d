package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/fixture"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "snapshot the synthetic fixture as a root and a few forks, and show what the store holds",
		Description: "Creates the store if needed, snapshots the fixture and forks of it, then shows the\n" +
			"store's figures (named and defined as in pf stats --help) and what it made as pf log\n" +
			"--graph draws it.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "forks", Value: 3, Usage: "how many forks of the root to snapshot"},
			&cli.Uint64Flag{Name: "seed", Usage: "the fixture's seed"},
		},
		Action: func(c *cli.Context) error {
			path, err := storePath(c)
			if err != nil {
				return err
			}
			s := servedStore(c, path)
			if s == nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				if s, err = pf.OpenContext(c.Context, path, openOptions(c)); err != nil {
					return err
				}
			}
			defer s.Close()
			out := c.App.Writer
			fmt.Fprintf(out, "store  %s\n", path)

			began := time.Now()
			start := time.Now()
			root, err := s.Snapshot(c.Context, fixture.New(fixture.Options{Seed: c.Uint64("seed")}).Snapshot())
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "root   %s  (%v)\n", root, time.Since(start).Round(time.Microsecond))
			for k := 1; k <= c.Int("forks"); k++ {
				start := time.Now()
				fx := fixture.New(fixture.Options{Seed: c.Uint64("seed"), Fork: k, Differ: 1.0 / 8})
				id, err := s.Snapshot(c.Context, fx.Snapshot(root))
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "fork %d %s  (%v, 1 page and file in 8 differ)\n", k, id, time.Since(start).Round(time.Microsecond))
			}
			st, err := s.Stats(c.Context)
			if err != nil {
				return err
			}
			// The figures as pf stats names them (see its --help).
			fmt.Fprintln(out)
			if err := writeTable(out, append([][]string{{"images", fmt.Sprint(st.Images)}}, figureRows(st)...)); err != nil {
				return err
			}

			// What this demo made: in a store with a long history, the
			// whole graph would bury it.
			since := manifest.FormatTime(began)
			fmt.Fprintf(out, "\n$ pf log --graph --since %s\n", since)
			return writeLog(c.Context, out, s, logOptions{graph: true, query: pf.LogQuery{Since: began}, loc: invocationOf(c).Location})
		},
	}
}
