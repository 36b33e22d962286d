package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
)

// The JSON API's routes: the store's history and contents, read through
// the store; routes that act on directories (actions.go); the event
// stream (events.go). openapi.json describes each, and a test checks that
// the two agree.
func (s *Server) apiRoutes(mux *http.ServeMux) {
	for _, rt := range s.apiTable() {
		mux.HandleFunc(rt.method+" "+rt.pattern, rt.handler)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{"GET", "PUT", "POST", "DELETE"} {
			other := r.Clone(r.Context())
			other.Method = m
			if _, pattern := mux.Handler(other); m != r.Method && pattern != "/api/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			apiError(w, http.StatusMethodNotAllowed, "%s %s: use %s", r.Method, r.URL.Path, strings.Join(allow, ", "))
			return
		}
		apiError(w, http.StatusNotFound, "no such route: %s %s (see /openapi.json)", r.Method, r.URL.Path)
	})
}

type route struct {
	method, pattern string
	handler         http.HandlerFunc
}

// apiTable is every route of the API, as openapi.json lists them.
func (s *Server) apiTable() []route {
	return []route{
		{"GET", "/api/v1/info", s.handleInfo},
		{"GET", "/api/v1/images", s.handleImages},
		{"GET", "/api/v1/images/{ref}", s.handleImage},
		{"GET", "/api/v1/images/{ref}/manifest", s.handleManifest},
		{"GET", "/api/v1/images/{ref}/tree", s.handleTree},
		{"GET", "/api/v1/images/{ref}/files/{path...}", s.handleFile},
		{"GET", "/api/v1/images/{ref}/trace", s.handleTrace},
		{"GET", "/api/v1/graph", s.handleGraph},
		{"GET", "/api/v1/diff", s.handleDiff},
		{"GET", "/api/v1/tags", s.handleTags},
		{"PUT", "/api/v1/tags/{name}", s.handleSetTag},
		{"DELETE", "/api/v1/tags/{name}", s.handleDeleteTag},
		{"GET", "/api/v1/heads", s.handleHeads},
		{"GET", "/api/v1/blobs/{digest}", s.handleBlob},
		{"GET", "/api/v1/events", s.handleEvents},
		{"POST", "/api/v1/snapshots", s.handleSnapshot},
		{"GET", "/api/v1/status", s.handleStatus},
		{"POST", "/api/v1/restore", s.handleRestore},
		{"POST", "/api/v1/import", s.handleImport},
		{"GET", "/api/v1/export", s.handleExport},
		{"GET", "/openapi.json", s.handleOpenAPI},
	}
}

// apiError writes the API's error body: {"error": "..."}, one line.
func apiError(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeJSON(w, code, map[string]string{"error": msg})
}

// storeError maps a store error to its status: not found 404, a
// malformed name 400, corrupt data 500 (the store is damaged, not the
// request), busy 503.
func storeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, pf.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, manifest.ErrInvalidDigest), errors.Is(err, pf.ErrInvalidTagName),
		errors.Is(err, pf.ErrInvalidCursor), errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, pf.ErrBusy):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		code = 499 // the client went away; nobody reads this
	}
	apiError(w, code, "%v", err)
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// imageJSON is an image as the API lists it.
type imageJSON struct {
	ID        manifest.Digest   `json:"id"`
	CreatedAt string            `json:"created_at"`
	Agent     agentJSON         `json:"agent"`
	Parents   []manifest.Digest `json:"parents"`
	Tags      []string          `json:"tags"`
}

type agentJSON struct {
	Kind        string `json:"kind"`
	Version     string `json:"version"`
	Fingerprint string `json:"fingerprint"`
}

func newImageJSON(img *pf.Image, tags []string) imageJSON {
	m := img.Manifest
	parents := m.Parents
	if parents == nil {
		parents = []manifest.Digest{}
	}
	if tags == nil {
		tags = []string{}
	}
	return imageJSON{
		ID:        img.ID,
		CreatedAt: manifest.FormatTime(m.CreatedAt),
		Agent:     agentJSON{m.Agent.Kind, m.Agent.Version, m.Agent.Fingerprint},
		Parents:   parents,
		Tags:      tags,
	}
}

