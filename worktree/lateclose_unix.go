//go:build unix

package worktree

import (
	"sync"

	"golang.org/x/sys/unix"
)

// maxHeldReplaced bounds the descriptors a restore holds at once on
// files it replaced or removed: past it, one is closed where it was
// released, as if it had not been held.
const maxHeldReplaced = 256

// A lateCloser closes, on a goroutine of its own, the descriptors that a
// restore held on the files it replaced or removed (see holdReplaced).
// The last link of a file gone, the kernel frees its inode and blocks as
// its last descriptor closes: without one held, inside the rename or
// unlink that drops the link, under the directory's lock and a journal
// handle, about 1 ms a file on ext4 and most of a restore's writing
// time. Held, that work waits until the restore has written its files
// (stop), or until half of maxHeldReplaced wait: freed beside the writes,
// the inodes took a third of a served restore's CPU on two cores, and
// (with the discard mount option) its blocks' discards queued behind the
// writes' I/O. What is left when the restore returns is freed after it
// (pf serve), or as the process exits. The files are gone from the tree
// either way: only the freeing of their space comes later.
type lateCloser struct {
	fds   chan int
	begin chan struct{} // closed when the goroutine may start closing
	once  sync.Once
}

func newLateCloser() *lateCloser {
	c := &lateCloser{fds: make(chan int, maxHeldReplaced), begin: make(chan struct{})}
	go func() {
		<-c.begin
		for fd := range c.fds {
			unix.Close(fd)
		}
	}()
	return c
}

// release closes fd, a descriptor holdReplaced returned, later; -1 is
// none.
func (c *lateCloser) release(fd int) {
	if fd < 0 {
		return
	}
	if c == nil {
		unix.Close(fd)
		return
	}
	select {
	case c.fds <- fd:
		if len(c.fds) >= maxHeldReplaced/2 {
			c.start()
		}
	default:
		unix.Close(fd)
	}
}

// start lets the goroutine close what it holds, and what comes after.
func (c *lateCloser) start() { c.once.Do(func() { close(c.begin) }) }

// stop lets the goroutine end once it has closed what it was given.
func (c *lateCloser) stop() {
	c.start()
	close(c.fds)
}
