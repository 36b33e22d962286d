package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress draws a one-line counter on stderr while long work runs, and
// only when stderr is a terminal: scripts and logs see nothing of it.
type progress struct {
	w     io.Writer
	label string
	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, label string) *progress {
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progress{w: w, label: label}
}

// update redraws at most ten times a second.
func (p *progress) update(done, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	if total > 0 {
		fmt.Fprintf(p.w, "\r%s: %d/%d (%d%%)\x1b[K", p.label, done, total, 100*done/max(total, 1))
	} else {
		fmt.Fprintf(p.w, "\r%s: %d\x1b[K", p.label, done)
	}
	p.drawn = true
}

// done clears the line.
func (p *progress) done() {
	if p == nil || !p.drawn {
		return
	}
	fmt.Fprint(p.w, "\r\x1b[K")
}