// tagsByImage maps each tagged image to its tag names, in name order.
func tagsByImage(ctx context.Context, s *pf.Store) (map[manifest.Digest][]string, error) {
	tags, err := s.Tags(ctx)
	if err != nil {
		return nil, err
	}
	m := map[manifest.Digest][]string{}
	for _, t := range tags {
		m[t.ID] = append(m[t.ID], t.Name)
	}
	return m, nil
}

// maxPage bounds a listing's page.
const maxPage = 1000

func (s *Server) handleImages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := pf.LogQuery{Limit: 100, Cursor: q.Get("cursor"), Reverse: q.Get("reverse") == "true"}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			apiError(w, http.StatusBadRequest, "limit %q: want 1 to %d", v, maxPage)
			return
		}
		query.Limit = n
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &query.Since}, {"until", &query.Until}} {
		if v := q.Get(f.name); v != "" {
			t, err := manifest.ParseTime(v)
			if err != nil {
				apiError(w, http.StatusBadRequest, "%s: %v (want RFC 3339)", f.name, err)
				return
			}
			*f.dst = t
		}
	}
	ctx := r.Context()
	var (
		entries []pf.LogEntry
		next    string
		err     error
	)
	if ref := q.Get("from"); ref != "" {
		id, rerr := s.Store.ResolveImage(ctx, ref)
		if rerr != nil {
			storeError(w, rerr)
			return
		}
		entries, next, err = s.Store.Ancestry(ctx, []manifest.Digest{id}, query)
	} else {
		entries, next, err = s.Store.Log(ctx, query)
	}
	if err != nil {
		storeError(w, err)
		return
	}
	tags, err := tagsByImage(ctx, s.Store)
	if err != nil {
		storeError(w, err)
		return
	}
	out := make([]imageJSON, len(entries))
	for i, e := range entries {
		out[i] = newImageJSON(&e.Image, tags[e.ID])
	}
	writeJSON(w, http.StatusOK, map[string]any{"images": out, "next": next})
}

// imageOf resolves the {ref} of a route: a tag, an id or a unique prefix.
func (s *Server) imageOf(w http.ResponseWriter, r *http.Request) (*pf.Image, bool) {
	id, err := s.Store.ResolveImage(r.Context(), r.PathValue("ref"))
	if err == nil {
		var img *pf.Image
		if img, err = s.Store.Image(r.Context(), id); err == nil {
			return img, true
		}
	}
	storeError(w, err)
	return nil, false
}

type layerJSON struct {
	Name    string          `json:"name"`
	Digest  manifest.Digest `json:"digest"`
	Size    int64           `json:"size"`
	Stored  int64           `json:"stored"`
	Missing bool            `json:"missing"`
}

func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	img, ok := s.imageOf(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	tags, err := tagsByImage(ctx, s.Store)
	if err != nil {
		storeError(w, err)
		return
	}
	children, err := s.Store.Children(ctx, img.ID)
	if err != nil {
		storeError(w, err)
		return
	}
	if children == nil {
		children = []manifest.Digest{}
	}
	heads, err := s.Store.Heads(ctx)
	if err != nil {
		storeError(w, err)
		return
	}
	headsHere := []headJSON{}
	for _, h := range heads {
		if h.ID == img.ID {
			headsHere = append(headsHere, newHeadJSON(h))
		}
	}
	var layers []layerJSON
	for _, l := range img.Manifest.Layers() {
		lj := layerJSON{Name: l.Name, Digest: l.Digest}
		info, err := s.Store.Blobs().Stat(ctx, l.Digest)
		switch {
		case errors.Is(err, pf.ErrNotFound):
			lj.Missing = true
		case err != nil:
			storeError(w, err)
			return
		default:
			lj.Size, lj.Stored = info.Size, info.Stored
		}
		layers = append(layers, lj)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"image":    newImageJSON(img, tags[img.ID]),
		"children": children,
		"heads":    headsHere,
		"layers":   layers,
		"manifest": json.RawMessage(img.Raw),
	})
}

