package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/serve"
)

// inProcessServer serves a new store from this test process, as pf serve
// does: its commands run through runFor, its clients through forward.
type inProcessServer struct {
	store *pf.Store
	path  string
	dir   string // a working directory for the clients
}

func startInProcessServer(tb testing.TB) *inProcessServer {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "store.pf")
	s, err := pf.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := serve.ListenUnix(serve.SocketPath(path))
	if err != nil {
		tb.Fatal(err)
	}
	srv := &serve.Server{Store: s, Run: runFor(s, nil)}
	go srv.ServeUnix(l)
	tb.Cleanup(func() {
		srv.Shutdown(tb.Context())
		s.Close()
	})
	return &inProcessServer{store: s, path: path, dir: dir}
}

// run runs a pf command line as a pf process would: through the socket.
func (srv *inProcessServer) run(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	inv := bufferedInvocation(srv.dir, &out, &errs)
	code = run(append([]string{"pf", "--store", srv.path}, args...), inv)
	return code, out.String(), errs.String()
}

// runHere runs the command line in the server's process without the
// socket: what a command costs there.
func (srv *inProcessServer) runHere(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	inv := bufferedInvocation(srv.dir, &out, &errs)
	inv.served = srv.store
	code = run(append([]string{"pf", "--store", srv.path}, args...), inv)
	return code, out.String(), errs.String()
}

// TestServe_ConcurrentCommands runs writers and readers through one
// in-process server at once (under -race in CI): each command gets its
// own output and status, and the server's store sees every snapshot.
func TestServe_ConcurrentCommands(t *testing.T) {
	srv := startInProcessServer(t)
	const clients, each = 6, 3
	var wg sync.WaitGroup
	ids := make(chan string, clients*each)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				code, out, errs := srv.run("snapshot", "--fixture", "--seed", fmt.Sprint(c*each+i))
				if code != 0 {
					t.Errorf("snapshot: exit %d: %s", code, errs)
					return
				}
				ids <- strings.TrimSpace(out)
				if code, _, errs := srv.run("log", "-n", "1"); code != 0 {
					t.Errorf("log: exit %d: %s", code, errs)
				}
				if code, _, errs := srv.run("show", "nosuch"); code != exitFailed || !strings.HasPrefix(errs, "pf: ") {
					t.Errorf("show nosuch: exit %d: %q", code, errs)
				}
			}
		}()
	}
	wg.Wait()
	close(ids)
	code, out, errs := srv.run("log", "--json")
	if code != 0 {
		t.Fatalf("log: %s", errs)
	}
	n := 0
	for id := range ids {
		n++
		if !strings.Contains(out, id) {
			t.Errorf("image %s is not in the log", id)
		}
	}
	if n != clients*each {
		t.Fatalf("%d snapshots, want %d", n, clients*each)
	}
	// Nothing ran outside the server: the store file is held by it.
	if _, err := os.Stat(serve.SocketPath(srv.path)); err != nil {
		t.Fatal(err)
	}
}
