package main

import (
	"bytes"
	"errors"
	"io"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "write a blob's bytes, or an image's manifest, to standard output or a file",
		ArgsUsage: "DIGEST",
		Description: "DIGEST is a blob's digest, an image id or tag (for the manifest's exact bytes), or a\n" +
			"unique prefix of at least 6 hex digits. The bytes are checked against the digest as they\n" +
			"are read; on a mismatch pf exits 4, and with -o leaves FILE as it was.\n\n" +
			outputHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, TakesFile: true, Usage: "write to `FILE` instead of standard output (- is standard output)"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, 1); err != nil {
				return err
			}
			d, err := resolveBlob(c, s, c.Args().First())
			if err != nil {
				return err
			}
			r, err := openContent(c, s, d)
			if err != nil {
				return err
			}
			defer r.Close()
			out, err := createOutput(c, c.String("output"))
			if err != nil {
				return err
			}
			defer out.Close()
			if _, err := io.Copy(out, r); err != nil {
				return err
			}
			return out.Commit()
		}),
	}
}

// openContent reads the blob d, or the manifest of image d.
func openContent(c *cli.Context, s *pf.Store, d manifest.Digest) (io.ReadCloser, error) {
	r, err := s.Blobs().Open(c.Context, d)
	if !errors.Is(err, pf.ErrNotFound) {
		return r, err
	}
	img, err := s.Image(c.Context, d)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(img.Raw)), nil
}
