//go:build unix

package serve

import (
	"net"
	"syscall"
)

// listenPrivate binds the socket with umask 0177, so that it is never
// open to others, not even between bind and chmod. pf serve binds before
// it starts anything else that creates files.
func listenPrivate(path string) (net.Listener, error) {
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return net.Listen("unix", path)
}
