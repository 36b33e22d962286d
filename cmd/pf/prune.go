package main

import (
	"fmt"
	"time"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

func pruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "remove the images outside a retention policy (then pf gc reclaims their blobs)",
		Description: "Keeps the --keep-last newest images, those created within --keep-within, every\n" +
			"tagged image, and every ancestor of a kept image, so lineage stays whole.\n" +
			"--keep-within takes " + durationForms + ".\n" +
			"With -n it only reads: it runs beside other readers (pf verify) and on a store file\n" +
			"it may not write.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "keep-last", Usage: "keep the `N` newest images"},
			&cli.StringFlag{Name: "keep-within", Usage: "keep images created within `DURATION` of now"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "list what would be removed; remove nothing"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per removed image, then the summary"},
		},
		Action: withStoreAs(writesUnlessDryRun, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			opts := pf.PruneOptions{KeepLast: c.Int("keep-last"), DryRun: c.Bool("dry-run")}
			if opts.KeepLast < 0 {
				return usagef("--keep-last %d: want a number of images, 0 or more", opts.KeepLast)
			}
			if w := c.String("keep-within"); w != "" {
				d, err := parseDuration(w, false)
				if err != nil {
					return usagef("--keep-within: %v", err)
				}
				if d <= 0 {
					return usagef("--keep-within %q: want a span longer than 0, such as 90m, 36h, 7d or 2w", w)
				}
				opts.KeepWithin = d
			}
			if opts.KeepLast == 0 && opts.KeepWithin == 0 {
				return usagef("prune needs --keep-last or --keep-within")
			}
			start := time.Now()
			rep, err := s.Prune(c.Context, opts)
			if err != nil {
				return err
			}
			out := c.App.Writer
			verb := "removed"
			if opts.DryRun {
				verb = "would remove"
			}
			for _, id := range rep.Removed {
				if c.Bool("json") {
					err = writeJSON(out, map[string]string{"removed": id.String()})
				} else {
					_, err = fmt.Fprintf(out, "%s %s\n", verb, id)
				}
				if err != nil {
					return err
				}
			}
			if c.Bool("json") {
				return writeJSON(out, map[string]any{"dry_run": opts.DryRun, "removed": len(rep.Removed), "kept": rep.Kept})
			}
			_, err = fmt.Fprintf(out, "%s %s, kept %s (%v)\n", verb, plural(len(rep.Removed), "image", "images"),
				plural(rep.Kept, "image", "images"), time.Since(start).Round(time.Millisecond))
			return err
		}),
	}
}
