package main

import (
	"fmt"
	"runtime/debug"
	"sync"

	lines "github.com/processfork/pf/internal/progress"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

// What pf export, import, push, pull and clone print: a line per image
// moved or failed, then a summary; or, with --json, the report as one
// object (docs/json.md).

// transferJSON is a transfer's report in pf's JSON output.
type transferJSON struct {
	Images       []transferImageJSON `json:"images"`
	Blobs        int                 `json:"blobs"`
	Bytes        int64               `json:"bytes"`
	PresentBlobs int                 `json:"present_blobs"`
	PresentBytes int64               `json:"present_bytes"`
	Warnings     []string            `json:"warnings"`
}

type transferImageJSON struct {
	ID      manifest.Digest `json:"id"`
	Status  string          `json:"status"`
	Tags    []string        `json:"tags"`
	Shallow bool            `json:"shallow"`
	Error   *string         `json:"error"`
}

func reportJSON(rep *transfer.Report) transferJSON {
	out := transferJSON{
		Images: []transferImageJSON{}, Blobs: rep.Blobs, Bytes: rep.Bytes,
		PresentBlobs: rep.PresentBlobs, PresentBytes: rep.PresentBytes, Warnings: rep.Warnings,
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	for _, r := range rep.Images {
		img := transferImageJSON{ID: r.ID, Status: string(r.Status), Tags: r.Tags, Shallow: r.Shallow}
		if img.Tags == nil {
			img.Tags = []string{}
		}
		if r.Err != nil {
			msg := oneLine(r.Err)
			img.Error = &msg
		}
		out.Images = append(out.Images, img)
	}
	return out
}

// writeReport prints rep, as JSON or for people, and returns the error
// that sums up its failures. verb says what was done ("imported",
// "exported", "pushed", "pulled"); where names the other side.
func writeReport(c *cli.Context, rep *transfer.Report, verb, where string) error {
	return writeReportTo(c, rep, verb, where, false)
}

// writeReportTo is writeReport; toStderr sends what goes to standard
// output to standard error instead, when standard output carries data (a
// tar).
func writeReportTo(c *cli.Context, rep *transfer.Report, verb, where string, toStderr bool) error {
	out, errw := c.App.Writer, c.App.ErrWriter
	if toStderr {
		out = errw
	}
	if c.Bool("json") {
		if err := writeJSON(out, reportJSON(rep)); err != nil {
			return err
		}
		return rep.Err()
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(errw, "pf: warning: %s\n", w)
	}
	for _, r := range rep.Images {
		switch r.Status {
		case transfer.Imported:
			line := fmt.Sprintf("%s %s", verb, r.ID)
			for _, t := range r.Tags {
				line += " " + t
			}
			if r.Shallow {
				line += "  (without its parents: they are not here)"
			}
			fmt.Fprintln(out, line)
		case transfer.Failed:
			fmt.Fprintf(errw, "pf: %s: not %s: %s\n", r.ID, verb, oneLine(r.Err))
		}
	}
	moved := rep.Count(transfer.Imported)
	present := rep.Count(transfer.Present)
	switch {
	case moved == 0 && rep.Count(transfer.Failed) == 0:
		fmt.Fprintf(out, "nothing new: %s %s already\n", plural(present, "image is", "images are"), where)
	default:
		fmt.Fprintf(out, "%s %s, %s (%s)", verb, plural(moved, "image", "images"), plural(rep.Blobs, "blob", "blobs"), humanBytes(rep.Bytes))
		if present > 0 || rep.PresentBlobs > 0 {
			fmt.Fprintf(out, "; %s and %s %s already", plural(present, "image", "images"), plural(rep.PresentBlobs, "blob", "blobs"), where)
		}
		fmt.Fprintln(out)
	}
	return rep.Err()
}

// transferProgress draws a transfer's progress on a terminal: a bar of
// the blobs moved out of those planned, and a bar of bytes for each blob
// on its way (a few move at once).
type transferProgress struct {
	d     *lines.Display
	total *lines.Line

	mu      sync.Mutex
	planned int64
}

func newTransferProgress(c *cli.Context, label string) transfer.Observer {
	inv := invocationOf(c)
	if !inv.Terminal {
		return nil
	}
	d := lines.New(inv.Stderr)
	return &transferProgress{d: d, total: d.Bar(label, 0, lines.Items)}
}

func (t *transferProgress) Planned(blobs int, _ int64) {
	t.mu.Lock()
	t.planned += int64(blobs)
	t.total.SetTotal(t.planned)
	t.mu.Unlock()
}

func (t *transferProgress) Moving(d manifest.Digest, size int64) func(int64) {
	bar := t.d.Bar("  "+d.Short(), max(size, 0), lines.Bytes)
	return func(n int64) {
		if n < 0 {
			bar.Done()
			t.total.Add(1)
			return
		}
		bar.Add(n)
	}
}

func (t *transferProgress) Done(transfer.ImageResult) {}

// clearProgress erases the lines before the report is printed.
func clearProgress(o transfer.Observer) {
	if t, ok := o.(*transferProgress); ok {
		t.d.Close()
	}
}

// transferMemoryLimit is the Go heap a transfer keeps to. A transfer
// streams through buffers it reuses: a pull of large blobs holds about
// 60 MiB (the chunkers and the chunks staged and being written, the zstd
// decoders of the blobs moving at once), and bbolt's copy of each write
// is the garbage. Without a limit the collector would let the heap grow
// to twice what it holds (GOGC) and a 2 GiB blob's pull would pass the
// 128 MiB of RSS a transfer must stay under; with a limit close to what
// it holds, the collector runs without end and gives memory back to the
// system that the next write faults in again (a 32 MiB limit made a pull
// of 1 GiB four times slower). At this limit, a 2 GiB blob's pull peaks
// near 110 MiB of RSS (TestTransfer_LargeBlob_BoundedMemory).
const transferMemoryLimit = 96 << 20

// boundedCommands are the commands boundMemory bounds from their start to
// their end (clone pulls under it, then checks out without it).
var boundedCommands = map[string]bool{"push": true, "pull": true, "import": true, "export": true}

// boundedByLimit reports whether command c runs under boundMemory's limit:
// a transfer pf serve does not run. Its stores then take no heap hold
// (pf.Options.HeapHeadroom): the fixed limit bounds its puts already, and
// a hold that lowers the limit under it, or moves it at every blob, made
// a pull of 1 GiB (64 blobs of 16 MiB) cost 7% more CPU (6.43 against
// 5.99 s, whole processes in pairs, peak RSS 102.7 MiB either way).
func boundedByLimit(c *cli.Context) bool {
	return invocationOf(c).served == nil && c.Command != nil && boundedCommands[c.Command.Name]
}

// boundMemory sets the soft memory limit for a transfer, unless the
// process has a lower one (GOMEMLIMIT), and returns what puts the limit
// back. The limit is the whole process's: a command that pf serve runs
// beside others leaves it alone, or it would make every other command
// collect garbage as often, and restore a limit another transfer set.
func boundMemory(c *cli.Context) (restore func()) {
	if invocationOf(c).served != nil {
		return func() {}
	}
	old := debug.SetMemoryLimit(-1)
	if old <= transferMemoryLimit {
		return func() {}
	}
	debug.SetMemoryLimit(transferMemoryLimit)
	return func() { debug.SetMemoryLimit(old) }
}
