package main

import (
	"fmt"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func tagCommand() *cli.Command {
	return &cli.Command{
		Name:      "tag",
		Usage:     "name an image (or move the name), or delete a name with -d",
		ArgsUsage: "NAME IMAGE | -d NAME",
		Description: "A tag works wherever an image is taken (pf log main) and keeps its image from garbage\n" +
			"collection. Names follow git's rules for refs: no spaces, control characters or ~^:?*[\\,\n" +
			"no .., not starting with - or ., at most 200 bytes, and not 6 or more hex digits (which read\n" +
			"as an image id prefix). An older store's tag so named fails as ambiguous where an id starts with it.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "delete", Aliases: []string{"d"}, Usage: "delete the tag NAME"},
		},
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			out := c.App.Writer
			if c.Bool("delete") {
				if err := wantArgs(c, 1, 1); err != nil {
					return usagef("usage: pf tag -d NAME")
				}
				id, err := s.Untag(c.Context, c.Args().First())
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "deleted tag %s (was %s)\n", c.Args().First(), id.Short())
				return err
			}
			if err := wantArgs(c, 2, 2); err != nil {
				return err
			}
			name := c.Args().Get(0)
			if err := pf.ValidateTagName(name); err != nil {
				return usageError{err}
			}
			id, err := resolveImage(c, s, c.Args().Get(1))
			if err != nil {
				return err
			}
			prev, err := s.Tag(c.Context, name, id)
			if err != nil {
				return argError(err)
			}
			switch prev {
			case manifest.Digest{}:
				_, err = fmt.Fprintf(out, "tagged %s as %s\n", id.Short(), name)
			case id:
				_, err = fmt.Fprintf(out, "%s is %s already\n", name, id.Short())
			default:
				_, err = fmt.Fprintf(out, "moved %s from %s to %s\n", name, prev.Short(), id.Short())
			}
			return err
		}),
	}
}

func tagsCommand() *cli.Command {
	return &cli.Command{
		Name:  "tags",
		Usage: "list the tags, by name",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: `write one {"name", "id"} object per tag and line`},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			tags, err := s.Tags(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				for _, t := range tags {
					if err := writeJSON(c.App.Writer, struct {
						Name string          `json:"name"`
						ID   manifest.Digest `json:"id"`
					}{t.Name, t.ID}); err != nil {
						return err
					}
				}
				return nil
			}
			rows := make([][]string, len(tags))
			for i, t := range tags {
				img, err := s.Image(c.Context, t.ID)
				if err != nil {
					return err
				}
				m := img.Manifest
				rows[i] = []string{t.Name, t.ID.Short(), localTime(m.CreatedAt, invocationOf(c).Location), m.Agent.String()}
			}
			return writeTable(c.App.Writer, rows)
		}),
	}
}
