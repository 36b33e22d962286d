package main

import (
	"fmt"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "delete the blobs and chunks that no image reaches",
		Description: "Marks from every image (tags name images, and pf prune removes images) and from\n" +
			"the pinned blobs (pf put --pin, pf pin), then\n" +
			"deletes the rest in small transactions, then rewrites the packs of small\n" +
			"blobs that deletions left less than half live. If a manifest or tree on the\n" +
			"way cannot be read it deletes nothing and says why (exit 4). With -n it only reads:\n" +
			"it runs beside other readers (pf verify) and on a store file it may not write.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "say what would be deleted; delete nothing"},
			&cli.BoolFlag{Name: "json", Usage: "the report as JSON"},
		},
		Action: withStoreAs(writesUnlessDryRun, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			dry := c.Bool("dry-run")
			rep, err := s.GC(c.Context, pf.GCOptions{DryRun: dry})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, map[string]any{"dry_run": dry, "images": rep.Images, "pinned": rep.Pinned,
					"blobs": rep.Blobs, "chunks": rep.Chunks, "bytes": rep.Bytes,
					"repacked": rep.Repacked, "repacked_bytes": rep.RepackedBytes})
			}
			verb := "removed"
			if dry {
				verb = "would remove"
			}
			kept := plural(rep.Images, "image", "images") + " kept whole"
			if rep.Pinned > 0 {
				kept += ", " + plural(rep.Pinned, "pinned blob", "pinned blobs") + " kept"
			}
			_, err = fmt.Fprintf(c.App.Writer, "%s %s and %s, %s stored; %s\n", verb,
				plural(rep.Blobs, "blob", "blobs"), plural(rep.Chunks, "chunk", "chunks"), humanBytes(rep.Bytes), kept)
			if err == nil && rep.Repacked > 0 {
				_, err = fmt.Fprintf(c.App.Writer, "rewrote %s that deletions left mostly empty, freeing %s\n",
					plural(rep.Repacked, "pack", "packs"), humanBytes(rep.RepackedBytes))
			}
			return err
		}),
	}
}
