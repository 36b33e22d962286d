package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// A RunRequest is a pf command line that another process asks the server
// to run for it, as that process would run it itself: in its working
// directory, with its environment, its standard streams and its terminal.
type RunRequest struct {
	Version  int      `json:"version"` // ProtocolVersion
	Args     []string `json:"args"`    // the command line, program name first
	Dir      string   `json:"dir"`     // the working directory, absolute
	Env      []string `json:"env"`     // KEY=VALUE
	Terminal bool     `json:"terminal"`
	Pid      int      `json:"pid"` // the client's, for the server's log
}

// Stdio is the standard streams of a command run for a client: what the
// command reads from Stdin is read from the client's standard input when
// it asks, not before, so a command that reads nothing takes nothing.
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// A RunFunc runs a command line for a client and returns its exit status.
// ctx is cancelled when the client is interrupted or goes away, and when
// the server stops past its grace period.
type RunFunc func(ctx context.Context, req *RunRequest, stdio Stdio) int

// maxRequest bounds a RunRequest's JSON: the environment is most of it.
const maxRequest = 4 << 20

// exitInternal is the status of a command that panicked in the server.
const exitInternal = 1

// handleCLI runs one command line for a pf process: POST /cli, upgraded
// to the CLI's protocol (frame.go). Only the unix socket routes it here:
// a command reads and writes the files its user names.
func (s *Server) handleCLI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		httpError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	if s.Run == nil {
		httpError(w, http.StatusNotFound, "this server runs no command lines")
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), CLIUpgrade) {
		w.Header().Set("Upgrade", CLIUpgrade)
		httpError(w, http.StatusUpgradeRequired, "the CLI's route speaks "+CLIUpgrade)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		httpError(w, http.StatusInternalServerError, "connection cannot be upgraded")
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + CLIUpgrade + "\r\n\r\n")
	if rw.Flush() != nil {
		return
	}
	// The request context of a hijacked connection lives until this
	// handler returns; the server's own context ends it sooner.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.runCtx, cancel)
	defer stop()
	sess := &session{conn: conn, in: rw.Reader, cancel: cancel}
	sess.out = newOutMux(conn)
	sess.serve(ctx, s)
}

// session is the server's side of one CLI connection.
type session struct {
	conn   net.Conn
	in     *bufio.Reader
	out    *outMux
	cancel context.CancelFunc
	stdin  *remoteStdin
}

func (sess *session) serve(ctx context.Context, s *Server) {
	sess.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, payload, err := readFrame(sess.in, maxRequest)
	if err != nil || kind != frameRequest {
		return
	}
	var req RunRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		sess.fail(fmt.Sprintf("pf: pf serve: malformed request: %v\n", err))
		return
	}
	if req.Version == ProtocolVersion {
		kind, payload, err = readFrame(sess.in, maxRequest)
		if err != nil {
			return
		}
		if err := req.decode(payload); kind != frameRunArgs || err != nil {
			sess.fail("pf: pf serve: malformed request\n")
			return
		}
	}
	sess.conn.SetReadDeadline(time.Time{})
	switch {
	case req.Version != ProtocolVersion && req.Version != 1:
		sess.fail(fmt.Sprintf("pf: pf serve (pid %d) speaks version %d of the CLI's protocol, this pf version %d: restart pf serve with this pf\n", s.pid, ProtocolVersion, req.Version))
		return
	case len(req.Args) == 0 || !filepath.IsAbs(req.Dir):
		sess.fail("pf: pf serve: a request needs a command line and an absolute working directory\n")
		return
	}
	if err := sess.out.frame(frameStarted, nil, true); err != nil {
		return
	}
	sess.stdin = &remoteStdin{sess: sess, ctx: ctx, ch: make(chan stdinChunk, 1)}
	go sess.readClient()

	start := time.Now()
	s.commands.Add(1)
	code := sess.run(ctx, s.Run, &req)
	s.commands.Add(-1)
	s.events.poke()
	s.logf("pid %d: %s -> exit %d (%v)", req.Pid, strings.Join(req.Args, " "), code, time.Since(start).Round(time.Millisecond))
	sess.out.frame(frameExit, uint32Payload(uint32(int32(code))), true)
}

