//go:build unix

package worktree

import "golang.org/x/sys/unix"

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
// time. Held, that work is done here, beside the restore's writes, and
// what is left when the restore returns after it (pf serve), or as the
// process exits. The files are gone from the tree either way: only the
// freeing of their space comes later.
type lateCloser struct {
	fds chan int
}

func newLateCloser() *lateCloser {
	c := &lateCloser{fds: make(chan int, maxHeldReplaced)}
	go func() {
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
	default:
		unix.Close(fd)
	}
}

// stop lets the goroutine end once it has closed what it was given.
func (c *lateCloser) stop() { close(c.fds) }
