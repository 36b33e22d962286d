package db

import (
	"context"
	"fmt"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many callers share one transaction, so one failing
// function costs a bounded retry.
const maxGroup = 256

type call struct {
	ctx  context.Context
	fn   func(*bolt.Tx) error
	done chan error
}

// commitLoop takes whatever callers are waiting and commits them
// together: with many writers it pays one pair of fsyncs for all of them
// (no batching delay, unlike bolt.DB.Batch). A caller that finds no commit
// running and none waiting commits on its own goroutine (commitNow).
func (d *DB) commitLoop() {
	defer close(d.done)
	debug.SetPanicOnFault(true) // see safeView
	for first := range d.commits {
		d.committing.Lock()
		group := []*call{first}
	drain:
		for len(group) < maxGroup {
			select {
			case c, ok := <-d.commits:
				if !ok {
					break drain
				}
				group = append(group, c)
			default:
				break drain
			}
		}
		d.commitGroup(group)
		d.committing.Unlock()
	}
}

// commitNow commits c on the caller's goroutine, and reports that it did,
// when no commit is running and no caller waits: the lone writer, as a
// snapshot is, then skips handing its call to the commit loop and being
// handed the outcome back, which cost its commit about 30 us of the 200
// around bbolt's own (the two wake-ups, on another core as often as not).
// Callers that come while it commits wait for the loop, which groups them.
func (d *DB) commitNow(c *call) bool {
	if !d.committing.TryLock() {
		return false
	}
	defer d.committing.Unlock()
	if len(d.commits) > 0 {
		return false // callers before this one go first, in the loop's group
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // see safeView
	d.commitGroup([]*call{c})
	return true
}

func (d *DB) commitGroup(group []*call) {
	for len(group) > 0 {
		live := group[:0]
		for _, c := range group {
			if err := c.ctx.Err(); err != nil {
				c.done <- err
				continue
			}
			live = append(live, c)
		}
		group = live
		if len(group) == 0 {
			return
		}
		failed, err := d.try(group)
		if failed < 0 {
			for _, c := range group {
				c.done <- err
			}
			return
		}
		// One function failed: the transaction is gone, so report its
		// error and run the rest again without it.
		group[failed].done <- err
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// try runs the group in one transaction. It returns the index of the first
// function that failed with that function's error, or -1 and the commit's
// outcome.
func (d *DB) try(group []*call) (failed int, err error) {
	tx, err := d.bolt.Begin(true)
	if err != nil {
		return -1, err
	}
	for i, c := range group {
		if err := runFn(c.fn, tx); err != nil {
			_ = tx.Rollback()
			return i, err
		}
	}
	return -1, commit(tx)
}

func runFn(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in store update: %v", r)
		}
	}()
	return fn(tx)
}

func commit(tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: committing: %v", ErrCorrupt, r)
		}
	}()
	return tx.Commit()
}
