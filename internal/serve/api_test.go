package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
)

func TestAPI_ImagesAndImage(t *testing.T) {
	ts := startTestServer(t)
	var page struct {
		Images []imageJSON `json:"images"`
		Next   string      `json:"next"`
	}
	ts.get("/api/v1/images?limit=2", &page)
	if len(page.Images) != 2 || page.Next == "" || page.Images[0].ID != ts.merged || page.Images[0].Tags[0] != "main" {
		t.Fatalf("first page: %+v", page)
	}
	ts.get("/api/v1/images?limit=2&cursor="+page.Next, &page)
	if len(page.Images) != 2 || page.Next != "" || page.Images[1].ID != ts.root {
		t.Fatalf("second page: %+v", page)
	}
	ts.get("/api/v1/images?from="+ts.fork.String(), &page)
	if len(page.Images) != 2 {
		t.Fatalf("ancestry of the fork: %+v", page)
	}

	var img struct {
		Image    imageJSON         `json:"image"`
		Children []manifest.Digest `json:"children"`
		Layers   []layerJSON       `json:"layers"`
		Manifest json.RawMessage   `json:"manifest"`
	}
	ts.get("/api/v1/images/main", &img)
	if img.Image.ID != ts.merged || len(img.Image.Parents) != 2 || len(img.Layers) != 8 || len(img.Children) != 0 {
		t.Fatalf("image main: %+v", img)
	}
	ts.get("/api/v1/images/"+ts.root.Hex()[:8], &img)
	if img.Image.ID != ts.root || len(img.Children) != 2 {
		t.Fatalf("the root by prefix: %+v", img)
	}
	code, raw, h := ts.do("GET", "/api/v1/images/main/manifest", nil)
	if code != 200 || manifest.Sum(raw) != ts.merged || h.Get("Docker-Content-Digest") != ts.merged.String() {
		t.Fatalf("manifest: %d, digest %s", code, manifest.Sum(raw))
	}
}

