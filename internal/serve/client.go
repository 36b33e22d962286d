package serve

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// ErrNoServer means that nothing ran: no server listens on the socket (a
// socket a killed server left behind included), or it is stopping. The
// caller runs the command itself.
var ErrNoServer = errors.New("no pf serve answers")

// dialTimeout bounds the connect: a unix socket either answers at once or
// has no server behind it.
const dialTimeout = 2 * time.Second

// Forward runs req on the server listening on socket: it relays the
// command's standard streams (stdin only as the command reads it) and
// returns the command's exit status. Cancelling ctx interrupts the
// command, as SIGINT would in process; Forward still waits for it to end.
func Forward(ctx context.Context, socket string, req *RunRequest, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	// Most commands run with no server: a missing socket says so without
	// starting the network poller that a dial needs.
	if _, err := os.Lstat(socket); errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: no socket %s", ErrNoServer, socket)
	}
	conn, err := net.DialTimeout("unix", socket, dialTimeout)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoServer, err)
	}
	defer conn.Close()
	req.Version = ProtocolVersion
	// The HTTP request and the RunRequest's frames go in one write: the
	// server reads the frames from what it buffered with the request.
	var w writeLocked
	w.w = bufio.NewWriter(conn)
	w.w.WriteString("POST /cli HTTP/1.1\r\nHost: pf\r\nConnection: Upgrade\r\nUpgrade: " + CLIUpgrade + "\r\nContent-Length: 0\r\n\r\n")
	writeFrame(w.w, frameRequest, versionJSON)
	if err := w.frame(frameRunArgs, req.encode(nil)); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoServer, err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoServer, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return 0, fmt.Errorf("%w: %s", ErrNoServer, msg)
		}
		return 0, fmt.Errorf("pf serve at %s: %s: %s", socket, resp.Status, msg)
	}
	kind, _, err := readFrame(br, maxFrame)
	if err != nil || kind != frameStarted {
		// The server closed the connection before it ran anything: it
		// is stopping.
		return 0, fmt.Errorf("%w: the connection closed before the command started", ErrNoServer)
	}

	// From here on the command runs: it ends with an exit status or a
	// lost connection, never falls back.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			w.frame(frameInterrupt, nil)
		case <-done:
		}
	}()
	pump := &stdinPump{r: stdin, w: &w, asks: make(chan int, 1)}
	var startPump sync.Once
	for {
		kind, payload, err := readFrame(br, maxFrame)
		if err != nil {
			return 0, fmt.Errorf("lost the connection to pf serve at %s while it ran the command (it may or may not have finished): %v", socket, err)
		}
		switch kind {
		case frameStdout:
			stdout.Write(payload)
		case frameStderr:
			stderr.Write(payload)
		case frameRead:
			if len(payload) == 4 {
				startPump.Do(func() { go pump.run(done) })
				pump.asks <- int(binary.BigEndian.Uint32(payload))
			}
		case frameExit:
			if len(payload) == 4 {
				return int(int32(binary.BigEndian.Uint32(payload))), nil
			}
		}
	}
}

// writeLocked serializes the client's frames: the stdin pump and the
// interrupt write from their own goroutines.
type writeLocked struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (w *writeLocked) frame(kind byte, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := writeFrame(w.w, kind, p); err != nil {
		return err
	}
	return w.w.Flush()
}

// stdinPump reads standard input only when the command asks, one read
// per ask, so that a command that reads nothing leaves the input to
// whoever reads it next (a shell loop's next line).
type stdinPump struct {
	r    io.Reader
	w    *writeLocked
	asks chan int
}

func (p *stdinPump) run(done <-chan struct{}) {
	for {
		var n int
		select {
		case n = <-p.asks:
		case <-done:
			return
		}
		buf := make([]byte, min(max(n, 1), maxFrame))
		k, err := p.r.Read(buf)
		if k > 0 {
			if p.w.frame(frameStdin, buf[:k]) != nil {
				return
			}
			continue
		}
		msg := ""
		if err != nil && !errors.Is(err, io.EOF) {
			msg = err.Error()
		}
		if err == nil {
			// A Read of nothing and no error: ask again.
			select {
			case p.asks <- n:
			default:
			}
			continue
		}
		if p.w.frame(frameStdinEnd, []byte(msg)) != nil {
			return
		}
	}
}

// Ping asks the server on socket who it is.
func Ping(socket string) (Info, error) {
	c := &http.Client{
		Timeout: dialTimeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
	defer c.CloseIdleConnections()
	var info Info
	resp, err := c.Get("http://pf/api/v1/info")
	if err != nil {
		return info, fmt.Errorf("%w: %v", ErrNoServer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("%w: %s", ErrNoServer, resp.Status)
	}
	return info, json.NewDecoder(resp.Body).Decode(&info)
}
