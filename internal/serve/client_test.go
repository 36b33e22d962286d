package serve

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestForward_NoServer: with nothing listening on the socket, Forward
// runs nothing and says ErrNoServer, whether the socket file is missing
// (checked without a dial), is not a socket, or was left by a server
// that is gone.
func TestForward_NoServer(t *testing.T) {
	tests := []struct {
		name   string
		socket func(t *testing.T, path string)
	}{
		{"no socket file", func(*testing.T, string) {}},
		{"a regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"a socket left behind", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			l.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			socket := filepath.Join(t.TempDir(), "store.pf.sock")
			tt.socket(t, socket)
			var stdout, stderr bytes.Buffer
			req := &RunRequest{Args: []string{"pf", "log"}}
			code, err := Forward(context.Background(), socket, req, strings.NewReader(""), &stdout, &stderr)
			if !errors.Is(err, ErrNoServer) {
				t.Fatalf("Forward: %v, want ErrNoServer", err)
			}
			if code != 0 || stdout.Len() != 0 || stderr.Len() != 0 {
				t.Errorf("Forward ran something: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
			}
		})
	}
}
