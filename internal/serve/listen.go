package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
)

// maxSocketPath is the longest unix socket path every platform takes
// (sun_path is 104 bytes on macOS and the BSDs, 108 on Linux, with a NUL).
const maxSocketPath = 103

// ListenUnix listens on a unix socket at path, mode 0600. A socket file
// that no server answers on (left by a server that was killed) is
// replaced; a live one, or a file that is not a socket, is an error.
func ListenUnix(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is %d bytes, longer than unix sockets allow (%d): name a shorter one with --socket", path, len(path), maxSocketPath)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: pf serve leaves it alone; name another with --socket", path)
		}
		if conn, err := net.DialTimeout("unix", path, dialTimeout); err == nil {
			conn.Close()
			return nil, fmt.Errorf("%s: another pf serve answers on it", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove the stale socket %s: %w", path, err)
		}
	}
	l, err := listenPrivate(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o600); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}
