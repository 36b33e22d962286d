package main

import (
	"fmt"
	"os"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

func putCommand() *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "store a blob and print its digest",
		ArgsUsage: "[FILE|-]",
		Description: "Stores the bytes of FILE, or of standard input when FILE is - or missing, as one blob,\n" +
			"streamed (any size), and prints its digest. A blob the store holds is not stored again.\n\n" +
			"pf gc deletes blobs that no image reaches: --pin keeps this one (see pf pins).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "pin", Usage: "pin the blob, so that pf gc keeps it though no image reaches it"},
		},
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 1); err != nil {
				return err
			}
			inv := invocationOf(c)
			r := inv.Stdin
			if name := c.Args().First(); name != "" && name != "-" {
				f, err := os.Open(inv.path(name))
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			put := s.Blobs().Put
			if c.Bool("pin") {
				put = s.PutPinned
			}
			d, err := put(c.Context, r)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(c.App.Writer, d)
			return err
		}),
	}
}
