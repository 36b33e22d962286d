package main

import (
	"fmt"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show what changed in a workspace since its head",
		ArgsUsage: "[DIR]",
		Description: "Compares DIR (default: the current directory), as pf snapshot --fs-root DIR would capture\n" +
			"it now, with DIR's head (see pf heads): one line per path, like git status --porcelain:\n" +
			"A added, M modified (content or mode), D deleted, T type changed (file, directory, link);\n" +
			"directories end in /. Files the stat cache knows unchanged are not read. What the ignore\n" +
			"rules and the secret patterns leave out is not listed. Exit 0 whatever changed; a\n" +
			"workspace with no head yet lists every path as added.",
		Flags: append(rulesFlags(), sessionFlag(),
			&cli.BoolFlag{Name: "json", Usage: "write the changes as one JSON object"},
		),
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 1); err != nil {
				return err
			}
			dir, err := workspaceDirArg(c, c.Args().First())
			if err != nil {
				return err
			}
			ws, err := workspaceOf(c, dir)
			if err != nil {
				return err
			}
			head, ok, err := headOfWorkspace(c, s, ws, dir)
			if err != nil {
				return err
			}
			warned := newWarner(c, nil)
			changes, err := worktree.Status(c.Context, s, head, dir, worktree.StatusOptions{
				Ignore: c.StringSlice("ignore"), NoDefaultIgnores: c.Bool("no-default-ignores"),
				IncludeSecrets: c.Bool("include-secrets"), Warn: warned.warn,
				Changes: invocationOf(c).watches.For(dir),
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				out := statusJSON{Dir: ws.Dir, Session: ws.Session, Clean: len(changes) == 0, Changes: []changeJSON{}, Warnings: warned.warnings()}
				if ok {
					out.Head = &head
				}
				for _, ch := range changes {
					out.Changes = append(out.Changes, changeOf(ch))
				}
				return writeJSON(c.App.Writer, out)
			}
			if !ok {
				fmt.Fprintf(c.App.ErrWriter, "pf: %s has no head%s yet: every path is new\n", quotePath(ws.Dir), sessionNote(ws.Session))
			}
			for _, ch := range changes {
				if _, err := fmt.Fprintln(c.App.Writer, changeLine(ch)); err != nil {
					return err
				}
			}
			return nil
		}),
	}
}

// statusJSON is pf status --json.
type statusJSON struct {
	Dir      string           `json:"dir"`
	Session  string           `json:"session"`
	Head     *manifest.Digest `json:"head"` // null when the workspace has none
	Clean    bool             `json:"clean"`
	Changes  []changeJSON     `json:"changes"`
	Warnings []warningJSON    `json:"warnings"`
}
