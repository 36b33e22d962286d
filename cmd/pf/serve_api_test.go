package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/processfork/pf/internal/serve"
)

// apiClient speaks HTTP to an in-process server's unix socket, as a
// desktop tool does.
func apiClient(srv *inProcessServer) *http.Client {
	sock := serve.SocketPath(srv.path)
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func call(t *testing.T, c *http.Client, method, path, body string, header ...string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://pf"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe_API_WorkspaceLoop is a desktop tool's loop through the API:
// snapshot a workspace, change it, see the status, restore it, and the
// head moved; export a bundle and import it back; the errors of each
// route are the command's, as 4xx.
func TestServe_API_WorkspaceLoop(t *testing.T) {
	srv := startInProcessServer(t)
	c := apiClient(srv)
	ws := filepath.Join(srv.dir, "ws")
	benchWorkspace(t, ws, 20)
	body, _ := json.Marshal(map[string]any{"dir": ws, "name": "first"})
	code, out := call(t, c, "POST", "/api/v1/snapshots", string(body), "Content-Type", "application/json")
	if code != http.StatusCreated {
		t.Fatalf("snapshot: %d %s", code, out)
	}
	var snap struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &snap); err != nil || !strings.HasPrefix(snap.ID, "sha256:") {
		t.Fatalf("snapshot answer %s: %v", out, err)
	}
	changed := filepath.Join(ws, "pkg00", "file000.go")
	if err := os.WriteFile(changed, []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = call(t, c, "GET", "/api/v1/status?dir="+ws, "")
	if code != 200 || !strings.Contains(out, "pkg00/file000.go") {
		t.Fatalf("status: %d %s", code, out)
	}
	// With progress as server-sent events: the result comes last.
	body, _ = json.Marshal(map[string]any{"dir": ws, "image": "first"})
	code, out = call(t, c, "POST", "/api/v1/restore", string(body), "Content-Type", "application/json", "Accept", "text/event-stream")
	if code != 200 || !strings.Contains(out, "event: result") {
		t.Fatalf("restore: %d %s", code, out)
	}
	if b, _ := os.ReadFile(changed); string(b) == "changed\n" {
		t.Fatal("restore left the change")
	}
	code, out = call(t, c, "GET", "/api/v1/heads", "")
	if code != 200 || !strings.Contains(out, ws) {
		t.Fatalf("heads: %d %s", code, out)
	}

	code, bundle := call(t, c, "GET", "/api/v1/export?image=first&tags=true", "")
	if code != 200 || len(bundle) == 0 {
		t.Fatalf("export: %d %s", code, bundle)
	}
	code, out = call(t, c, "POST", "/api/v1/import", bundle, "Content-Type", "application/octet-stream")
	if code != 200 || !strings.Contains(out, `"status":"present"`) {
		t.Fatalf("import of what the store has: %d %s", code, out)
	}

	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/v1/snapshots", `{"dir":"relative/dir"}`, 400},
		{"POST", "/api/v1/snapshots", `{"dir":"` + filepath.Join(srv.dir, "nosuch") + `"}`, 404},
		{"POST", "/api/v1/snapshots", `{"dir":"/x","bogus":1}`, 400},
		{"POST", "/api/v1/restore", `{"dir":"` + ws + `","image":"nosuch"}`, 404},
		{"POST", "/api/v1/restore", `{"dir":"` + ws + `","image":"first","paths":["/etc"]}`, 400},
		{"GET", "/api/v1/status?dir=", "", 400},
		{"GET", "/api/v1/export", "", 400},
		{"POST", "/api/v1/import", "not a bundle", 400},
	} {
		code, out := call(t, c, tc.method, tc.path, tc.body, "Content-Type", "application/json")
		var e struct{ Error string }
		if code != tc.want || json.Unmarshal([]byte(out), &e) != nil || e.Error == "" {
			t.Errorf("%s %s %s: %d %s, want %d and an error", tc.method, tc.path, tc.body, code, out, tc.want)
		}
	}
}
