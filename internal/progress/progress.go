// Package progress draws the progress of long work on a terminal: a line
// per piece of work, redrawn in place while it runs and erased when it
// ends (github.com/vbauerster/mpb/v8 draws them, several at once). It is
// the one progress display of pf and pf-bench.
//
// The caller decides whether to draw at all: New(nil) returns a nil
// *Display, whose lines are nil *Lines, and every method of both does
// nothing. Code that reports progress need not know whether anyone looks.
package progress

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// A Display draws lines of progress on one terminal.
type Display struct {
	p      *mpb.Progress
	mu     sync.Mutex
	lines  []*Line
	closed bool
}

// refresh is how often the lines are redrawn.
const refresh = 120 * time.Millisecond

// New draws on w, which the caller knows to be a terminal (pf asks the
// invocation; a server forwarding a command draws on its client's). A nil
// w draws nothing.
func New(w io.Writer) *Display {
	if w == nil {
		return nil
	}
	// Forced: w may be a terminal that is not an *os.File of this
	// process; the lines are then drawn 80 columns wide.
	cw := console{cupwriter.New(w, true)}
	return &Display{p: mpb.New(mpb.WithConsoleWriter(cw), mpb.WithAutoRefresh(), mpb.WithRefreshRate(refresh))}
}

// console writes to the terminal as mpb's own does, but takes a terminal
// that reports no size (a pseudo-terminal that no one sized, as under
// script(1) or an editor's shell) as 80 columns wide, where mpb would
// draw lines of no width, that is nothing.
type console struct{ *cupwriter.Writer }

func (c console) GetTermSize() (width, height int, err error) {
	width, height, err = c.Writer.GetTermSize()
	if err != nil || width <= 0 || height <= 0 {
		return 80, 24, nil
	}
	return width, height, nil
}

// Unit is what a line counts.
type Unit int

const (
	Items Unit = iota // things: files, images, blobs
	Bytes             // bytes, shown in binary units with a rate
)

// A Line shows one piece of work: its label, then either a bar filling
// towards a total with the counts, or a free status text.
type Line struct {
	b      *mpb.Bar
	unit   Unit
	start  time.Time
	status atomic.Pointer[string]
}

// Bar adds a line with a bar that fills as Set and Add report progress
// towards total, which may be zero until SetTotal knows it.
func (d *Display) Bar(label string, total int64, unit Unit) *Line {
	l := &Line{unit: unit, start: time.Now()}
	if !d.add(l) {
		return nil
	}
	// Created with no total, so that reaching the total does not end the
	// line: Done does.
	l.b = d.p.New(0, mpb.BarStyle(),
		mpb.BarWidth(30),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(label)),
		mpb.AppendDecorators(decor.Any(l.counts)))
	if total > 0 {
		l.b.SetTotal(total, false)
	}
	return l
}

// Text adds a line that shows label, the time since it was added, and
// what Status last said.
func (d *Display) Text(label string) *Line {
	l := &Line{start: time.Now()}
	if !d.add(l) {
		return nil
	}
	l.b = d.p.New(0, mpb.NopStyle(),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(label+" "), decor.Elapsed(decor.ET_STYLE_MMSS),
			decor.Any(func(decor.Statistics) string { return " " + l.text() })))
	return l
}

// add keeps l for Close; it reports false, and l is not to be drawn, when
// there is no display or it is closed.
func (d *Display) add(l *Line) bool {
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.lines = append(d.lines, l)
	return true
}

// Printf writes a line of text above the lines of progress, which go on
// below it: for a warning while work runs.
func (d *Display) Printf(format string, args ...any) {
	if d == nil {
		return
	}
	fmt.Fprintf(d.p, format, args...)
}

// Close erases every line still shown and stops drawing. Call it before
// writing the result of the work; calling it again does nothing.
func (d *Display) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	lines, closed := d.lines, d.closed
	d.lines, d.closed = nil, true
	d.mu.Unlock()
	if closed {
		return
	}
	for _, l := range lines {
		l.Done()
	}
	d.p.Wait()
}

// SetTotal sets what the bar fills towards.
func (l *Line) SetTotal(total int64) {
	if l != nil {
		l.b.SetTotal(total, false)
	}
}

// Set reports how much is done, and the total.
func (l *Line) Set(done, total int64) {
	if l != nil {
		l.b.SetTotal(total, false)
		l.b.SetCurrent(done)
	}
}

// Add reports n more done.
func (l *Line) Add(n int64) {
	if l != nil {
		l.b.IncrInt64(n)
	}
}

// Status sets the line's text; on a bar, it stands in for the counts.
func (l *Line) Status(format string, args ...any) {
	if l != nil {
		s := fmt.Sprintf(format, args...)
		l.status.Store(&s)
	}
}

// Done erases the line.
func (l *Line) Done() {
	if l != nil {
		l.b.Abort(true)
	}
}

// maxStatus bounds a status, in runes, so that a line fits a terminal:
// one that wraps would throw off the redrawing.
const maxStatus = 80

func (l *Line) text() string {
	s := l.status.Load()
	if s == nil {
		return ""
	}
	if r := []rune(*s); len(r) > maxStatus {
		return string(r[:maxStatus-3]) + "..."
	}
	return *s
}

// counts is a bar's text: its status if it has one, else how much of the
// total is done.
func (l *Line) counts(s decor.Statistics) string {
	if t := l.text(); t != "" {
		return t
	}
	done, total := s.Current, s.Total
	if l.unit == Bytes {
		rate := float64(done) / max(time.Since(l.start).Seconds(), 1e-3)
		out := humanize.IBytes(uint64(done))
		if total > 0 {
			out += " / " + humanize.IBytes(uint64(total))
		}
		return out + ", " + humanize.IBytes(uint64(rate)) + "/s"
	}
	if total > 0 {
		return fmt.Sprintf("%s/%s (%d%%)", humanize.Comma(done), humanize.Comma(total), 100*done/total)
	}
	return humanize.Comma(done)
}
