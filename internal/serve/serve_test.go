package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/fixture"
	"github.com/processfork/pf/manifest"
)

// testServer serves a store with a small history over a unix socket and
// loopback TCP, as pf serve does (without the CLI's route).
type testServer struct {
	t      *testing.T
	srv    *Server
	store  *pf.Store
	unix   *http.Client
	tcp    string // http://127.0.0.1:PORT
	root   manifest.Digest
	fork   manifest.Digest
	merged manifest.Digest
}

func startTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	s, err := pf.Open(filepath.Join(dir, "store.pf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, store: s}
	ctx := context.Background()
	if ts.root, err = s.Snapshot(ctx, fixture.New(fixture.Options{Seed: 1}).Snapshot()); err != nil {
		t.Fatal(err)
	}
	if ts.fork, err = s.Snapshot(ctx, fixture.New(fixture.Options{Seed: 1, Fork: 1, Differ: 1.0 / 8}).Snapshot(ts.root)); err != nil {
		t.Fatal(err)
	}
	other, err := s.Snapshot(ctx, fixture.New(fixture.Options{Seed: 1, Fork: 2, Differ: 1.0 / 8}).Snapshot(ts.root))
	if err != nil {
		t.Fatal(err)
	}
	if ts.merged, err = s.Snapshot(ctx, fixture.New(fixture.Options{Seed: 1, Fork: 3, Differ: 1.0 / 8}).Snapshot(ts.fork, other)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tag(ctx, "main", ts.merged); err != nil {
		t.Fatal(err)
	}
	ts.srv = &Server{Store: s, Token: "test-token"}
	sock := filepath.Join(dir, "s.sock")
	ul, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.ServeUnix(ul)
	go ts.srv.ServeTCP(tl)
	ts.tcp = "http://" + tl.Addr().String()
	ts.unix = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	t.Cleanup(func() {
		ts.srv.Shutdown(context.Background())
		s.Close()
	})
	return ts
}

// do sends a request on the socket and returns the status and body.
func (ts *testServer) do(method, path string, body io.Reader, header ...string) (int, []byte, http.Header) {
	ts.t.Helper()
	req, err := http.NewRequest(method, "http://pf"+path, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.unix.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// get GETs path and decodes its JSON into v, wanting 200.
func (ts *testServer) get(path string, v any) {
	ts.t.Helper()
	code, body, _ := ts.do("GET", path, nil)
	if code != http.StatusOK {
		ts.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		ts.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// snapshotState is what a bad request must leave as it was.
func (ts *testServer) snapshotState() string {
	ts.t.Helper()
	ctx := context.Background()
	st, err := ts.store.Stats(ctx)
	if err != nil {
		ts.t.Fatal(err)
	}
	tags, err := ts.store.Tags(ctx)
	if err != nil {
		ts.t.Fatal(err)
	}
	st.FileSize = 0
	return fmt.Sprintf("%+v %v", st, tags)
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

var _ = strings.Contains

// specOf is a snapshot of m's agent and parents with no captures.
func specOf(m *manifest.Manifest) pf.Snapshot {
	return pf.Snapshot{Agent: m.Agent, Parents: m.Parents, CreatedAt: m.CreatedAt}
}
