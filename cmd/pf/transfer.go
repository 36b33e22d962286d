package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/ocilayout"
	"github.com/processfork/pf/internal/transfer/ociregistry"
	"github.com/processfork/pf/internal/transfer/refdir"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write images, with their ancestors and every blob they reach, to a bundle, an OCI image layout or a reference store",
		ArgsUsage: "IMAGE... (-o FILE.pf | --oci-layout DIR|FILE.tar|- | --reference-dir DIR)",
		Description: "-o FILE.pf writes a bundle: a pf store holding the images, all their ancestors and every\n" +
			"blob they reach (with --tags, the tags naming them); pf import FILE.pf on another machine\n" +
			"takes them in. FILE must not exist, or be a bundle written before: what it holds is not\n" +
			"written again.\n\n" +
			"--oci-layout DIR writes an OCI image layout (oci-layout, index.json, blobs/sha256/...)\n" +
			"holding each image in the reference's OCI form, named in index.json by each of its tags\n" +
			"(with --tags); oras or skopeo copy it to any registry. DIR must not exist, be empty, or\n" +
			"be a layout (its images stay). FILE.tar (a name ending in .tar) or - writes the layout\n" +
			"as a tar, to the file or to standard output.\n\n" +
			"--reference-dir DIR writes the reference implementation's directory store (pf-core 1.x:\n" +
			"blobs/sha256/<aa>/<hex>.zst and images/<hex>.json), which its pf log and pf checkout\n" +
			"read. DIR must not exist, be empty, or be such a store.\n\n" +
			"IMAGE is a tag, an id or a unique id prefix; --all exports every image. Blobs are read\n" +
			"from the store verified; an image that cannot be read whole fails (exit 4) and the\n" +
			"others are written.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, TakesFile: true, Usage: "write a bundle, the pf store `FILE`"},
			&cli.StringFlag{Name: "oci-layout", TakesFile: true, Usage: "write an OCI image layout: a directory, or a tar (`DIR|FILE.tar|-`)"},
			&cli.StringFlag{Name: "reference-dir", TakesFile: true, Usage: "write the reference's directory store `DIR`"},
			&cli.BoolFlag{Name: "tags", Usage: "give the images exported the tags that name them here"},
			&cli.BoolFlag{Name: "all", Usage: "export every image of the store"},
			&cli.BoolFlag{Name: "json", Usage: "write the report as one JSON object (see docs/json.md)"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			defer boundMemory(c)()
			ids, err := exportedImages(c, s)
			if err != nil {
				return err
			}
			inv := invocationOf(c)
			out, dir, layout := inv.path(c.String("output")), inv.path(c.String("reference-dir")), c.String("oci-layout")
			obs := newTransferProgress(c, "export")
			defer clearProgress(obs)
			var rep *transfer.Report
			n := 0
			for _, dest := range []string{out, dir, layout} {
				if dest != "" {
					n++
				}
			}
			if n != 1 {
				return usagef("export needs one of -o FILE.pf, --oci-layout DIR|FILE.tar|- and --reference-dir DIR")
			}
			opts := transfer.ExportOptions{Ancestors: true, Tags: c.Bool("tags"), Observer: obs}
			switch {
			case layout != "":
				return exportLayout(c, s, ids, layout, opts)
			case out != "":
				if err := checkBundlePath(out); err != nil {
					return err
				}
				dst, err := pf.OpenContext(c.Context, out, openOptions(c))
				if err != nil {
					return fmt.Errorf("bundle %s: %w", out, err)
				}
				rep, err = transfer.ExportBundle(c.Context, s, ids, dst, c.Bool("tags"), obs)
				if cerr := dst.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
				clearProgress(obs)
				return writeReport(c, rep, "exported", "in "+out)
			default:
				sink, err := refdir.Create(dir)
				if err != nil {
					return err
				}
				opts.Tags = false // a reference store has no tags
				rep, err = transfer.Export(c.Context, s, ids, sink, opts)
				if err != nil {
					return err
				}
				clearProgress(obs)
				return writeReport(c, rep, "exported", "in "+dir)
			}
		}),
	}
}

// exportLayout writes an OCI image layout: a directory, or a tar (a name
// ending in .tar, or - for standard output), written whole or not at all.
func exportLayout(c *cli.Context, s *pf.Store, ids []manifest.Digest, dest string, opts transfer.ExportOptions) error {
	key := invocationOf(c).getenv(ociregistry.KeyEnv)
	if dest != "-" && !strings.HasSuffix(dest, ".tar") {
		dir := invocationOf(c).path(dest)
		sink, err := ocilayout.CreateDir(dir, key)
		if err != nil {
			return err
		}
		rep, err := transfer.Export(c.Context, s, ids, sink, opts)
		if err != nil {
			return err
		}
		clearProgress(opts.Observer)
		return writeReport(c, rep, "exported", "in "+dir)
	}
	if dest == "-" && c.Bool("json") {
		return usagef("--oci-layout - writes the tar on standard output: --json has no room there")
	}
	out, err := createOutput(c, dest)
	if err != nil {
		return err
	}
	defer out.Close()
	sink, err := ocilayout.CreateTar(out, key, "")
	if err != nil {
		return err
	}
	rep, err := transfer.Export(c.Context, s, ids, sink, opts)
	if err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		clearProgress(opts.Observer)
		writeReportTo(c, rep, "exported", "in "+dest, dest == "-")
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	clearProgress(opts.Observer)
	return writeReportTo(c, rep, "exported", "in "+dest, dest == "-")
}

