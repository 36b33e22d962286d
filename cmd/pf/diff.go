package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show what differs between two images, or between an image and a workspace",
		ArgsUsage: "A B | IMAGE [DIR] | [DIR]",
		Description: "Compares the layer digests of images A and B (tags, ids or id prefixes) and, when both\n" +
			"world.fs layers are fs.tree.v1 trees, lists the paths added (+), removed (-), changed (~)\n" +
			"and changed in mode only (m) from A to B. A path changes when its kind, size, content or\n" +
			"link target does. --stat adds the bytes each path adds and removes.\n\n" +
			"pf diff IMAGE DIR compares IMAGE's files with the directory DIR as pf snapshot --fs-root\n" +
			"DIR would capture it now (ignore rules, secret patterns; the stat cache spares reading\n" +
			"unchanged files), and pf diff IMAGE with the current directory; pf diff DIR compares\n" +
			"DIR's head (see pf heads, --session) with DIR, and pf diff alone the current directory's\n" +
			"head with the current directory. An argument with a path separator, or that is no image\n" +
			"but a directory, is a directory. IMAGE~N is IMAGE's Nth first-parent ancestor and\n" +
			"IMAGE^N its Nth parent, as in git: pf diff ID~1 ID shows what turn ID changed.\n\n" +
			"--patch prints unified diffs of the files instead, as git diff does (\"Binary files ...\n" +
			"differ\" for files that are not text or larger than 8 MiB; no rename detection).",
		Flags: append(rulesFlags(), sessionFlag(),
			&cli.BoolFlag{Name: "stat", Usage: "show the bytes each path adds and removes, and the totals"},
			&cli.BoolFlag{Name: "patch", Aliases: []string{"p"}, Usage: "print unified diffs of the files that differ"},
			&cli.BoolFlag{Name: "json", Usage: "write the differences as one JSON object"},
		),
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 2); err != nil {
				return err
			}
			args := c.Args().Slice()
			if len(args) == 0 {
				args = []string{"."} // as git diff: the workspace one is in
			}
			if dir, ok := dirArg(c, s, args[len(args)-1]); ok {
				return diffWorkspace(c, s, args[:len(args)-1], dir)
			}
			if len(args) == 1 {
				if strings.ContainsRune(args[0], '/') || strings.ContainsRune(args[0], filepath.Separator) {
					return usagef("diff: %s is not a directory: usage: pf diff %s", quotePath(args[0]), c.Command.ArgsUsage)
				}
				if _, err := resolveImage(c, s, args[0]); err != nil {
					return fmt.Errorf("diff: %w", err)
				}
				dir, _ := dirArg(c, s, ".")
				return diffWorkspace(c, s, args, dir) // as git diff COMMIT: against the workspace one is in
			}
			var imgs [2]*pf.Image
			for i, ref := range args {
				id, err := resolveImage(c, s, ref)
				if err != nil {
					return err
				}
				if imgs[i], err = s.Image(c.Context, id); err != nil {
					return err
				}
			}
			d, err := diffImages(c.Context, s, imgs[0], imgs[1])
			if err != nil {
				return err
			}
			if c.Bool("patch") {
				side := worktree.DiffSide{Store: s}
				if d.World == nil {
					return fmt.Errorf("diff --patch: the world.fs layers are not both fs.tree.v1 trees")
				}
				files, err := patches(c, d.World.changes, side, side)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					d.Files = files
					return writeJSON(c.App.Writer, d)
				}
				return writePatches(c.App.Writer, files)
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, d)
			}
			return writeDiff(c.App.Writer, d, c.Bool("stat"))
		}),
	}
}

// imageDiff is what pf diff reports; its JSON is pf diff --json.
type imageDiff struct {
	A      manifest.Digest `json:"a"`
	B      manifest.Digest `json:"b"`
	Agent  *[2]agentJSON   `json:"agent,omitempty"` // when it differs
	Layers []layerDiff     `json:"layers"`
	// World lists the paths that differ between the two world.fs trees;
	// nil when either is not an fs.tree.v1 tree.
	World *treeDiff `json:"world_fs"`
	// Files, with --patch: each path that differs, with its patch.
	Files []changeJSON `json:"files,omitempty"`
}

type layerDiff struct {
	Name string          `json:"name"`
	A    manifest.Digest `json:"a"`
	B    manifest.Digest `json:"b"`
	Same bool            `json:"same"`
}

