//go:build !unix

package serve

import "net"

// listenPrivate binds the socket; Windows has no umask, and its unix
// sockets take the directory's access rules.
func listenPrivate(path string) (net.Listener, error) { return net.Listen("unix", path) }
