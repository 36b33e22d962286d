package main

import (
	"fmt"
	"os"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

func compactCommand() *cli.Command {
	return &cli.Command{
		Name:  "compact",
		Usage: "recompress the stored values and rewrite the store file without free pages (run pf gc first)",
		Description: "Writes the stored values again at zstd's strongest level, or against a zstd\n" +
			"dictionary trained once on the store's own small values, where that makes them\n" +
			"smaller (snapshots write at the fastest), then copies what the store holds into a\n" +
			"new file beside it, syncs it and renames it over the store. It refuses while\n" +
			"another process has the store open (exit 5) and leaves the store as it was if\n" +
			"anything fails, a full disk included.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "the sizes as JSON"},
		},
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			path, err := storePath(c)
			if err != nil {
				return err
			}
			if servedStore(c, path) != nil {
				return fmt.Errorf("%s is served by pf serve (pid %d), which keeps it open: stop it (it stops cleanly on SIGTERM), then compact: %w", path, os.Getpid(), pf.ErrBusy)
			}
			before, after, err := pf.Compact(c.Context, path, openOptions(c))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, map[string]any{"path": path, "before": before, "after": after})
			}
			_, err = fmt.Fprintf(c.App.Writer, "compacted %s: %s -> %s\n", path, humanBytes(before), humanBytes(after))
			return err
		},
	}
}
