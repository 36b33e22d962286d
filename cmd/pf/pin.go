package main

import (
	"fmt"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

// pinsHelp says what a pin is, for the help of the commands that make,
// list and remove them.
const pinsHelp = "A pinned blob is kept by pf gc though no image reaches it: pin the blobs you store by\n" +
	"hand (pf put --pin) and mean to fetch later. pf gc deletes every blob that neither an\n" +
	"image nor a pin reaches."

func pinCommand() *cli.Command {
	return &cli.Command{
		Name:        "pin",
		Usage:       "keep blobs from pf gc though no image reaches them",
		ArgsUsage:   "BLOB...",
		Description: "BLOB is a digest or a unique prefix of one. " + pinsHelp,
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, -1); err != nil {
				return err
			}
			return eachBlob(c, s, func(d manifest.Digest) error {
				if err := s.Pin(c.Context, d); err != nil {
					return err
				}
				_, err := fmt.Fprintf(c.App.Writer, "pinned %s\n", d)
				return err
			})
		}),
	}
}

func unpinCommand() *cli.Command {
	return &cli.Command{
		Name:        "unpin",
		Usage:       "remove pins: the blobs go at the next pf gc unless an image reaches them",
		ArgsUsage:   "BLOB...",
		Description: "BLOB is a digest or a unique prefix of one. " + pinsHelp,
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, -1); err != nil {
				return err
			}
			return eachBlob(c, s, func(d manifest.Digest) error {
				if err := s.Unpin(c.Context, d); err != nil {
					return err
				}
				_, err := fmt.Fprintf(c.App.Writer, "unpinned %s\n", d)
				return err
			})
		}),
	}
}

// eachBlob resolves every argument first, so that a bad one changes
// nothing, then calls fn with each.
func eachBlob(c *cli.Context, s *pf.Store, fn func(manifest.Digest) error) error {
	var ds []manifest.Digest
	for _, ref := range c.Args().Slice() {
		d, err := resolveBlob(c, s, ref)
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

func pinsCommand() *cli.Command {
	return &cli.Command{
		Name:        "pins",
		Usage:       "list the pinned blobs: digest, size, when pinned",
		Description: pinsHelp,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per pin"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			pins, err := s.Pins(c.Context)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, p := range pins {
				size := int64(-1)
				if info, err := s.Blobs().Stat(c.Context, p.Blob); err == nil {
					size = info.Size
				}
				if c.Bool("json") {
					if err := writeJSON(c.App.Writer, pinJSON{p.Blob, size, p.PinnedAt.UTC().Format(time.RFC3339Nano)}); err != nil {
						return err
					}
					continue
				}
				shown := "missing"
				if size >= 0 {
					shown = humanBytes(size)
				}
				rows = append(rows, []string{p.Blob.String(), shown, localTime(p.PinnedAt, invocationOf(c).Location)})
			}
			return writeTable(c.App.Writer, rows)
		}),
	}
}

// pinJSON is one line of pf pins --json; size is -1 for a pinned blob
// the store no longer holds (pf verify reports it).
type pinJSON struct {
	Blob     manifest.Digest `json:"blob"`
	Size     int64           `json:"size"`
	PinnedAt string          `json:"pinned_at"`
}