// run runs the command, turning a panic into a failed command rather
// than a dead server.
func (sess *session) run(ctx context.Context, run RunFunc, req *RunRequest) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stdStream{sess.out, frameStderr}, "pf: internal error: %v\n%s", r, debug.Stack())
			code = exitInternal
		}
	}()
	return run(ctx, req, Stdio{
		Stdin:  sess.stdin,
		Stdout: stdStream{sess.out, frameStdout},
		Stderr: stdStream{sess.out, frameStderr},
	})
}

// fail ends a request the server will not run, saying why on stderr.
func (sess *session) fail(msg string) {
	sess.out.frame(frameStarted, nil, false)
	sess.out.frame(frameStderr, []byte(msg), false)
	sess.out.frame(frameExit, uint32Payload(2), true)
}

// readClient reads what the client sends while the command runs: its
// standard input, when asked for, and interrupts. The client closing the
// connection interrupts the command too.
func (sess *session) readClient() {
	for {
		kind, payload, err := readFrame(sess.in, maxFrame)
		if err != nil {
			sess.stdin.deliver(stdinChunk{err: errClientGone})
			sess.cancel()
			return
		}
		switch kind {
		case frameStdin:
			sess.stdin.deliver(stdinChunk{data: payload})
		case frameStdinEnd:
			err := io.EOF
			if len(payload) > 0 {
				err = errors.New(string(payload))
			}
			sess.stdin.deliver(stdinChunk{err: err})
		case frameInterrupt:
			sess.cancel()
		}
	}
}

var errClientGone = errors.New("the client went away")

// outMux writes the frames of a session's output: buffered, so that a
// command writing many short lines sends few packets, and flushed soon
// after (flushDelay), at once for stderr and before the command waits for
// input.
type outMux struct {
	mu    sync.Mutex
	conn  net.Conn
	bw    *bufio.Writer
	err   error
	timer *time.Timer
	armed bool
}

const flushDelay = 5 * time.Millisecond

func newOutMux(conn net.Conn) *outMux {
	o := &outMux{conn: conn, bw: bufio.NewWriterSize(conn, 64<<10)}
	o.timer = time.AfterFunc(time.Hour, o.flushLater)
	o.timer.Stop()
	return o
}

func (o *outMux) frame(kind byte, p []byte, flush bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	for first := true; first || len(p) > 0; first = false {
		n := min(len(p), maxFrame)
		if o.err = writeFrame(o.bw, kind, p[:n]); o.err != nil {
			return o.err
		}
		p = p[n:]
	}
	switch {
	case flush:
		o.err = o.bw.Flush()
	case !o.armed:
		o.armed = true
		o.timer.Reset(flushDelay)
	}
	return o.err
}

func (o *outMux) flushLater() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.armed = false
	if o.err == nil {
		o.err = o.bw.Flush()
	}
}

// stdStream is the command's stdout or stderr.
type stdStream struct {
	out  *outMux
	kind byte
}

func (w stdStream) Write(p []byte) (int, error) {
	if err := w.out.frame(w.kind, p, w.kind == frameStderr); err != nil {
		return 0, err
	}
	return len(p), nil
}

// remoteStdin is the command's standard input: each Read with nothing
// buffered asks the client for up to stdinAsk bytes and waits for them.
type remoteStdin struct {
	sess *session
	ctx  context.Context
	ch   chan stdinChunk
	mu   sync.Mutex
	buf  []byte
	err  error
}

type stdinChunk struct {
	data []byte
	err  error
}

const stdinAsk = 256 << 10

func (in *remoteStdin) deliver(c stdinChunk) {
	select {
	case in.ch <- c:
	default: // unasked for: the client broke the protocol
		in.sess.cancel()
	}
}

func (in *remoteStdin) Read(p []byte) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if len(in.buf) == 0 {
		if in.err != nil {
			return 0, in.err
		}
		if err := in.sess.out.frame(frameRead, uint32Payload(uint32(max(len(p), stdinAsk))), true); err != nil {
			return 0, err
		}
		select {
		case c := <-in.ch:
			in.buf, in.err = c.data, c.err
		case <-in.ctx.Done():
			in.err = in.ctx.Err()
		}
		if len(in.buf) == 0 {
			return 0, in.err
		}
	}
	n := copy(p, in.buf)
	in.buf = in.buf[n:]
	return n, nil
}
