package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show which layers differ between two images, and which files of the world",
		ArgsUsage: "A B",
		Description: "Compares the layer digests of images A and B (tags, ids or id prefixes) and, when both\n" +
			"world.fs layers are fs.tree.v1 trees, lists the paths added (+), removed (-), changed (~)\n" +
			"and changed in mode only (m) from A to B. A path changes when its kind, size, content or\n" +
			"link target does. --stat adds the bytes each path adds and removes.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "stat", Usage: "show the bytes each path adds and removes, and the totals"},
			&cli.BoolFlag{Name: "json", Usage: "write the differences as one JSON object"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 2, 2); err != nil {
				return err
			}
			var imgs [2]*pf.Image
			for i, ref := range c.Args().Slice() {
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
	d := &treeDiff{Added: []string{}, Removed: []string{}, Changed: []string{}, ModeChanged: []string{}}
	d.changes = worktree.DiffTrees(a, b)
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
		fmt.Fprintf(w, "world.fs: %d added, %d removed, %d changed", len(d.World.Added), len(d.World.Removed), len(d.World.Changed))
		if len(d.World.ModeChanged) > 0 {
			fmt.Fprintf(w, ", %d mode changed", len(d.World.ModeChanged))
		}
		if stat {
			fmt.Fprintf(w, "; +%d -%d bytes", d.World.BytesAdded, d.World.BytesRemoved)
		}
		fmt.Fprintln(w)
		marks := map[worktree.ChangeKind]string{worktree.Added: "+", worktree.Removed: "-", worktree.Changed: "~", worktree.ModeChanged: "m"}
		var lines []string
		for _, kind := range []worktree.ChangeKind{worktree.Added, worktree.Removed, worktree.Changed, worktree.ModeChanged} {
			for _, c := range d.World.changes {
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
	}
	_, err := fmt.Fprintf(w, "%d of %d layers differ\n", differ, len(d.Layers))
	return err
}
