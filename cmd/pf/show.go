package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

func showCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show an image: its manifest, layers with sizes, parents and children",
		ArgsUsage: "IMAGE",
		Description: "IMAGE is a tag, an id or a unique id prefix. --json writes the manifest's exact JSON\n" +
			"(and a newline); pf get IMAGE writes its exact bytes. A layer whose blob is missing is\n" +
			"shown as such, and pf exits 4.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "write the manifest as it is stored"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 1, 1); err != nil {
				return err
			}
			id, err := resolveImage(c, s, c.Args().First())
			if err != nil {
				return err
			}
			img, err := s.Image(c.Context, id)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				_, err := fmt.Fprintf(c.App.Writer, "%s\n", img.Raw)
				return err
			}
			return writeShow(c, s, img)
		}),
	}
}

func writeShow(c *cli.Context, s *pf.Store, img *pf.Image) error {
	ctx, m := c.Context, img.Manifest
	tags, err := tagsByImage(ctx, s)
	if err != nil {
		return err
	}
	children, err := s.Children(ctx, img.ID)
	if err != nil {
		return err
	}
	related := func(ids []manifest.Digest) ([]string, error) {
		// Related images by creation time, each with when and what made it.
		// A parent of an image pulled without its ancestors is not here.
		var imgs []*pf.Image
		var absent []string
		for _, id := range ids {
			r, err := s.Image(ctx, id)
			switch {
			case errors.Is(err, pf.ErrNotFound):
				absent = append(absent, id.String()+"  (not in this store)")
			case err != nil:
				return nil, err
			default:
				imgs = append(imgs, r)
			}
		}
		slices.SortStableFunc(imgs, func(a, b *pf.Image) int { return a.Manifest.CreatedAt.Compare(b.Manifest.CreatedAt) })
		out := make([]string, 0, len(ids))
		for _, r := range imgs {
			out = append(out, fmt.Sprintf("%s  %s  %s", r.ID, localTime(r.Manifest.CreatedAt, invocationOf(c).Location), r.Manifest.Agent))
		}
		return append(out, absent...), nil
	}
	parentLines, err := related(m.Parents)
	if err != nil {
		return err
	}
	childLines, err := related(children)
	if err != nil {
		return err
	}

	rows := [][]string{
		{"image", img.ID.String()},
		{"created", rawCreatedAt(img) + "  (" + localTime(m.CreatedAt, invocationOf(c).Location) + " local)"},
		{"agent", m.Agent.String()},
		{"fingerprint", m.Agent.Fingerprint},
	}
	if t := tags[img.ID]; len(t) > 0 {
		rows = append(rows, []string{"tags", strings.Join(t, ", ")})
	}
	list := func(label string, lines []string) {
		if len(lines) == 0 {
			rows = append(rows, []string{label, "none"})
		}
		for i, l := range lines {
			if i > 0 {
				label = ""
			}
			rows = append(rows, []string{label, l})
		}
	}
	list("parents", parentLines)
	list("children", childLines)
	if err := writeTable(c.App.Writer, rows); err != nil {
		return err
	}

	fmt.Fprintln(c.App.Writer, "layers")
	var layers [][]string
	var missing []string
	var logical, stored int64
	for _, l := range m.Layers() {
		info, err := s.Blobs().Stat(ctx, l.Digest)
		if err != nil {
			if !errors.Is(err, pf.ErrNotFound) {
				return err
			}
			missing = append(missing, l.Name)
			layers = append(layers, []string{"  " + l.Name, l.Digest.String(), "MISSING"})
			continue
		}
		logical += info.Size
		stored += info.Stored
		layers = append(layers, []string{"  " + l.Name, l.Digest.String(), humanBytes(info.Size), "stored " + humanBytes(info.Stored), layerNote(c, s, l)})
	}
	layers = append(layers, []string{"  total", "", humanBytes(logical), "stored " + humanBytes(stored), "(the layer blobs, not the files and pages they name)"})
	if err := writeTable(c.App.Writer, layers); err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("image %s: the blobs of %s are missing: %w", img.ID.Short(), strings.Join(missing, ", "), pf.ErrCorrupt)
	}
	return nil
}

// layerNote says what is inside the layers that name further blobs.
func layerNote(c *cli.Context, s *pf.Store, l manifest.LayerRef) string {
	if l.Name != manifest.LayerWorldFS && l.Name != manifest.LayerCacheManifest {
		return ""
	}
	r, err := s.Blobs().Open(c.Context, l.Digest)
	if err != nil {
		return ""
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return ""
	}
	switch l.Name {
	case manifest.LayerWorldFS:
		if !manifest.IsTree(b) {
			return "(not an fs.tree.v1)"
		}
		t, err := manifest.DecodeTree(b)
		if err != nil {
			return "(bad fs.tree.v1: " + err.Error() + ")"
		}
		var files int64
		for _, e := range t.Entries {
			files += e.Size
		}
		return fmt.Sprintf("(%s, %s)", plural(len(t.Entries), "entry", "entries"), humanBytes(files))
	default:
		p, err := manifest.DecodeCachePages(b)
		if err != nil {
			return ""
		}
		return fmt.Sprintf("(%s, %s)", p.Layout, plural(len(p.Pages), "page", "pages"))
	}
}
