package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/fileregistry"
	"github.com/processfork/pf/internal/transfer/ociregistry"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

const registryHelp = "A registry is oci://host[:port]/repository[:tag] (tag latest by default), any OCI registry\n" +
	"(CNCF distribution, Harbor, ECR, GHCR, ...), or file:///path, the reference's file\n" +
	"registry (one image per path). Both are wire-compatible with the reference implementation.\n" +
	"Credentials for oci://: $OCI_BEARER, or $OCI_USERNAME and $OCI_PASSWORD, else Docker's\n" +
	"config.json ($DOCKER_CONFIG or ~/.docker) and its credential helpers (docker login). Plain\n" +
	"http only for a registry on this machine that does not speak https, or with --plain-http.\n" +
	"Manifests are signed as the reference signs them (HMAC-SHA256; the key is\n" +
	"$PF_OCI_REG_SIGN_KEY or $PF_FILE_REG_SIGN_KEY, else the reference's default)."

func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "with-ancestors", Usage: "move every ancestor too; in an oci:// registry each image is tagged sha256-<its id's hex>"},
		&cli.BoolFlag{Name: "plain-http", Usage: "speak plain http to an oci:// registry, wherever it is"},
		&cli.BoolFlag{Name: "json", Usage: "write the report as one JSON object (see docs/json.md)"},
	}
}

func registryOptions(c *cli.Context) ociregistry.Options {
	inv := invocationOf(c)
	return ociregistry.Options{PlainHTTP: c.Bool("plain-http"), Getenv: inv.getenv, SignKey: inv.getenv(ociregistry.KeyEnv)}
}

// filePath reads file:///path (the reference reads everything after
// file:// as the path).
func filePath(c *cli.Context, url string) (string, bool) {
	rest, ok := strings.CutPrefix(url, "file://")
	if !ok {
		return "", false
	}
	return invocationOf(c).path(rest), true
}

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "push an image to an OCI registry or a file:// registry",
		ArgsUsage: "IMAGE oci://HOST[:PORT]/REPO[:TAG] | file:///PATH",
		Description: "Pushes the image in the reference's OCI form: its manifest as the config, its signature,\n" +
			"then one zstd layer per blob it reaches. Only what the registry lacks is uploaded, a few\n" +
			"blobs at once, streamed: a second push of the same image uploads no blob, and a push\n" +
			"that was cut short, run again, uploads only the rest.\n\n" + registryHelp,
		Flags: registryFlags(),
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			defer boundMemory(c)()
			if err := wantArgs(c, 2, 2); err != nil {
				return err
			}
			id, err := resolveImage(c, s, c.Args().Get(0))
			if err != nil {
				return err
			}
			dest := c.Args().Get(1)
			sink, where, err := openSink(c, dest, id)
			if err != nil {
				return err
			}
			obs := newTransferProgress(c, "push")
			defer clearProgress(obs)
			rep, err := transfer.Export(c.Context, s, []manifest.Digest{id}, sink, transfer.ExportOptions{Ancestors: c.Bool("with-ancestors"), Observer: obs})
			if err != nil {
				return err
			}
			clearProgress(obs)
			return writeReport(c, rep, "pushed", where)
		}),
	}
}

func openSink(c *cli.Context, dest string, id manifest.Digest) (transfer.Sink, string, error) {
	if path, ok := filePath(c, dest); ok {
		if c.Bool("with-ancestors") {
			return nil, "", usagef("a file:// registry holds one image: --with-ancestors is for oci://")
		}
		sink, err := fileregistry.Create(path, invocationOf(c).getenv(fileregistry.KeyEnv))
		return sink, "in " + dest, err
	}
	if !strings.HasPrefix(dest, "oci://") {
		return nil, "", usagef("%q is neither oci://HOST/REPO[:TAG] nor file:///PATH", dest)
	}
	ref, err := ociregistry.ParseRef(dest)
	if err != nil {
		return nil, "", usageError{err}
	}
	sink, err := ociregistry.Create(c.Context, ref, id, c.Bool("with-ancestors"), registryOptions(c))
	return sink, "in " + ref.String(), err
}

// openSource opens a registry to pull from.
func openSource(c *cli.Context, src string) (transfer.Source, error) {
	if path, ok := filePath(c, src); ok {
		return fileregistry.Open(path, invocationOf(c).getenv(fileregistry.KeyEnv)), nil
	}
	if !strings.HasPrefix(src, "oci://") {
		return nil, usagef("%q is neither oci://HOST/REPO[:TAG] nor file:///PATH", src)
	}
	ref, err := ociregistry.ParseRef(src)
	if err != nil {
		return nil, usageError{err}
	}
	return ociregistry.Open(c.Context, ref, registryOptions(c))
}

