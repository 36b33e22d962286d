package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func forkCommand() *cli.Command {
	return &cli.Command{
		Name:      "fork",
		Usage:     "make metadata-only children of an image, printing their ids",
		ArgsUsage: "IMAGE",
		Description: "Each child names the same layers as IMAGE, has IMAGE as its one parent, a new created_at\n" +
			"and the fingerprint suffixed +fork.K (K from 1 to N), so that no two are the same image.\n" +
			"They are committed together; their ids are printed one a line, in K order.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 1, Usage: "how many children: `N`"},
			&cli.StringFlag{Name: "created-at", Usage: "the children's creation time `T` (default now; as pf log --since)"},
		},
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, 1); err != nil {
				return err
			}
			n := c.Int("count")
			if n < 1 {
				return usagef("--count: %d, want at least 1", n)
			}
			created := time.Now()
			if c.IsSet("created-at") {
				t, err := parseWhen(c.String("created-at"), created, invocationOf(c).Location)
				if err != nil {
					return usagef("--created-at: %v", err)
				}
				created = t
			}
			parent, err := resolveImage(c, s, c.Args().First())
			if err != nil {
				return err
			}
			img, err := s.Image(c.Context, parent)
			if err != nil {
				return err
			}
			ids, err := fork(c.Context, s, img, n, created)
			for _, id := range ids {
				if !id.IsZero() {
					fmt.Fprintln(c.App.Writer, id)
				}
			}
			return err
		}),
	}
}

// fork commits n children of img. The commits run concurrently so that
// the store's group commit writes them in a few transactions, not n.
func fork(ctx context.Context, s *pf.Store, img *pf.Image, n int, created time.Time) ([]manifest.Digest, error) {
	ids := make([]manifest.Digest, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	slots := make(chan struct{}, 64)
	for k := range n {
		m := *img.Manifest
		m.CreatedAt = created.UTC()
		m.Parents = []manifest.Digest{img.ID}
		m.Agent.Fingerprint = fmt.Sprintf("%s+fork.%d", m.Agent.Fingerprint, k+1)
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			ids[k], errs[k] = s.CommitManifest(ctx, &m)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return ids, err
		}
	}
	return ids, nil
}
