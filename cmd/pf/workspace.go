package main

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

// The commands of the checkpoint loop (snapshot --fs-root, status, diff
// with a directory, restore) see a workspace through the same rules, so
// that what a snapshot leaves out, status does not report and restore
// does not touch.

// rulesFlags are the flags that say what of a workspace pf leaves alone.
func rulesFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "ignore", Usage: "also ignore gitignore `PATTERN`, over every ignore file (!PATTERN keeps; repeatable)"},
		&cli.BoolFlag{Name: "no-default-ignores", Usage: "do not ignore .git/, __pycache__/ and the other default ignores"},
		&cli.BoolFlag{Name: "include-secrets", Usage: "treat .env, *.pem, id_rsa and the other files that usually hold credentials as any file"},
	}
}

// sessionFlag is --session, the workspace's head to use.
func sessionFlag() cli.Flag {
	return &cli.StringFlag{Name: "session", Usage: "use the workspace's head in session `NAME` (one per task, say), apart from the default session's"}
}

// secretsNote is the one warning about the secret files left out: what
// was done to them, and what --include-secrets would do.
func secretsNote(secrets []string, done, instead string) string {
	const shown = 10
	list := secrets
	more := ""
	if len(list) > shown {
		list, more = list[:shown], fmt.Sprintf(" and %d more", len(secrets)-shown)
	}
	quoted := make([]string, len(list))
	for i, p := range list {
		quoted[i] = quotePath(p)
	}
	return fmt.Sprintf("pf: warning: %s, as files that usually hold credentials (--include-secrets %s them): %s%s",
		done, instead, strings.Join(quoted, ", "), more)
}

// warningJSON is a warning in the JSON output of the loop's commands.
type warningJSON struct {
	Path    string `json:"path"`
	Warning string `json:"warning"`
}

// warner prints warnings on stderr, one line each, clearing the progress
// line first, and keeps them for --json.
type warner struct {
	c    *cli.Context
	draw *progress
	mu   sync.Mutex
	list []warningJSON
}

func newWarner(c *cli.Context, draw *progress) *warner { return &warner{c: c, draw: draw} }

func (w *warner) warn(path string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.draw.printf(w.c.App.ErrWriter, "pf: warning: %s: %v\n", quotePath(path), err)
	w.list = append(w.list, warningJSON{Path: path, Warning: err.Error()})
}

// warnings are the warnings so far, [] rather than null for JSON.
func (w *warner) warnings() []warningJSON {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.list == nil {
		return []warningJSON{}
	}
	return w.list
}

// workspaceDirArg is the directory a loop command works on: its argument
// DIR, else the invocation's working directory. It must be a directory.
func workspaceDirArg(c *cli.Context, arg string) (string, error) {
	inv := invocationOf(c)
	dir := inv.Dir
	if arg != "" {
		dir = inv.abs(arg)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", arg)
	}
	return dir, nil
}

// headOfWorkspace returns the image the workspace's head names; ok is
// false when it has none (nor a .pfcid the store knows).
func headOfWorkspace(c *cli.Context, s *pf.Store, ws *pf.HeadRef, dir string) (id manifest.Digest, ok bool, err error) {
	h, ok, err := s.Head(c.Context, ws.Dir, ws.Session)
	if err != nil || ok {
		return h.ID, ok, err
	}
	if ws.Session != "" {
		return id, false, nil
	}
	id, ok, err = worktree.ReadCID(dir)
	if err != nil || !ok {
		return id, false, err
	}
	ok, err = s.HasImage(c.Context, id)
	return id, ok, err
}

// errNoHead is the error of a command that needs a workspace's head.
func errNoHead(ws *pf.HeadRef) error {
	return fmt.Errorf("%s has no head%s: take one with pf snapshot --fs-root DIR%s: %w",
		quotePath(ws.Dir), sessionNote(ws.Session), sessionFlagNote(ws.Session), pf.ErrNotFound)
}

func sessionFlagNote(session string) string {
	if session == "" {
		return ""
	}
	return " --session " + quotePath(session)
}

// changeJSON is one path of pf status, pf diff and pf restore in JSON.
type changeJSON struct {
	Path   string `json:"path"`
	Change string `json:"change"` // added, modified, deleted, type, mode
	// Kinds and modes of each side: "" and 0 for the side that has none.
	OldKind string `json:"old_kind,omitempty"`
	NewKind string `json:"new_kind,omitempty"`
	OldMode string `json:"old_mode,omitempty"`
	NewMode string `json:"new_mode,omitempty"`
	OldSize *int64 `json:"old_size,omitempty"`
	NewSize *int64 `json:"new_size,omitempty"`
	// Patch and Binary, with --patch.
	Patch  *string `json:"patch,omitempty"`
	Binary bool    `json:"binary,omitempty"`
}

// changeCode is a change's status letter and JSON name: A added, M
// modified, D deleted, T type changed (file, directory, link), mode
// changed only shown as M with JSON "mode".
func changeCode(ch worktree.Change) (letter, name string) {
	switch {
	case ch.Kind == worktree.Added:
		return "A", "added"
	case ch.Kind == worktree.Removed:
		return "D", "deleted"
	case ch.Kind == worktree.ModeChanged:
		return "M", "mode"
	case ch.Old.Kind != ch.New.Kind:
		return "T", "type"
	}
	return "M", "modified"
}

func changeOf(ch worktree.Change) changeJSON {
	_, name := changeCode(ch)
	j := changeJSON{Path: ch.Path, Change: name, OldKind: string(ch.Old.Kind), NewKind: string(ch.New.Kind)}
	if ch.Old.Kind != "" {
		j.OldMode = fmt.Sprintf("%04o", uint32(ch.Old.Mode))
		if ch.Old.Kind != manifest.KindDir {
			j.OldSize = &ch.Old.Size
		}
	}
	if ch.New.Kind != "" {
		j.NewMode = fmt.Sprintf("%04o", uint32(ch.New.Mode))
		if ch.New.Kind != manifest.KindDir {
			j.NewSize = &ch.New.Size
		}
	}
	return j
}

// changeLine is a change as pf status prints it: the letter, a space, the
// path ("/" after a directory's), like git status --porcelain.
func changeLine(ch worktree.Change) string {
	letter, _ := changeCode(ch)
	p := quotePath(ch.Path)
	if ch.New.Kind == manifest.KindDir || ch.New.Kind == "" && ch.Old.Kind == manifest.KindDir {
		p += "/"
	}
	return letter + " " + p
}