type treeDiff struct {
	Added        []string `json:"added"`
	Removed      []string `json:"removed"`
	Changed      []string `json:"changed"`
	ModeChanged  []string `json:"mode_changed"`
	BytesAdded   int64    `json:"bytes_added"`
	BytesRemoved int64    `json:"bytes_removed"`

	changes []worktree.Change // in path order, for --stat
}

func diffImages(ctx context.Context, s *pf.Store, a, b *pf.Image) (*imageDiff, error) {
	d := &imageDiff{A: a.ID, B: b.ID}
	if a.Manifest.Agent != b.Manifest.Agent {
		d.Agent = &[2]agentJSON{agentOf(a.Manifest), agentOf(b.Manifest)}
	}
	la, lb := a.Manifest.Layers(), b.Manifest.Layers()
	for i := range la {
		d.Layers = append(d.Layers, layerDiff{Name: la[i].Name, A: la[i].Digest, B: lb[i].Digest, Same: la[i].Digest == lb[i].Digest})
	}
	ta, err := readTree(ctx, s, a.Manifest.World.FS)
	if err != nil {
		return nil, err
	}
	tb, err := readTree(ctx, s, b.Manifest.World.FS)
	if err != nil {
		return nil, err
	}
	if ta != nil && tb != nil {
		d.World = diffTrees(ta, tb)
	}
	return d, nil
}

// readTree reads a world.fs blob; nil when it is not an fs.tree.v1 tree.
func readTree(ctx context.Context, s *pf.Store, d manifest.Digest) (*manifest.Tree, error) {
	b, err := s.Blobs().Get(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("world.fs: %w", err)
	}
	if !manifest.IsTree(b) {
		return nil, nil
	}
	t, err := manifest.DecodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("world.fs %s: %w", d.Short(), err)
	}
	return t, nil
}

// diffTrees sorts worktree.DiffTrees's changes by kind, for pf diff.
func diffTrees(a, b *manifest.Tree) *treeDiff {
	return treeDiffOf(worktree.DiffTrees(a, b))
}

// treeDiffOf sorts changes by kind.
func treeDiffOf(changes []worktree.Change) *treeDiff {
	d := &treeDiff{Added: []string{}, Removed: []string{}, Changed: []string{}, ModeChanged: []string{}, changes: changes}
	for _, c := range d.changes {
		d.BytesAdded += c.BytesAdded()
		d.BytesRemoved += c.BytesRemoved()
		switch c.Kind {
		case worktree.Added:
			d.Added = append(d.Added, c.Path)
		case worktree.Removed:
			d.Removed = append(d.Removed, c.Path)
		case worktree.Changed:
			d.Changed = append(d.Changed, c.Path)
		case worktree.ModeChanged:
			d.ModeChanged = append(d.ModeChanged, c.Path)
		}
	}
	return d
}

func writeDiff(w io.Writer, d *imageDiff, stat bool) error {
	rows := [][]string{{"a", d.A.String()}, {"b", d.B.String()}}
	if d.Agent != nil {
		a, b := d.Agent[0], d.Agent[1]
		rows = append(rows, []string{"agent", fmt.Sprintf("%s@%s %s -> %s@%s %s", a.Kind, a.Version, a.Fingerprint, b.Kind, b.Version, b.Fingerprint)})
	}
	if err := writeTable(w, rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "layers")
	rows = rows[:0]
	differ := 0
	for _, l := range d.Layers {
		if l.Same {
			rows = append(rows, []string{"  " + l.Name, "same", l.A.Short()})
			continue
		}
		differ++
		rows = append(rows, []string{"  " + l.Name, "differs", l.A.Short() + " -> " + l.B.Short()})
	}
	if err := writeTable(w, rows); err != nil {
		return err
	}
	switch {
	case d.World == nil:
		fmt.Fprintln(w, "world.fs: not both fs.tree.v1 trees, no file list")
	case len(d.World.changes) > 0:
		if err := writeTreeChanges(w, d.World, stat); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d of %d layers differ\n", differ, len(d.Layers))
	return err
}

// dirArg reports whether a diff argument names a directory: one with a
// path separator (./x, x/, /abs), ".", "..", or one that is no image but
// an existing directory.
func dirArg(c *cli.Context, s *pf.Store, arg string) (string, bool) {
	dir := invocationOf(c).abs(arg)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", false
	}
	if arg == "." || arg == ".." || strings.ContainsRune(arg, '/') || strings.ContainsRune(arg, filepath.Separator) {
		return dir, true
	}
	if _, err := resolveImage(c, s, arg); err == nil {
		return "", false
	}
	return dir, true
}