func (s *Server) handleManifest(w http.ResponseWriter, r *http.Request) {
	img, ok := s.imageOf(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Docker-Content-Digest", img.ID.String())
	w.Write(img.Raw)
}

type entryJSON struct {
	Path   string          `json:"path"`
	Kind   string          `json:"kind"`
	Mode   string          `json:"mode"`
	Size   int64           `json:"size"`
	Digest manifest.Digest `json:"digest,omitzero"`
	Target string          `json:"target,omitempty"`
}

func newEntryJSON(e manifest.Entry) entryJSON {
	return entryJSON{Path: e.Path, Kind: string(e.Kind), Mode: fmt.Sprintf("%04o", uint32(e.Mode)), Size: e.Size, Digest: e.Blob, Target: e.LinkTarget}
}

func (s *Server) handleTree(w http.ResponseWriter, r *http.Request) {
	img, ok := s.imageOf(w, r)
	if !ok {
		return
	}
	tree, err := worktree.LoadTree(r.Context(), s.Store, img.ID)
	if err != nil {
		storeError(w, err)
		return
	}
	out := make([]entryJSON, len(tree.Entries))
	for i, e := range tree.Entries {
		out[i] = newEntryJSON(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"image": img.ID, "entries": out})
}

// checkTreePath refuses what no tree entry can be: a path is relative,
// '/'-separated, without empty, "." or ".." segments. It never reaches
// the file system: it is looked up in the image's tree.
func checkTreePath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) || strings.ContainsRune(p, '\\') {
		return badRequest("path %q: want a relative path inside the image", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return badRequest("path %q: empty, . and .. segments name nothing in an image", p)
		}
	}
	return nil
}

func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	img, ok := s.imageOf(w, r)
	if !ok {
		return
	}
	p := r.PathValue("path")
	if err := checkTreePath(p); err != nil {
		storeError(w, err)
		return
	}
	tree, err := worktree.LoadTree(r.Context(), s.Store, img.ID)
	if err != nil {
		storeError(w, err)
		return
	}
	i, found := slices.BinarySearchFunc(tree.Entries, p, func(e manifest.Entry, p string) int { return manifest.ComparePaths(e.Path, p) })
	if !found {
		apiError(w, http.StatusNotFound, "image %s has no %s", img.ID.Short(), p)
		return
	}
	e := tree.Entries[i]
	switch e.Kind {
	case manifest.KindFile:
		s.serveBlob(w, r, e.Blob, "")
	case manifest.KindSymlink:
		w.Header().Set("X-Pf-Symlink", e.LinkTarget)
		apiError(w, http.StatusUnprocessableEntity, "%s is a symbolic link to %s", p, e.LinkTarget)
	default:
		apiError(w, http.StatusUnprocessableEntity, "%s is a directory: list it with /tree", p)
	}
}

// maxTrace bounds the trace the API parses into messages.
const maxTrace = 64 << 20

func (s *Server) handleTrace(w http.ResponseWriter, r *http.Request) {
	img, ok := s.imageOf(w, r)
	if !ok {
		return
	}
	d := img.Manifest.Trace.Messages
	rc, err := s.Store.Blobs().Open(r.Context(), d)
	if err != nil {
		storeError(w, err)
		return
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxTrace+1))
	if err != nil {
		storeError(w, err)
		return
	}
	if len(raw) > maxTrace {
		apiError(w, http.StatusUnprocessableEntity, "the trace is over %d bytes: read it as blob %s", maxTrace, d)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"image": img.ID, "digest": d, "messages": traceMessages(raw)})
}

// traceMessages reads a trace: JSON lines of messages, as pf and the
// reference write it, or one JSON array of them. A line that is not a
// JSON object is kept as a message of role "text".
func traceMessages(raw []byte) []json.RawMessage {
	out := []json.RawMessage{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		if json.Unmarshal(t, &out) == nil {
			return out
		}
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(line) > 0 && line[0] == '{' && json.Valid(line) {
			out = append(out, json.RawMessage(line))
			continue
		}
		b, _ := json.Marshal(map[string]string{"role": "text", "content": string(line)})
		out = append(out, b)
	}
	return out
}

func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	tags, err := s.Store.Tags(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	out := make([]map[string]any, len(tags))
	for i, t := range tags {
		out[i] = map[string]any{"name": t.Name, "id": t.ID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": out})
}

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 1 << 20

// readJSON decodes a request's JSON body into v: at most maxJSONBody
// bytes, no unknown fields, one value.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return badRequest("Content-Type %q: want application/json", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: the body is over %d bytes", errTooLarge, maxJSONBody)
		}
		return badRequest("malformed JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON body: more than one value")
	}
	return nil
}

var errTooLarge = errors.New("request too large")

