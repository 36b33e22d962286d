package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/processfork/pf/internal/serve"
)

// served is a pf serve process of the tests, on a store of its own.
type served struct {
	t      *testing.T
	bin    string
	store  string
	cmd    *exec.Cmd
	out    syncBuffer    // what the server prints; written while the tests read it
	exited chan struct{} // closed when the process has exited
	err    error         // how it exited
}

// syncBuffer is a buffer that one goroutine writes while another reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// startServe inits a store in a temporary directory and serves it.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	srv := &served{t: t, bin: buildPF(t), store: filepath.Join(t.TempDir(), "store.pf")}
	if out, err := srv.pf("init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v %s", err, out)
	}
	srv.start(args...)
	return srv
}

func (srv *served) start(args ...string) {
	srv.t.Helper()
	srv.cmd = exec.Command(srv.bin, append([]string{"--store", srv.store, "serve"}, args...)...)
	srv.out.Reset()
	srv.cmd.Stdout, srv.cmd.Stderr = &srv.out, &srv.out
	if err := srv.cmd.Start(); err != nil {
		srv.t.Fatal(err)
	}
	exited := make(chan struct{})
	srv.exited = exited
	cmd := srv.cmd
	go func() {
		srv.err = cmd.Wait()
		close(exited)
	}()
	srv.t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	srv.waitFor("the server to answer", func(serve.Info) bool { return true })
}

// pf is a pf command on the served store.
func (srv *served) pf(args ...string) *exec.Cmd {
	return exec.Command(srv.bin, append([]string{"--store", srv.store}, args...)...)
}

