package main

import (
	"fmt"
	"sync"

	"github.com/processfork/pf"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

func checkoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "checkout",
		Usage:     "rebuild an image's files, directories and symbolic links in a new directory",
		ArgsUsage: "IMAGE",
		Description: "IMAGE is a tag, an id or a unique id prefix. PATH must not exist; its parent must. The\n" +
			"tree is built in a hidden directory beside PATH and renamed into place, so a failure\n" +
			"leaves nothing half-restored. The image becomes PATH's head (see pf heads: the parent of\n" +
			"pf snapshot --fs-root PATH), and PATH/.pfcid names it, as the reference's checkout does.\nAn entry that would land outside PATH is refused (exit 1):\n" +
			"an absolute path, a \"..\" segment, a path through a symbolic link of the tree, or a link\n" +
			"whose target is absolute or leads out of the tree (--allow-absolute-symlinks restores\n" +
			"such links; nothing is ever written through one). Every blob is verified as it is\n" +
			"written; a corrupt or missing one fails with exit 4.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "into", TakesFile: true, Usage: "build the tree at `PATH`, which must not exist"},
			&cli.BoolFlag{Name: "allow-absolute-symlinks", Usage: "restore symbolic links to absolute paths or out of the tree"},
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
			stderr := c.App.ErrWriter
			draw := newProgress(c, "checkout")
			var warnMu sync.Mutex
			err = worktree.Checkout(c.Context, s, id, into, worktree.CheckoutOptions{
				AllowOutsideSymlinks: c.Bool("allow-absolute-symlinks"),
				Warn: func(path string, err error) {
					warnMu.Lock()
					defer warnMu.Unlock()
					draw.clear()
					fmt.Fprintf(stderr, "pf: warning: %s: %v\n", quotePath(path), err)
				},
				Progress: draw.files(),
			})
			draw.clear()
			if err != nil {
				return err
			}
			ws, err := workspaceOf(c, into)
			if err != nil {
				return err
			}
			_, err = s.SetHead(c.Context, ws.Dir, ws.Session, id)
			return err
		}),
	}
}
