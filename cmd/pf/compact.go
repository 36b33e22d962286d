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
		Usage: "rewrite the store file to drop the space freed pages take (run pf gc first)",
		Description: "Copies what the store holds into a new file beside it, syncs it and renames it\n" +
			"over the store. It refuses while another process has the store open (exit 5)\n" +
			"and leaves the store as it was if anything fails, a full disk included.",
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