// waitFor polls the server's info until ok says yes.
func (srv *served) waitFor(what string, ok func(serve.Info) bool) {
	srv.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := serve.Ping(serve.SocketPath(srv.store))
		if err == nil && ok(info) {
			return
		}
		if time.Now().After(deadline) {
			srv.t.Fatalf("waited 20s for %s: %v; server said:\n%s", what, err, srv.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (srv *served) signal(sig os.Signal) {
	if err := srv.cmd.Process.Signal(sig); err != nil {
		srv.t.Fatal(err)
	}
}

func (srv *served) wait() error {
	select {
	case <-srv.exited:
		return srv.err
	case <-time.After(30 * time.Second):
		srv.t.Fatalf("pf serve did not exit; it said:\n%s", srv.out.String())
		return nil
	}
}

// manifestOf is a valid manifest's bytes: the fixture snapshot's, read back.
func manifestOf(t *testing.T, srv *served) []byte {
	t.Helper()
	id, err := srv.pf("snapshot", "--fixture", "--seed", "7").Output()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := srv.pf("get", strings.TrimSpace(string(id))).Output()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestServe_SIGTERM_FinishesCommandsUnderWay stops a server while a
// command is under way (a snapshot of a manifest waiting for its standard
// input): the command still completes and commits, the server exits 0 and
// removes its socket, and a plain pf finds the image.
func TestServe_SIGTERM_FinishesCommandsUnderWay(t *testing.T) {
	srv := startServe(t)
	raw := manifestOf(t, srv)
	if out, err := srv.pf("gc").CombinedOutput(); err != nil { // nothing to collect: the image is committed
		t.Fatalf("gc: %v %s", err, out)
	}
	client := srv.pf("snapshot", "--manifest", "-")
	stdin, err := client.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	srv.waitFor("the command to run", func(i serve.Info) bool { return i.Commands == 1 })
	srv.signal(syscall.SIGTERM)
	// The socket goes at once: new commands run on their own (and wait
	// for the store).
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(serve.SocketPath(srv.store)); err == nil; _, err = os.Stat(serve.SocketPath(srv.store)) {
		if time.Now().After(deadline) {
			t.Fatal("the socket is still there 10s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stdin.Write(raw)
	stdin.Close()
	if err := client.Wait(); err != nil {
		t.Fatalf("the command under way: %v %s", err, out.String())
	}
	if err := srv.wait(); err != nil {
		t.Fatalf("pf serve: %v\n%s", err, srv.out.String())
	}
	log, err := srv.pf("--timeout", "50ms", "log").CombinedOutput()
	if err != nil || !strings.Contains(string(log), strings.TrimSpace(out.String())[7:19]) {
		t.Fatalf("after SIGTERM, pf log: %v\n%s\nwant the image %s", err, log, out.String())
	}
}

// TestServe_SIGTERM_GraceCancels: a command that outlasts --grace is
// cancelled, its client told so with a failed status, and the server
// stops with nothing half done.
func TestServe_SIGTERM_GraceCancels(t *testing.T) {
	srv := startServe(t, "--grace", "200ms")
	client := srv.pf("snapshot", "--manifest", "-")
	stdin, err := client.StdinPipe() // never written: the command waits
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var out bytes.Buffer
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	srv.waitFor("the command to run", func(i serve.Info) bool { return i.Commands == 1 })
	srv.signal(syscall.SIGTERM)
	err = client.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailed || !strings.HasPrefix(out.String(), "pf: ") {
		t.Fatalf("a command cancelled by the server's stop: %v %q, want exit 1 and a message", err, out.String())
	}
	if err := srv.wait(); err != nil {
		t.Fatalf("pf serve: %v\n%s", err, srv.out.String())
	}
	if out, err := srv.pf("verify").CombinedOutput(); err != nil {
		t.Fatalf("verify: %v %s", err, out)
	}
}

// TestServe_SIGKILL_UnderLoad kills the server while clients snapshot
// through it: every image a client was told was committed is in the
// store, which a plain pf opens and verifies; the next server starts over
// the stale socket.
func TestServe_SIGKILL_UnderLoad(t *testing.T) {
	srv := startServe(t)
	var (
		mu        sync.Mutex
		committed []string
		wg        sync.WaitGroup
		stop      = make(chan struct{})
	)
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				out, err := srv.pf("--timeout", "100ms", "snapshot", "--fixture", "--seed", fmt.Sprint(c*1000+i)).Output()
				if err == nil {
					mu.Lock()
					committed = append(committed, strings.TrimSpace(string(out)))
					mu.Unlock()
				}
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(committed)
		mu.Unlock()
		if n >= 8 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.signal(syscall.SIGKILL)
	srv.wait()
	close(stop)
	wg.Wait()
	if len(committed) == 0 {
		t.Fatal("no snapshot committed through the server")
	}
	if _, err := os.Stat(serve.SocketPath(srv.store)); err != nil {
		t.Fatalf("the killed server's socket: %v (the test means to leave one)", err)
	}
	if out, err := srv.pf("--timeout", "50ms", "verify").CombinedOutput(); err != nil {
		t.Fatalf("verify after SIGKILL: %v %s", err, out)
	}
	log, err := srv.pf("--timeout", "50ms", "log", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range committed {
		if !bytes.Contains(log, []byte(id)) {
			t.Errorf("image %s, committed through the server, is not in the store", id)
		}
	}
	srv.start()
	if out, err := srv.pf("--timeout", "50ms", "stats").CombinedOutput(); err != nil {
		t.Fatalf("stats through the new server: %v %s", err, out)
	}
}

// TestServe_ClientInterrupt: SIGINT to a pf process whose command runs in
// the server cancels that command, as it would in process, and nothing
// else.
func TestServe_ClientInterrupt(t *testing.T) {
	srv := startServe(t)
	client := srv.pf("snapshot", "--manifest", "-")
	stdin, err := client.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var out bytes.Buffer
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	srv.waitFor("the command to run", func(i serve.Info) bool { return i.Commands == 1 })
	client.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitFailed {
			t.Fatalf("interrupted: %v %q, want exit 1", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the interrupted client did not exit")
	}
	srv.waitFor("the command to end", func(i serve.Info) bool { return i.Commands == 0 })
	if out, err := srv.pf("--timeout", "50ms", "log").CombinedOutput(); err != nil {
		t.Fatalf("the server after an interrupted command: %v %s", err, out)
	}
}

// TestServe_StdinLeftForOthers: a command that reads no input takes none
// of its standard input through the server, as in process: a shell loop
// reading lines around pf calls keeps its lines.
func TestServe_StdinLeftForOthers(t *testing.T) {
	srv := startServe(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const lines = "first\nsecond\n"
	io.WriteString(w, lines)
	w.Close()
	client := srv.pf("--timeout", "50ms", "log")
	client.Stdin = r
	if out, err := client.CombinedOutput(); err != nil {
		t.Fatalf("log: %v %s", err, out)
	}
	left, err := io.ReadAll(r)
	if err != nil || string(left) != lines {
		t.Fatalf("standard input after pf log: %q, %v; want %q untouched", left, err, lines)
	}
}
