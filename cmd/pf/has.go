package main

import (
	"fmt"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

func hasCommand() *cli.Command {
	return &cli.Command{
		Name:      "has",
		Usage:     "exit 0 if the store holds a blob or image, 1 if not",
		ArgsUsage: "DIGEST",
		Description: "DIGEST is a digest, an image id or tag, or a unique prefix of at least 6 hex digits.\n" +
			"When it is found its full digest is printed; when not, pf says so on standard error and exits 1.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing; only the exit status tells"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, 1); err != nil {
				return err
			}
			d, err := resolveBlob(c, s, c.Args().First())
			if err != nil {
				if c.Bool("quiet") {
					return quietError{err}
				}
				return err
			}
			if !c.Bool("quiet") {
				fmt.Fprintln(c.App.Writer, d)
			}
			return nil
		}),
	}
}
