package main

import (
	"fmt"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func headsCommand() *cli.Command {
	return &cli.Command{
		Name:      "heads",
		Usage:     "list the workspaces pf snapshots, their sessions and their newest images",
		ArgsUsage: "[DIR]",
		Description: "A head is the newest image of a workspace directory in one session: pf snapshot --fs-root\n" +
			"DIR sets it and takes it as the next snapshot's parent, pf status and pf diff DIR compare\n" +
			"with it, pf restore moves it. Heads live in the store, never in the workspace, and keep\n" +
			"their images (and those images' ancestors) from pf prune, as tags do. With DIR, only that\n" +
			"directory's heads; --forget DIR deletes DIR's head of --session.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: `write one {"dir", "session", "id", "updated"} object per head and line`},
			&cli.BoolFlag{Name: "forget", Usage: "delete the head of DIR in --session, so that prune may remove its image"},
			&cli.StringFlag{Name: "session", Usage: "with --forget, the session `NAME` (default: the default session)"},
		},
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 0, 1); err != nil {
				return err
			}
			if c.IsSet("session") && !c.Bool("forget") {
				return usagef("--session is for --forget")
			}
			if c.Bool("forget") {
				if c.NArg() != 1 {
					return usagef("usage: pf heads --forget DIR [--session NAME]")
				}
				return withStore(readWrite, forgetHead)(c)
			}
			return withStore(readOnly, listHeads)(c)
		},
	}
}

// headJSON is a head in pf's JSON output.
type headJSON struct {
	Dir     string          `json:"dir"`
	Session string          `json:"session"`
	ID      manifest.Digest `json:"id"`
	Updated string          `json:"updated"`
}

func headOf(h pf.Head) headJSON {
	return headJSON{Dir: h.Dir, Session: h.Session, ID: h.ID, Updated: h.Updated.UTC().Format(time.RFC3339Nano)}
}

func listHeads(c *cli.Context, s *pf.Store) error {
	heads, err := s.Heads(c.Context)
	if err != nil {
		return err
	}
	if c.NArg() == 1 {
		dir, err := pf.WorkspaceDir(invocationOf(c).abs(c.Args().First()))
		if err != nil {
			return err
		}
		kept := heads[:0]
		for _, h := range heads {
			if h.Dir == dir {
				kept = append(kept, h)
			}
		}
		heads = kept
	}
	if c.Bool("json") {
		for _, h := range heads {
			if err := writeJSON(c.App.Writer, headOf(h)); err != nil {
				return err
			}
		}
		return nil
	}
	rows := make([][]string, len(heads))
	for i, h := range heads {
		rows[i] = []string{quotePath(h.Dir), sessionLabel(h.Session), h.ID.Short(), localTime(h.Updated, invocationOf(c).Location)}
	}
	return writeTable(c.App.Writer, rows)
}

func forgetHead(c *cli.Context, s *pf.Store) error {
	ws, err := workspaceOf(c, c.Args().First())
	if err != nil {
		return err
	}
	id, err := s.DeleteHead(c.Context, ws.Dir, ws.Session)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "forgot the head of %s%s (was %s)\n", quotePath(ws.Dir), sessionNote(ws.Session), id.Short())
	return err
}

// sessionLabel shows a session in a table: "-" for the default one.
func sessionLabel(session string) string {
	if session == "" {
		return "-"
	}
	return quotePath(session)
}

// sessionNote names a session after a directory in a sentence.
func sessionNote(session string) string {
	if session == "" {
		return ""
	}
	return fmt.Sprintf(" (session %s)", quotePath(session))
}
