package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A Holder is the process that holds a store's lock, as far as the system
// says (only Linux does: PID is 0 elsewhere).
type Holder struct {
	PID     int
	Command string // its command line, shortened: "pf snapshot --fs-root ."
}

func (h Holder) String() string {
	switch {
	case h.PID == 0:
		return "another process"
	case h.Command == "":
		return fmt.Sprintf("pid %d", h.PID)
	}
	return fmt.Sprintf("pid %d (%s)", h.PID, h.Command)
}

// firstTry is how long an open tries for the lock before it looks at who
// holds it: long enough for bbolt's first retry, short enough that a
// person sees at once why pf waits.
const firstTry = 100 * time.Millisecond

// waitStep is the longest bbolt waits for the lock at a time, between
// looks at the context.
const waitStep = 250 * time.Millisecond

// lockWait opens bbolt files of one store open until a deadline, telling
// waiting once, when it finds the lock held, who holds it. A lock this
// very process holds (a second Open of the same store) fails at once: no
// wait would end it.
type lockWait struct {
	ctx      context.Context
	path     string
	deadline time.Time
	waiting  func(Holder)
	looked   bool
}

func newLockWait(ctx context.Context, path string, timeout time.Duration, waiting func(Holder)) *lockWait {
	return &lockWait{ctx: ctx, path: path, deadline: time.Now().Add(timeout), waiting: waiting}
}

func (l *lockWait) open(readOnly bool, mmap int) (*bolt.DB, error) {
	for {
		if err := l.ctx.Err(); err != nil {
			return nil, fmt.Errorf("open store %s: %w", l.path, err)
		}
		// bbolt's wait cannot be cut short: wait in steps, looking at
		// ctx between them. (bbolt takes a timeout of 0 as forever.)
		step := min(max(time.Until(l.deadline), time.Nanosecond), waitStep)
		if !l.looked {
			step = min(step, firstTry)
		}
		bdb, err := openBolt(l.path, step, readOnly, mmap)
		if !errors.Is(err, ErrBusy) {
			return bdb, err
		}
		h, _ := holderOf(l.path)
		if h.PID == os.Getpid() {
			return nil, fmt.Errorf("open store %s: %w: this process has it open already (use that *pf.Store, or close it first)", l.path, ErrBusy)
		}
		if !time.Now().Before(l.deadline) {
			return nil, fmt.Errorf("open store %s: %w (held by %s)", l.path, ErrBusy, h)
		}
		if !l.looked {
			l.looked = true
			if l.waiting != nil {
				l.waiting(h)
			}
		}
	}
}
