package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

func checkoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "checkout",
		Usage:     "rebuild an image's files, directories and symbolic links in a new directory",
		ArgsUsage: "IMAGE",
		Description: "IMAGE is a tag, an id or a unique id prefix. PATH must not exist (its parent must) or be\n" +
			"an empty directory; it is checked before anything else. The tree is built in a hidden\n" +
			"directory beside PATH (.NAME.pf-checkout-PID-RAND) and renamed into place, so a failure\n" +
			"leaves nothing half-restored; one left by a pf killed outright is removed by the next\n" +
			"checkout into the same parent, once its process is gone. The image becomes PATH's head\n" +
			"(see pf heads: the parent of pf snapshot --fs-root PATH), and PATH/.pfcid names it, as the\n" +
			"reference's checkout does. An entry that would land outside PATH is refused (exit 1): an\n" +
			"absolute path, a \"..\" segment, a path through a symbolic link of the tree. A link whose\n" +
			"target is absolute or leads out of the tree (a venv's bin/python) is skipped with a\n" +
			"warning naming it; --allow-outside-symlinks creates such links. Nothing is ever written\n" +
			"through a link. Every blob is verified as it is written; a corrupt or missing one fails\n" +
			"with exit 4. On a terminal, a line of progress shows the files and bytes as they are\n" +
			"written; it ends with one line: \"checked out ID into PATH: N files, SIZE written in TIME\".\n" +
			"To change an existing workspace in place, see pf restore.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "into", TakesFile: true, Usage: "build the tree at `PATH`, which must not exist or be an empty directory"},
			&cli.BoolFlag{Name: "allow-outside-symlinks", Aliases: []string{"allow-absolute-symlinks"}, Usage: "create symbolic links to absolute paths or out of the tree"},
			&cli.StringFlag{Name: "session", Usage: "record the image as PATH's head in session `NAME`"},
		},
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, 1); err != nil {
				return err
			}
			into := invocationOf(c).path(c.String("into"))
			if into == "" {
				return usagef("checkout needs --into PATH")
			}
			if err := pf.ValidateSessionName(c.String("session")); err != nil {
				return usagef("--session: %v", err)
			}
			id, err := resolveImage(c, s, c.Args().First())
			if err != nil {
				return err
			}
			return checkoutImage(c, s, id, into)
		}),
	}
}

// checkoutImage builds image id's tree at into, makes the image into's
// head (pf checkout, and pf clone after its pull), and ends with a line
// of what it wrote: files, bytes, time.
func checkoutImage(c *cli.Context, s *pf.Store, id manifest.Digest, into string) error {
	stderr := c.App.ErrWriter
	start := time.Now()
	draw := newProgress(c, "checkout")
	var written worktree.Progress
	var warnMu sync.Mutex
	err := worktree.Checkout(c.Context, s, id, into, worktree.CheckoutOptions{
		AllowOutsideSymlinks: c.Bool("allow-outside-symlinks"),
		Warn: func(path string, err error) {
			warnMu.Lock()
			defer warnMu.Unlock()
			draw.printf(stderr, "pf: warning: %s: %v\n", quotePath(path), err)
		},
		Progress: draw.filesInto(&written),
	})
	draw.clear()
	if err != nil {
		return err
	}
	ws, err := workspaceOf(c, into)
	if err != nil {
		return err
	}
	if _, err := s.SetHead(c.Context, ws.Dir, ws.Session, id); err != nil {
		return err
	}
	if c.Bool("json") {
		return nil // pf clone --json: the pull's report is the output
	}
	_, err = fmt.Fprintf(c.App.Writer, "checked out %s into %s: %s, %s written in %s\n", id.Short(), quotePath(into),
		plural(written.Files, "file", "files"), humanBytes(written.Bytes), roundDuration(time.Since(start)))
	return err
}
