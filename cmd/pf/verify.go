package main

import (
	"fmt"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

// errProblems makes pf verify exit 4 once it has printed what is wrong.
var errProblems = fmt.Errorf("%w: verify found problems", pf.ErrCorrupt)

// problemJSON is one problem of pf verify --json.
func problemJSON(p pf.Problem) map[string]any {
	images := make([]string, len(p.Images))
	for i, id := range p.Images {
		images[i] = id.String()
	}
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{"subject": p.Subject, "problem": p.Detail, "images": images, "reaching": p.Reaching, "tags": tags}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check the store: manifests, parents, every blob images reach, indexes, tags, counters",
		Description: "Reports one line per problem and a summary line last, and exits 0 when the\n" +
			"store is whole, 4 when anything is wrong. A problem's line names what is wrong (a blob,\n" +
			"an image, a tag, an index), why, and what it breaks: the images that reach a bad blob,\n" +
			"with their tags. --deep also re-reads and re-hashes every blob and chunk. With --json,\n" +
			"one object per problem, then the summary (see docs/json.md).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "deep", Usage: "re-read and re-hash every blob and chunk"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per problem, then one for the summary"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			bar := newProgress(c, "verify")
			rep, err := s.Verify(c.Context, pf.VerifyOptions{Deep: c.Bool("deep"), Progress: bar.count})
			bar.clear()
			if err != nil {
				return err
			}
			out := c.App.Writer
			for _, p := range rep.Problems {
				if c.Bool("json") {
					if err := writeJSON(out, problemJSON(p)); err != nil {
						return err
					}
				} else {
					fmt.Fprintln(out, p)
				}
			}
			ok := len(rep.Problems) == 0
			if c.Bool("json") {
				err = writeJSON(out, map[string]any{"ok": ok, "deep": c.Bool("deep"), "images": rep.Images,
					"blobs": rep.Blobs, "chunks": rep.Chunks, "problems": len(rep.Problems)})
			} else {
				verdict := "ok"
				if !ok {
					verdict = plural(len(rep.Problems), "problem", "problems") + " found"
				}
				how := "checked"
				if c.Bool("deep") {
					how = "checked and re-hashed"
				}
				_, err = fmt.Fprintf(out, "%s: %s, %s, %s %s\n", verdict, plural(int(rep.Images), "image", "images"),
					plural(int(rep.Blobs), "blob", "blobs"), plural(int(rep.Chunks), "chunk", "chunks"), how)
			}
			if err == nil && !ok {
				err = errProblems
			}
			return err
		}),
	}
}
