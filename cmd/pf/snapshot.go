package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/fixture"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "commit an image: of a workspace, of the synthetic fixture, or a manifest file as it is",
		Description: "--fixture snapshots the reference's synthetic fixture, byte for byte as its fixture.rs\n" +
			"builds it for --seed (about 1.4 MB of blobs; with the same --created-at, the reference's image\n" +
			"id); --fork K > 0 is a variant of pf's own, for the benchmarks. --manifest commits a manifest\n" +
			"file's exact bytes, under the digest of those bytes, once it parses and every blob it reaches\n" +
			"and every parent is in the store; FILE - reads standard input. Prints the new image's id\n" +
			"alone.\n\n" + fsRootDescription,
		Flags: withFSRootFlags([]cli.Flag{
			&cli.BoolFlag{Name: "fixture", Usage: "snapshot the synthetic fixture"},
			&cli.Uint64Flag{Name: "seed", Usage: "the fixture's `SEED`, as fixture.rs's FixtureSpec::seed"},
			&cli.IntFlag{Name: "fork", Usage: "pf's fixture variant `K`: 0 the reference's, K > 0 a fork whose first 1/8 of pages and files differ"},
			&cli.StringFlag{Name: "created-at", Usage: "the fixture image's creation time `T` (default now; as pf log --since)"},
			&cli.StringFlag{Name: "manifest", TakesFile: true, Usage: "commit the manifest in `FILE`"},
			&cli.StringSliceFlag{Name: "parent", Usage: "a parent `IMAGE` (repeat for a merge); with --manifest, the parents it must name"},
			&cli.BoolFlag{Name: "json", Usage: "write the new image's id, parents and (with --fs-root) what was captured as one JSON object"},
		}),
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			fixture, file, root := c.Bool("fixture"), c.String("manifest"), c.String("fs-root")
			sources := 0
			for _, given := range []bool{fixture, file != "", root != ""} {
				if given {
					sources++
				}
			}
			switch {
			case sources != 1:
				return usagef("snapshot needs one of --fs-root DIR, --fixture and --manifest FILE")
			case !fixture && (c.IsSet("seed") || c.IsSet("fork") || c.IsSet("created-at")):
				return usagef("--seed, --fork and --created-at are for --fixture")
			case root == "":
				if err := checkNoFSRootFlags(c); err != nil {
					return err
				}
			}
			headDir := invocationOf(c).Dir // HEAD in --parent: --fs-root's head, else the current directory's
			if root != "" {
				headDir = invocationOf(c).abs(root)
			}
			var parents []manifest.Digest
			for _, ref := range c.StringSlice("parent") {
				id, err := resolveImageIn(c, s, ref, headDir)
				if err != nil {
					return err
				}
				parents = append(parents, id)
			}
			var rep *snapshotJSON
			var id manifest.Digest
			var err error
			switch {
			case root != "":
				rep, err = snapshotFSRoot(c, s, parents)
			case fixture:
				id, err = snapshotFixture(c, s, parents)
			default:
				id, err = commitManifestFile(c, s, file, parents)
			}
			if err != nil {
				return err
			}
			if rep == nil {
				img, err := s.Image(c.Context, id)
				if err != nil {
					return err
				}
				rep = &snapshotJSON{ID: id, Parents: parentsOf(img.Manifest), Secrets: []string{}, Warnings: []warningJSON{}}
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, rep)
			}
			_, err = fmt.Fprintln(c.App.Writer, rep.ID)
			return err
		}),
	}
}

func snapshotFixture(c *cli.Context, s *pf.Store, parents []manifest.Digest) (manifest.Digest, error) {
	created := time.Now()
	if c.IsSet("created-at") {
		t, err := parseWhen(c.String("created-at"), created, invocationOf(c).Location)
		if err != nil {
			return manifest.Digest{}, usagef("--created-at: %v", err)
		}
		created = t
	}
	fork := c.Int("fork")
	if fork < 0 {
		return manifest.Digest{}, usagef("--fork: %d is negative", fork)
	}
	differ := 0.0
	if fork > 0 {
		differ = 1.0 / 8
	}
	spec := fixture.New(fixture.Options{Seed: c.Uint64("seed"), Fork: fork, Differ: differ}).Snapshot(parents...)
	spec.CreatedAt = created
	return s.Snapshot(c.Context, spec)
}

func commitManifestFile(c *cli.Context, s *pf.Store, file string, parents []manifest.Digest) (manifest.Digest, error) {
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(io.LimitReader(invocationOf(c).Stdin, manifest.MaxManifestSize+1))
	} else {
		raw, err = os.ReadFile(invocationOf(c).path(file))
	}
	if err != nil {
		return manifest.Digest{}, err
	}
	if c.IsSet("parent") {
		// The bytes are the image: --parent can only check them.
		m, err := manifest.Decode(raw)
		if err != nil {
			return manifest.Digest{}, fmt.Errorf("%s: %w", file, err)
		}
		if !slices.Equal(m.Parents, parents) {
			return manifest.Digest{}, fmt.Errorf("%s names parents %v, not the --parent images %v", file, m.Parents, parents)
		}
	}
	id, err := s.Commit(c.Context, raw)
	if err != nil {
		return manifest.Digest{}, fmt.Errorf("%s: %w", file, err)
	}
	return id, nil
}
