package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"

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
			"are read; on a mismatch pf exits 4, and with -o leaves no file behind.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, TakesFile: true, Usage: "write to `FILE` instead of standard output"},
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
			if out := invocationOf(c).path(c.String("output")); out != "" && c.String("output") != "-" {
				return writeFileAtomic(out, r)
			}
			_, err = io.Copy(c.App.Writer, r)
			return err
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

// writeFileAtomic writes what r yields to a temporary file beside path and
// renames it into place only when r has been read to its end without
// error, so a failed or corrupt read leaves no partial file.
func writeFileAtomic(path string, r io.Reader) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