// exportedImages reads the IMAGE arguments, or every image with --all.
func exportedImages(c *cli.Context, s *pf.Store) ([]manifest.Digest, error) {
	if c.Bool("all") {
		if c.NArg() > 0 {
			return nil, usagef("--all takes no IMAGE")
		}
		entries, _, err := s.Log(c.Context, pf.LogQuery{})
		if err != nil {
			return nil, err
		}
		ids := make([]manifest.Digest, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("the store has no image to export")
		}
		return ids, nil
	}
	if err := wantArgs(c, 1, -1); err != nil {
		return nil, err
	}
	var ids []manifest.Digest
	for _, arg := range c.Args().Slice() {
		id, err := resolveImage(c, s, arg)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// checkBundlePath refuses to write a bundle over anything but a bundle: a
// symbolic link, a device, a FIFO, a directory, or a file that is not a pf
// store are left alone.
func checkBundlePath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file (%s): pf writes a bundle only to a new file or over a bundle", path, fi.Mode().Type())
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%s exists and is empty: pf writes a bundle only to a new file or over a bundle", path)
	}
	s, err := pf.Open(path, &pf.Options{ReadOnly: true, NoCreate: true})
	if err != nil {
		return fmt.Errorf("%s exists and is not a bundle (%v): pf writes a bundle only to a new file or over a bundle", path, err)
	}
	return s.Close()
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "take in the images of a bundle, any pf store, an OCI image layout or a reference store",
		ArgsUsage: "[FILE | DIR | -]",
		Description: "FILE is a bundle (pf export -o), any pf store, or an OCI image layout as a tar; DIR is an\n" +
			"OCI image layout or a reference store (pf-core 1.x, ~/.processfork when no argument is\n" +
			"given); - reads a layout's tar from standard input (kept in a temporary file while it is\n" +
			"read, since a tar's index comes last).\n\n" +
			"Every blob is checked against its digest after decompression; manifests are stored as\n" +
			"their exact bytes, so images keep their ids; each image is committed with everything it\n" +
			"reaches, or not at all. What the store has is not read again, so a second run adds\n" +
			"nothing, and a run that was killed, run again, does only the rest. An image whose blobs\n" +
			"are corrupt or missing is reported with why (exit 4), with the images that descend from\n" +
			"it; the others are imported. An image whose parents neither side has comes in without\n" +
			"them (shallow). Tags come too, unless --no-tags; one that names another image here is\n" +
			"left as it is unless --force-tags.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-tags", Usage: "set no tags"},
			&cli.BoolFlag{Name: "force-tags", Usage: "move tags that name other images here"},
			&cli.BoolFlag{Name: "json", Usage: "write the report as one JSON object (see docs/json.md)"},
		},
		Action: func(c *cli.Context) error {
			defer boundMemory(c)()
			if err := wantArgs(c, 0, 1); err != nil {
				return err
			}
			arg := c.Args().First()
			if arg == "-" {
				tmp, err := ocilayout.SpoolStream(invocationOf(c).Stdin, "")
				if err != nil {
					return err
				}
				defer os.Remove(tmp)
				arg = tmp
			}
			src, where, err := openImportSource(c, arg)
			if err != nil {
				return err
			}
			defer src.Close()
			return withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
				return importFrom(c, s, src, where, transfer.ImportOptions{Shallow: true})
			})(c)
		},
	}
}

// importFrom imports from src into s and reports it.
func importFrom(c *cli.Context, s *pf.Store, src transfer.Source, where string, opts transfer.ImportOptions) error {
	obs := newTransferProgress(c, "import")
	defer clearProgress(obs)
	opts.Observer = obs
	opts.Tags = !c.Bool("no-tags")
	opts.ForceTags = c.Bool("force-tags")
	rep, err := transfer.Import(c.Context, s, src, opts)
	if err != nil {
		return err
	}
	clearProgress(obs)
	return writeReport(c, rep, "imported", "here")
}

// isTar reports whether the file at path is a tar (ustar magic).
func isTar(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [263]byte
	n, _ := io.ReadFull(f, h[:])
	return n == len(h) && string(h[257:262]) == "ustar"
}

// openImportSource opens what pf import reads: a pf store file, or a
// reference store directory (~/.processfork if arg is empty).
func openImportSource(c *cli.Context, arg string) (transfer.Source, string, error) {
	inv := invocationOf(c)
	path := inv.path(arg)
	if arg == "" {
		home := inv.getenv("HOME")
		if home == "" {
			return nil, "", usagef("import needs FILE or DIR (no HOME, so no ~/.processfork)")
		}
		path = filepath.Join(home, ".processfork")
	}
	fi, err := os.Stat(path)
	if arg == "" && errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("no reference store at %s: name the FILE or DIR to import", path)
	}
	if err != nil {
		return nil, "", err
	}
	if store, err := storePath(c); err == nil {
		if sfi, err := os.Stat(store); err == nil && os.SameFile(fi, sfi) {
			return nil, "", fmt.Errorf("%s is the store itself", path)
		}
	}
	if fi.IsDir() {
		if ocilayout.IsLayout(path) {
			src, err := ocilayout.Open(path, inv.getenv(ociregistry.KeyEnv))
			return src, path, err
		}
		src, err := refdir.Open(path)
		return src, path, err
	}
	if isTar(path) {
		src, err := ocilayout.Open(path, inv.getenv(ociregistry.KeyEnv))
		return src, path, err
	}
	src, err := transfer.OpenBundle(path, openOptions(c))
	if errors.Is(err, pf.ErrNotStore) {
		return nil, "", fmt.Errorf("%s is neither a pf store nor a reference store: %w", path, err)
	}
	return src, path, err
}
