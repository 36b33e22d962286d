package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/dustin/go-humanize"
	lines "github.com/processfork/pf/internal/progress"
	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

// progress is a command's line of progress (package internal/progress
// draws it), shown only when the invocation's stderr is a terminal:
// scripts and logs see nothing of it. A nil *progress draws nothing, so
// callers need not check.
type progress struct {
	w     io.Writer
	label string

	mu   sync.Mutex
	d    *lines.Display
	line *lines.Line
}

func newProgress(c *cli.Context, label string) *progress {
	inv := invocationOf(c)
	if !inv.Terminal {
		return nil
	}
	return &progress{w: inv.Stderr, label: label}
}

// lineOf returns the line being drawn, starting it (as a bar, or as text)
// if none is.
func (p *progress) lineOf(bar bool) *lines.Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d == nil {
		p.d = lines.New(p.w)
		if bar {
			p.line = p.d.Bar(p.label, 0, lines.Items)
		} else {
			p.line = p.d.Text(p.label)
		}
	}
	return p.line
}

// show sets the line's text.
func (p *progress) show(format string, args ...any) {
	if p != nil {
		p.lineOf(false).Status(format, args...)
	}
}

// count shows done out of total on a bar; it is the Progress callback of
// Verify.
func (p *progress) count(done, total int64) {
	if p != nil {
		p.lineOf(true).Set(done, total)
	}
}

// files is the callback of a workspace capture or checkout.
func (p *progress) files() func(worktree.Progress) {
	if p == nil {
		return nil
	}
	return func(w worktree.Progress) {
		if w.Done {
			return
		}
		rate := float64(w.Bytes) / max(w.Elapsed.Seconds(), 1e-3)
		p.show("%s files, %s, %s/s", humanize.Comma(int64(w.Files)), humanize.IBytes(uint64(w.Bytes)), humanize.IBytes(uint64(rate)))
	}
}

// filesInto is files, and also keeps the latest report in *last: the
// one with Done set has the counts for the summary line that ends a
// checkout or restore, on a terminal or not.
func (p *progress) filesInto(last *worktree.Progress) func(worktree.Progress) {
	draw := p.files()
	return func(w worktree.Progress) {
		*last = w
		if draw != nil {
			draw(w)
		}
	}
}

// printf writes a line (a warning) to w, or above the line of progress
// while one is drawn, which then goes on below it.
func (p *progress) printf(w io.Writer, format string, args ...any) {
	if p != nil {
		p.mu.Lock()
		d := p.d
		p.mu.Unlock()
		if d != nil {
			d.Printf(format, args...)
			return
		}
	}
	fmt.Fprintf(w, format, args...)
}

// clear erases the line, when the work is done. A later show or count
// draws a new one.
func (p *progress) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	d := p.d
	p.d, p.line = nil, nil
	p.mu.Unlock()
	d.Close()
}
