package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/processfork/pf/worktree"
	"github.com/urfave/cli/v2"
)

// progress draws one line on stderr while long work runs, and only when
// stderr is a terminal: scripts and logs see nothing of it. A nil
// *progress draws nothing, so callers need not check.
type progress struct {
	w     io.Writer
	label string
	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func newProgress(c *cli.Context, label string) *progress {
	inv := invocationOf(c)
	if !inv.Terminal {
		return nil
	}
	return &progress{w: inv.Stderr, label: label}
}

// show redraws the line, at most ten times a second.
func (p *progress) show(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r%s: %s\x1b[K", p.label, fmt.Sprintf(format, args...))
	p.drawn = true
}

// count shows done out of total.
func (p *progress) count(done, total int64) {
	if total > 0 {
		p.show("%d/%d (%d%%)", done, total, 100*done/total)
	} else {
		p.show("%d", done)
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
		p.show("%d files, %s, %s/s", w.Files, humanBytes(w.Bytes), humanBytes(int64(rate)))
	}
}

// clear erases the line, before a warning or when the work is done.
func (p *progress) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