// workspaceDiffJSON is pf diff IMAGE DIR --json and pf diff DIR --json.
type workspaceDiffJSON struct {
	Image    *manifest.Digest `json:"image"` // null for a workspace with no head
	Dir      string           `json:"dir"`
	Session  string           `json:"session"`
	Changes  []changeJSON     `json:"changes"`
	Warnings []warningJSON    `json:"warnings"`
}

// diffWorkspace is pf diff [IMAGE] DIR.
func diffWorkspace(c *cli.Context, s *pf.Store, image []string, dir string) error {
	ws, err := workspaceOf(c, dir)
	if err != nil {
		return err
	}
	var id manifest.Digest
	ok := true
	if len(image) == 1 {
		if id, err = resolveImageIn(c, s, image[0], dir); err != nil {
			return err
		}
	} else if id, ok, err = headOfWorkspace(c, s, ws, dir); err != nil {
		return err
	} else if !ok {
		return errNoHead(ws)
	}
	warned := newWarner(c, nil)
	changes, err := worktree.Status(c.Context, s, id, dir, worktree.StatusOptions{
		Ignore: c.StringSlice("ignore"), NoDefaultIgnores: c.Bool("no-default-ignores"),
		IncludeSecrets: c.Bool("include-secrets"), Warn: warned.warn,
	})
	if err != nil {
		return err
	}
	var files []changeJSON
	if c.Bool("patch") {
		if files, err = patches(c, changes, worktree.DiffSide{Store: s}, worktree.DiffSide{Dir: dir}); err != nil {
			return err
		}
	} else {
		for _, ch := range changes {
			files = append(files, changeOf(ch))
		}
	}
	if c.Bool("json") {
		if files == nil {
			files = []changeJSON{}
		}
		return writeJSON(c.App.Writer, workspaceDiffJSON{Image: &id, Dir: ws.Dir, Session: ws.Session, Changes: files, Warnings: warned.warnings()})
	}
	if c.Bool("patch") {
		return writePatches(c.App.Writer, files)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "a  %s\nb  %s\n", id, quotePath(ws.Dir))
	if len(changes) == 0 {
		_, err = fmt.Fprintln(w, "no differences")
		return err
	}
	return writeTreeChanges(w, treeDiffOf(changes), c.Bool("stat"))
}

// patches renders each change's patch, a side read from a, b the other.
func patches(c *cli.Context, changes []worktree.Change, a, b worktree.DiffSide) ([]changeJSON, error) {
	files := make([]changeJSON, 0, len(changes))
	for _, ch := range changes {
		p, err := worktree.MakePatch(c.Context, ch, a, b)
		if err != nil {
			return nil, err
		}
		j := changeOf(ch)
		j.Patch, j.Binary = &p.Text, p.Binary
		files = append(files, j)
	}
	return files, nil
}

func writePatches(w io.Writer, files []changeJSON) error {
	for _, f := range files {
		if _, err := io.WriteString(w, *f.Patch); err != nil {
			return err
		}
	}
	return nil
}

// writeTreeChanges lists a tree diff's paths: a summary line, then one
// line per path, by kind.
func writeTreeChanges(w io.Writer, d *treeDiff, stat bool) error {
	fmt.Fprintf(w, "world.fs: %d added, %d removed, %d changed", len(d.Added), len(d.Removed), len(d.Changed))
	if len(d.ModeChanged) > 0 {
		fmt.Fprintf(w, ", %d mode changed", len(d.ModeChanged))
	}
	if stat {
		fmt.Fprintf(w, "; +%d -%d bytes", d.BytesAdded, d.BytesRemoved)
	}
	fmt.Fprintln(w)
	marks := map[worktree.ChangeKind]string{worktree.Added: "+", worktree.Removed: "-", worktree.Changed: "~", worktree.ModeChanged: "m"}
	var lines []string
	for _, kind := range []worktree.ChangeKind{worktree.Added, worktree.Removed, worktree.Changed, worktree.ModeChanged} {
		for _, c := range d.changes {
			if c.Kind != kind {
				continue
			}
			line := "  " + marks[kind] + " " + quotePath(c.Path)
			switch {
			case kind == worktree.ModeChanged:
				line += fmt.Sprintf("  %04o -> %04o", uint32(c.Old.Mode), uint32(c.New.Mode))
			case stat:
				line += fmt.Sprintf("  +%d -%d", c.BytesAdded(), c.BytesRemoved())
			}
			lines = append(lines, line)
		}
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	return nil
}