// listed remembers the images a source lists: the one a pull names.
type listed struct {
	transfer.Source
	ids []manifest.Digest
}

func (l *listed) Images(ctx context.Context) ([]transfer.Image, error) {
	imgs, err := l.Source.Images(ctx)
	for _, img := range imgs {
		l.ids = append(l.ids, img.ID)
	}
	return imgs, err
}

// Find passes a registry's lookup of ancestors on.
func (l *listed) Find(ctx context.Context, id manifest.Digest) (transfer.Image, bool, error) {
	if f, ok := l.Source.(transfer.Finder); ok {
		return f.Find(ctx, id)
	}
	return transfer.Image{}, false, nil
}

// pullInto pulls src into s and returns the id of the image it names.
func pullInto(c *cli.Context, s *pf.Store, src string) (manifest.Digest, error) {
	source, err := openSource(c, src)
	if err != nil {
		return manifest.Digest{}, err
	}
	defer source.Close()
	defer boundMemory(c)()
	l := &listed{Source: source}
	obs := newTransferProgress(c, "pull")
	defer clearProgress(obs)
	rep, err := transfer.Import(c.Context, s, l, transfer.ImportOptions{Ancestors: c.Bool("with-ancestors"), Shallow: true, Observer: obs})
	if err != nil {
		return manifest.Digest{}, err
	}
	clearProgress(obs)
	if len(l.ids) != 1 {
		return manifest.Digest{}, fmt.Errorf("%s names %d images, want one", src, len(l.ids))
	}
	id := l.ids[0]
	if name := c.String("tag"); name != "" && rep.Err() == nil {
		if _, err := s.Tag(c.Context, name, id); err != nil {
			return id, argError(err)
		}
		for i := range rep.Images {
			if rep.Images[i].ID == id {
				rep.Images[i].Tags = append(rep.Images[i].Tags, name)
			}
		}
	}
	return id, writeReport(c, rep, "pulled", "here")
}

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "pull an image from an OCI registry or a file:// registry",
		ArgsUsage: "oci://HOST[:PORT]/REPO[:TAG|@DIGEST] | file:///PATH",
		Description: "Checks the manifest's signature before it reads the manifest, then every blob against\n" +
			"its digest after decompression, and commits the image with everything it reaches, or\n" +
			"nothing (exit 4 for a bad signature or a corrupt blob). Blobs the store has are not\n" +
			"fetched; a pull that was cut short, run again, fetches only the rest. Without\n" +
			"--with-ancestors (or when the registry lacks them) the image comes without its parents:\n" +
			"its history here starts at it, and a parent pulled later joins it.\n\n" + registryHelp,
		Flags: append(registryFlags(), &cli.StringFlag{Name: "tag", Usage: "tag the image pulled `NAME` here"}),
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, 1); err != nil {
				return err
			}
			if name := c.String("tag"); name != "" {
				if err := pf.ValidateTagName(name); err != nil {
					return usageError{err}
				}
			}
			_, err := pullInto(c, s, c.Args().First())
			return err
		}),
	}
}

func cloneCommand() *cli.Command {
	return &cli.Command{
		Name:        "clone",
		Usage:       "pull an image from a registry, then rebuild its files in a new directory",
		ArgsUsage:   "oci://HOST[:PORT]/REPO[:TAG] | file:///PATH --into DIR",
		Description: "pf pull, then pf checkout --into DIR of the image pulled (see both).\n\n" + registryHelp,
		Flags: append(registryFlags(),
			&cli.StringFlag{Name: "into", TakesFile: true, Usage: "build the tree at `DIR`, which must not exist"},
			&cli.StringFlag{Name: "tag", Usage: "tag the image pulled `NAME` here"},
			&cli.BoolFlag{Name: "allow-outside-symlinks", Usage: "create symbolic links to absolute paths or out of the tree (see pf checkout)"},
		),
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, 1); err != nil {
				return err
			}
			into := invocationOf(c).path(c.String("into"))
			if into == "" {
				return usagef("clone needs --into DIR")
			}
			id, err := pullInto(c, s, c.Args().First())
			if err != nil {
				return err
			}
			return checkoutImage(c, s, id, into)
		}),
	}
}
