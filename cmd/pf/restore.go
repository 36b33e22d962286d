package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "make a workspace match an image, in place, after a backup snapshot of it",
		ArgsUsage: "IMAGE [PATH...]",
		Description: "Makes DIR (--to, default: the current directory) match IMAGE: rewrites the files whose\n" +
			"bytes or mode differ, makes missing files, directories and links, and deletes what IMAGE\n" +
			"lacks; with PATHs (relative to DIR), only those paths and the subtrees under them. Never\n" +
			"touched: what the ignore rules leave out (.git/, node_modules/, .gitignore and .pfignore\n" +
			"rules, --ignore) and files that usually hold credentials (.env, *.pem, ...; unless\n" +
			"--include-secrets). Only what differs is written (stat cache, then digests), each file to\n" +
			"a temporary file in its own directory renamed over the old one, never through a symbolic\n" +
			"link: killed at any moment, every file is whole, old or new, and running the restore again\n" +
			"completes it. Entries that checkout refuses are refused (exit 1, nothing changed); links\n" +
			"to absolute paths or out of the tree are skipped with a warning unless\n" +
			"--allow-outside-symlinks.\n\n" +
			"First, DIR as it is becomes a snapshot, a child of its head, and its id is printed:\n" +
			"pf restore BACKUP undoes the restore (--no-backup skips it; a DIR unchanged since its head\n" +
			"gives the head itself; an empty DIR, none). Afterwards DIR's head is IMAGE (with PATHs,\n" +
			"the backup). It ends with a line of what changed: paths, bytes written, time; on a\n" +
			"terminal, a line of progress shows the files and bytes as they are written.",
		Flags: append(rulesFlags(), sessionFlag(),
			&cli.StringFlag{Name: "to", TakesFile: true, Usage: "restore the workspace `DIR` (default: the current directory)"},
			&cli.BoolFlag{Name: "no-backup", Usage: "do not snapshot DIR before changing it"},
			&cli.BoolFlag{Name: "allow-outside-symlinks", Aliases: []string{"allow-absolute-symlinks"}, Usage: "create symbolic links to absolute paths or out of the tree"},
			&cli.BoolFlag{Name: "json", Usage: "write what was done as one JSON object"},
		),
		Action: withStore(readWrite, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, -1); err != nil {
				return err
			}
			dir, err := workspaceDirArg(c, c.String("to"))
			if err != nil {
				return err
			}
			ws, err := workspaceOf(c, dir)
			if err != nil {
				return err
			}
			id, err := resolveImageIn(c, s, c.Args().First(), dir)
			if err != nil {
				return err
			}
			var paths []string
			for _, p := range c.Args().Tail() {
				p = filepath.ToSlash(filepath.Clean(filepath.FromSlash(p)))
				if p == "." {
					paths = nil
					break
				}
				if strings.HasPrefix(p, "../") || p == ".." || filepath.IsAbs(p) {
					return usagef("restore: %s is not a path inside DIR", quotePath(p))
				}
				paths = append(paths, p)
			}
			start := time.Now()
			var written worktree.Progress
			draw := newProgress(c, "restore")
			warned := newWarner(c, draw)
			res, err := worktree.Restore(c.Context, s, id, dir, worktree.RestoreOptions{
				Paths: paths, Ignore: c.StringSlice("ignore"), NoDefaultIgnores: c.Bool("no-default-ignores"),
				IncludeSecrets: c.Bool("include-secrets"), AllowOutsideSymlinks: c.Bool("allow-outside-symlinks"),
				NoBackup: c.Bool("no-backup"), Head: ws, Warn: warned.warn, Progress: draw.filesInto(&written),
				Changes: invocationOf(c).watches.For(dir),
			})
			draw.clear()
			if res != nil && res.Backup != (manifest.Digest{}) && err != nil {
				fmt.Fprintf(c.App.ErrWriter, "pf: the restore stopped; DIR as it was is image %s (backup)\n", res.Backup)
			}
			if err != nil {
				return err
			}
			if len(res.Secrets) > 0 {
				fmt.Fprintln(c.App.ErrWriter, secretsNote(res.Secrets, "left as they are", "restores"))
			}
			if c.Bool("json") {
				out := restoreJSON{Image: id, Dir: ws.Dir, Session: ws.Session, BackupIsNew: res.BackupIsNew,
					Changes: []changeJSON{}, Kept: res.Kept, Secrets: res.Secrets, Warnings: warned.warnings()}
				if res.Backup != (manifest.Digest{}) {
					out.Backup = &res.Backup
				}
				if out.Secrets == nil {
					out.Secrets = []string{}
				}
				for _, ch := range res.Changes {
					out.Changes = append(out.Changes, changeOf(ch))
				}
				return writeJSON(c.App.Writer, out)
			}
			w := c.App.Writer
			switch {
			case res.Backup == (manifest.Digest{}):
			case res.BackupIsNew:
				fmt.Fprintf(w, "backup %s (pf restore %s undoes this restore)\n", res.Backup, res.Backup.Short())
			default:
				fmt.Fprintf(w, "backup %s (the head: nothing had changed since)\n", res.Backup)
			}
			for _, ch := range res.Changes {
				fmt.Fprintln(w, changeLine(ch))
			}
			_, err = fmt.Fprintf(w, "restored %s to %s: %s changed", quotePath(ws.Dir), id.Short(), plural(len(res.Changes), "path", "paths"))
			if res.Kept > 0 {
				fmt.Fprintf(w, ", %d left as they were (see the warnings)", res.Kept)
			}
			fmt.Fprintf(w, ", %s written in %s\n", humanBytes(written.Bytes), roundDuration(time.Since(start)))
			return err
		}),
	}
}

// restoreJSON is pf restore --json.
type restoreJSON struct {
	Image       manifest.Digest  `json:"image"`
	Dir         string           `json:"dir"`
	Session     string           `json:"session"`
	Backup      *manifest.Digest `json:"backup"` // null with --no-backup
	BackupIsNew bool             `json:"backup_is_new"`
	Changes     []changeJSON     `json:"changes"`
	Kept        int              `json:"kept"`
	Secrets     []string         `json:"secrets"`
	Warnings    []warningJSON    `json:"warnings"`
}