// bodyError writes readJSON's error.
func bodyError(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooLarge) {
		apiError(w, http.StatusRequestEntityTooLarge, "%v", err)
		return
	}
	storeError(w, err)
}

func (s *Server) handleSetTag(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Image string `json:"image"`
	}
	if err := readJSON(w, r, &body); err != nil {
		bodyError(w, err)
		return
	}
	name := r.PathValue("name")
	if err := pf.ValidateTagName(name); err != nil {
		storeError(w, err)
		return
	}
	id, err := s.Store.ResolveImage(r.Context(), body.Image)
	if err != nil {
		storeError(w, err)
		return
	}
	prev, err := s.Store.Tag(r.Context(), name, id)
	if err != nil {
		storeError(w, err)
		return
	}
	s.events.poke()
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "id": id, "previous": zeroNull(prev)})
}

func (s *Server) handleDeleteTag(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := pf.ValidateTagName(name); err != nil {
		storeError(w, err)
		return
	}
	prev, err := s.Store.Untag(r.Context(), name)
	if err != nil {
		storeError(w, err)
		return
	}
	s.events.poke()
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "previous": prev})
}

// zeroNull is a digest for JSON, null when zero.
func zeroNull(d manifest.Digest) any {
	if d.IsZero() {
		return nil
	}
	return d
}

type headJSON struct {
	Dir     string          `json:"dir"`
	Session string          `json:"session"`
	ID      manifest.Digest `json:"id"`
	Updated string          `json:"updated"`
}

func newHeadJSON(h pf.Head) headJSON {
	return headJSON{Dir: h.Dir, Session: h.Session, ID: h.ID, Updated: h.Updated.UTC().Format(time.RFC3339Nano)}
}

func (s *Server) handleHeads(w http.ResponseWriter, r *http.Request) {
	heads, err := s.Store.Heads(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	out := make([]headJSON, len(heads))
	for i, h := range heads {
		out[i] = newHeadJSON(h)
	}
	writeJSON(w, http.StatusOK, map[string]any{"heads": out})
}

// maxPatches bounds the patches one diff request renders.
const maxPatches = 500

func (s *Server) handleDiff(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx := r.Context()
	var ids [2]manifest.Digest
	for i, name := range []string{"from", "to"} {
		ref := q.Get(name)
		if ref == "" {
			apiError(w, http.StatusBadRequest, "%s: missing: diff needs from and to, two images", name)
			return
		}
		id, err := s.Store.ResolveImage(ctx, ref)
		if err != nil {
			storeError(w, err)
			return
		}
		ids[i] = id
	}
	var trees [2]*manifest.Tree
	for i, id := range ids {
		t, err := worktree.LoadTree(ctx, s.Store, id)
		if err != nil {
			storeError(w, err)
			return
		}
		trees[i] = t
	}
	changes := worktree.DiffTrees(trees[0], trees[1])
	withPatch := q.Get("patch") == "true"
	type changeJSON struct {
		Path   string     `json:"path"`
		Kind   string     `json:"kind"`
		Old    *entryJSON `json:"old"`
		New    *entryJSON `json:"new"`
		Patch  *string    `json:"patch,omitempty"`
		Binary bool       `json:"binary,omitempty"`
	}
	out := make([]changeJSON, len(changes))
	side := worktree.DiffSide{Store: s.Store}
	truncated := false
	for i, c := range changes {
		cj := changeJSON{Path: c.Path, Kind: c.Kind.String()}
		if c.Old.Kind != "" {
			e := newEntryJSON(c.Old)
			cj.Old = &e
		}
		if c.New.Kind != "" {
			e := newEntryJSON(c.New)
			cj.New = &e
		}
		if withPatch && i < maxPatches {
			p, err := worktree.MakePatch(ctx, c, side, side)
			if err != nil {
				storeError(w, err)
				return
			}
			cj.Patch, cj.Binary = &p.Text, p.Binary
		} else if withPatch {
			truncated = true
		}
		out[i] = cj
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": ids[0], "to": ids[1], "changes": out, "patches_truncated": truncated})
}

func (s *Server) handleBlob(w http.ResponseWriter, r *http.Request) {
	d, err := manifest.ParseDigest(r.PathValue("digest"))
	if err != nil {
		storeError(w, err)
		return
	}
	s.serveBlob(w, r, d, "application/octet-stream")
}