func TestAPI_TreeFilesAndRange(t *testing.T) {
	ts := startTestServer(t)
	var tree struct {
		Entries []entryJSON `json:"entries"`
	}
	ts.get("/api/v1/images/main/tree", &tree)
	var file *entryJSON
	for i, e := range tree.Entries {
		if e.Kind == "file" && e.Size > 100 {
			file = &tree.Entries[i]
			break
		}
	}
	if file == nil {
		t.Fatalf("no file of over 100 bytes in %+v", tree.Entries)
	}
	ctx := context.Background()
	want, err := ts.store.Blobs().Get(ctx, file.Digest)
	if err != nil {
		t.Fatal(err)
	}
	code, got, h := ts.do("GET", "/api/v1/images/main/files/"+file.Path, nil)
	if code != 200 || !bytes.Equal(got, want) || h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("file %s: %d, %d bytes, headers %v", file.Path, code, len(got), h)
	}
	code, got, h = ts.do("GET", "/api/v1/images/main/files/"+file.Path, nil, "Range", "bytes=10-19")
	if code != http.StatusPartialContent || !bytes.Equal(got, want[10:20]) || h.Get("Content-Range") == "" {
		t.Fatalf("range of %s: %d %q %v", file.Path, code, got, h)
	}
	code, got, _ = ts.do("GET", "/api/v1/blobs/"+file.Digest.String(), nil, "Range", "bytes=-5")
	if code != http.StatusPartialContent || !bytes.Equal(got, want[len(want)-5:]) {
		t.Fatalf("blob suffix range: %d %q", code, got)
	}
	code, _, _ = ts.do("HEAD", "/api/v1/blobs/"+file.Digest.String(), nil)
	if code != 200 {
		t.Fatalf("HEAD blob: %d", code)
	}

	// A chunked blob, read in ranges from its start, middle and end, in
	// any order (each from the chunk that holds it).
	big := castest.Payload(9, 6<<20)
	d, err := ts.store.Blobs().Put(context.Background(), bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	n := len(big)
	for _, r := range [][2]int{{n - 100, n - 1}, {0, 9}, {n / 2, n/2 + 70000}, {1 << 20, 3 << 20}, {5, 5}} {
		code, got, _ := ts.do("GET", "/api/v1/blobs/"+d.String(), nil, "Range", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		if code != http.StatusPartialContent || !bytes.Equal(got, big[r[0]:r[1]+1]) {
			t.Fatalf("range %d-%d of a chunked blob: %d, %d bytes", r[0], r[1], code, len(got))
		}
	}
}

func TestAPI_TraceDiffTagsHeads(t *testing.T) {
	ts := startTestServer(t)
	var trace struct {
		Messages []map[string]any `json:"messages"`
	}
	ts.get("/api/v1/images/main/trace", &trace)
	if len(trace.Messages) == 0 || trace.Messages[0]["role"] == nil {
		t.Fatalf("trace: %+v", trace)
	}
	var diff struct {
		Changes []struct {
			Path, Kind string
			Patch      *string
		} `json:"changes"`
	}
	ts.get("/api/v1/diff?from="+ts.root.String()+"&to=main&patch=true", &diff)
	ctx := context.Background()
	a, _ := worktree.LoadTree(ctx, ts.store, ts.root)
	b, _ := worktree.LoadTree(ctx, ts.store, ts.merged)
	if want := len(worktree.DiffTrees(a, b)); len(diff.Changes) != want || want == 0 {
		t.Fatalf("diff: %d changes, want %d", len(diff.Changes), want)
	}
	if p := diff.Changes[0].Patch; p == nil || !strings.HasPrefix(*p, "diff --git a/"+diff.Changes[0].Path) {
		t.Fatalf("first patch: %v", p)
	}
	code, body, _ := ts.do("PUT", "/api/v1/tags/release", strings.NewReader(`{"image":"`+ts.root.String()+`"}`), "Content-Type", "application/json")
	if code != 200 {
		t.Fatalf("PUT tag: %d %s", code, body)
	}
	var tags struct {
		Tags []struct{ Name, ID string }
	}
	ts.get("/api/v1/tags", &tags)
	if len(tags.Tags) != 2 {
		t.Fatalf("tags: %+v", tags)
	}
	if code, body, _ = ts.do("DELETE", "/api/v1/tags/release", nil); code != 200 {
		t.Fatalf("DELETE tag: %d %s", code, body)
	}
	var heads struct {
		Heads []headJSON `json:"heads"`
	}
	ts.get("/api/v1/heads", &heads)
	if heads.Heads == nil {
		t.Fatalf("heads: %s", body)
	}
}

// TestAPI_BadInput extends the CLI's bad-input table to the API: each
// request is refused with a clear 4xx and a one-line JSON error, and the
// store is as it was.
func TestAPI_BadInput(t *testing.T) {
	ts := startTestServer(t)
	before := ts.snapshotState()
	huge := `{"image":"` + strings.Repeat("a", 2<<20) + `"}`
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown image", "GET", "/api/v1/images/nosuchtag", "", 404},
		{"unknown id", "GET", "/api/v1/images/sha256:" + strings.Repeat("0", 64), "", 404},
		{"malformed id", "GET", "/api/v1/blobs/sha256:xyz", "", 400},
		{"unknown blob", "GET", "/api/v1/blobs/sha256:" + strings.Repeat("1", 64), "", 404},
		{"traversal", "GET", "/api/v1/images/main/files/a/../../../etc/passwd", "", 404}, // cleaned to a route that is none
		{"encoded traversal", "GET", "/api/v1/images/main/files/..%2F..%2Fetc%2Fpasswd", "", 400},
		{"dot segment", "GET", "/api/v1/images/main/files/./x", "", 404}, // cleaned to x, absent
		{"backslash", "GET", "/api/v1/images/main/files/..%5C..%5Cetc", "", 400},
		{"absent file", "GET", "/api/v1/images/main/files/no/such/file", "", 404},
		{"bad limit", "GET", "/api/v1/images?limit=-1", "", 400},
		{"bad cursor", "GET", "/api/v1/images?cursor=garbage", "", 400},
		{"bad since", "GET", "/api/v1/images?since=yesterdayish", "", 400},
		{"diff without to", "GET", "/api/v1/diff?from=main", "", 400},
		{"diff unknown", "GET", "/api/v1/diff?from=main&to=nosuch", "", 404},
		{"graph bad offset", "GET", "/api/v1/graph?offset=x", "", 400},
		{"malformed JSON", "PUT", "/api/v1/tags/x", `{"image":`, 400},
		{"unknown field", "PUT", "/api/v1/tags/x", `{"image":"main","force":true}`, 400},
		{"two values", "PUT", "/api/v1/tags/x", `{"image":"main"}{}`, 400},
		{"huge body", "PUT", "/api/v1/tags/x", huge, 413},
		{"bad tag name", "PUT", "/api/v1/tags/..bad", `{"image":"main"}`, 400},
		{"tag unknown image", "PUT", "/api/v1/tags/x", `{"image":"nosuch"}`, 404},
		{"delete absent tag", "DELETE", "/api/v1/tags/nosuch", "", 404},
		{"relative dir", "GET", "/api/v1/status?dir=../work", "", 400},
		{"no such route", "GET", "/api/v1/nosuch", "", 404},
		{"wrong method", "POST", "/api/v1/images", "", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			code, got, _ := ts.do(tc.method, tc.path, body, "Content-Type", "application/json")
			if code != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, code, got, tc.want)
			}
			var e struct{ Error string }
			if json.Unmarshal(got, &e) != nil || e.Error == "" || strings.Contains(e.Error, "\n") {
				t.Fatalf("%s %s: body %q is not one JSON error line", tc.method, tc.path, got)
			}
		})
	}
	if after := ts.snapshotState(); after != before {
		t.Fatalf("the store changed:\n%s\n%s", before, after)
	}
}

// TestAPI_Events: a listener hears of a new image and of a tag that
// moved.
func TestAPI_Events(t *testing.T) {
	ts := startTestServer(t)
	req, _ := http.NewRequest("GET", "http://pf/api/v1/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := ts.unix.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		kind := ""
		for sc.Scan() {
			line := sc.Text()
			if k, ok := strings.CutPrefix(line, "event: "); ok {
				kind = k
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				events <- kind + " " + d
			}
		}
		close(events)
	}()
	next := func(kind string) string {
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("the stream ended before a %s event", kind)
				}
				if strings.HasPrefix(e, kind+" ") {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %s event", kind)
			}
		}
	}
	next("hello")
	m := manifest.New(manifest.Agent{Kind: "evt", Version: "1"}, time.Now().UTC(), ts.merged)
	img, err := ts.store.Snapshot(context.Background(), specOf(m))
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.events.poke()
	if e := next("image"); !strings.Contains(e, img.String()) {
		t.Fatalf("image event %s, want %s", e, img)
	}
	code, body, _ := ts.do("PUT", "/api/v1/tags/main", strings.NewReader(`{"image":"`+img.String()+`"}`))
	if code != 200 {
		t.Fatalf("PUT tag: %d %s", code, body)
	}
	if e := next("tag"); !strings.Contains(e, `"name":"main"`) || !strings.Contains(e, img.String()) {
		t.Fatalf("tag event %s", e)
	}
}
