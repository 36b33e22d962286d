package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The routes that act on directories run the pf command that does the
// same, in process, with --json: the API does what the CLI does (heads,
// sessions, secrets, backups before a restore), answers with the
// command's JSON (docs/json.md), and picks up what the command learns.
// Every path in a request must be absolute: the server has no working
// directory of the caller's.

// command is a pf command line an API request runs.
type command struct {
	args  []string // after "pf --store STORE"
	env   []string
	stdin io.Reader
}

// runCommand runs c and returns its exit status and output. progress,
// when set, receives what the command would draw on a terminal.
func (s *Server) runCommand(ctx context.Context, c command, progress func(string)) (code int, stdout, stderr []byte) {
	var out, errs bytes.Buffer
	stdin := c.stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var errw io.Writer = &errs
	if progress != nil {
		errw = &progressWriter{errs: &errs, progress: progress}
	}
	req := &RunRequest{
		Args:     append([]string{"pf", "--store", s.Store.Path()}, c.args...),
		Dir:      string(filepath.Separator),
		Env:      c.env,
		Terminal: progress != nil,
		Pid:      os.Getpid(),
	}
	code = s.Run(ctx, req, Stdio{Stdin: stdin, Stdout: &out, Stderr: errw})
	s.events.poke()
	return code, out.Bytes(), errs.Bytes()
}

// Exit statuses of pf (cmd/pf/main.go), for their HTTP statuses.
const (
	exitFailed    = 1
	exitUsage     = 2
	exitIntegrity = 4
	exitBusy      = 5
)

// answerCommand answers an action with its command's result: the JSON
// it wrote, or its error line with a status for its exit status.
func answerCommand(w http.ResponseWriter, code int, stdout, stderr []byte, okStatus int) {
	if code == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(okStatus)
		w.Write(stdout)
		return
	}
	apiError(w, commandStatus(code, stderr), "%s", commandError(stdout, stderr))
}

func commandStatus(code int, stderr []byte) int {
	switch code {
	case exitUsage:
		return http.StatusBadRequest
	case exitIntegrity:
		return http.StatusInternalServerError
	case exitBusy:
		return http.StatusServiceUnavailable
	}
	if bytes.Contains(stderr, []byte("not found")) || bytes.Contains(stderr, []byte("no such")) {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// commandError is a failed command's message: its last "pf: " line
// without the prefix, or its JSON error.
func commandError(stdout, stderr []byte) string {
	var je struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(bytes.TrimSpace(stdout), &je) == nil {
		if m, ok := je.Error.(string); ok && m != "" {
			return m
		}
		if m, ok := je.Error.(map[string]any); ok {
			if msg, ok := m["message"].(string); ok {
				return msg
			}
		}
	}
	msg := ""
	for _, line := range strings.Split(string(stderr), "\n") {
		if after, ok := strings.CutPrefix(line, "pf: "); ok && !strings.HasPrefix(after, "warning: ") {
			msg = after
		}
	}
	if msg == "" {
		msg = strings.TrimSpace(string(stderr))
	}
	return msg
}

// absPath checks an absolute path of a request.
func absPath(name, p string) error {
	if p == "" {
		return badRequest("%s: missing", name)
	}
	if !filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
		return badRequest("%s %q: want an absolute path (the server has no working directory of yours)", name, p)
	}
	return nil
}

// streaming says whether the client asked for progress as server-sent
// events; respond then streams them and the result (actions' "progress").
func streaming(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// runAction runs an action's command and answers: plainly, or as a
// stream of progress events ending in a result or error event.
func (s *Server) runAction(w http.ResponseWriter, r *http.Request, c command, okStatus int) {
	if s.Run == nil {
		apiError(w, http.StatusNotImplemented, "this server runs no commands")
		return
	}
	if !streaming(r) {
		code, out, errs := s.runCommand(r.Context(), c, nil)
		answerCommand(w, code, out, errs, okStatus)
		return
	}
	sse, ok := newEventWriter(w)
	if !ok {
		apiError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	var mu sync.Mutex
	start := time.Now()
	progress := func(text string) {
		mu.Lock()
		defer mu.Unlock()
		sse.send("progress", map[string]any{"text": text, "elapsed_ms": time.Since(start).Milliseconds()})
	}
	code, out, errs := s.runCommand(r.Context(), c, progress)
	mu.Lock()
	defer mu.Unlock()
	if code == 0 {
		sse.send("result", json.RawMessage(bytes.TrimSpace(out)))
		return
	}
	sse.send("error", map[string]any{"status": commandStatus(code, errs), "error": commandError(out, errs)})
}

// progressWriter turns what a command draws on a terminal ("\rlabel:
// text\x1b[K") into progress lines, and keeps the rest as its stderr.
type progressWriter struct {
	errs     *bytes.Buffer
	progress func(string)
	pending  []byte
}

var csi = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`) })

func (p *progressWriter) Write(b []byte) (int, error) {
	p.errs.Write(b)
	p.pending = append(p.pending, b...)
	for {
		i := bytes.IndexAny(p.pending, "\r\n")
		if i < 0 {
			break
		}
		seg := strings.TrimSpace(csi().ReplaceAllString(string(p.pending[:i]), ""))
		p.pending = p.pending[i+1:]
		if seg != "" {
			p.progress(seg)
		}
	}
	return len(b), nil
}

type snapshotRequest struct {
	Dir            string   `json:"dir"`
	Session        string   `json:"session"`
	Name           string   `json:"name"`
	Parents        []string `json:"parents"`
	AgentKind      string   `json:"agent_kind"`
	AgentVersion   string   `json:"agent_version"`
	TraceFile      string   `json:"trace_file"`
	EffectsFile    string   `json:"effects_file"`
	Ignore         []string `json:"ignore"`
	IncludeSecrets bool     `json:"include_secrets"`
	Env            []string `json:"env"`
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	var req snapshotRequest
	if err := readJSON(w, r, &req); err != nil {
		bodyError(w, err)
		return
	}
	if err := absPath("dir", req.Dir); err != nil {
		storeError(w, err)
		return
	}
	args := []string{"snapshot", "--json", "--fs-root=" + req.Dir}
	for _, f := range []struct{ flag, value string }{
		{"session", req.Session}, {"name", req.Name}, {"agent-kind", req.AgentKind},
		{"agent-version", req.AgentVersion}, {"trace-from-jsonl", req.TraceFile}, {"effects-from-jsonl", req.EffectsFile},
	} {
		if f.value == "" {
			continue
		}
		if strings.HasSuffix(f.flag, "jsonl") {
			if err := absPath(f.flag, f.value); err != nil {
				storeError(w, err)
				return
			}
		}
		args = append(args, "--"+f.flag+"="+f.value)
	}
	for _, p := range req.Parents {
		args = append(args, "--parent="+p)
	}
	for _, p := range req.Ignore {
		args = append(args, "--ignore="+p)
	}
	if req.IncludeSecrets {
		args = append(args, "--include-secrets")
	}
	if len(req.Env) == 0 {
		args = append(args, "--no-env")
	}
	s.runAction(w, r, command{args: args, env: req.Env}, http.StatusCreated)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dir := q.Get("dir")
	if err := absPath("dir", dir); err != nil {
		storeError(w, err)
		return
	}
	args := []string{"status", "--json"}
	if v := q.Get("session"); v != "" {
		args = append(args, "--session="+v)
	}
	s.runAction(w, r, command{args: append(args, "--", dir)}, http.StatusOK)
}

type restoreRequest struct {
	Image                string   `json:"image"`
	Dir                  string   `json:"dir"`
	Paths                []string `json:"paths"`
	Session              string   `json:"session"`
	NoBackup             bool     `json:"no_backup"`
	AllowOutsideSymlinks bool     `json:"allow_outside_symlinks"`
}

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	var req restoreRequest
	if err := readJSON(w, r, &req); err != nil {
		bodyError(w, err)
		return
	}
	if err := absPath("dir", req.Dir); err != nil {
		storeError(w, err)
		return
	}
	if req.Image == "" {
		storeError(w, badRequest("image: missing"))
		return
	}
	args := []string{"restore", "--json", "--to=" + req.Dir}
	if req.Session != "" {
		args = append(args, "--session="+req.Session)
	}
	if req.NoBackup {
		args = append(args, "--no-backup")
	}
	if req.AllowOutsideSymlinks {
		args = append(args, "--allow-outside-symlinks")
	}
	for _, p := range req.Paths {
		if filepath.IsAbs(p) {
			storeError(w, badRequest("paths: %q: paths are relative to dir", p))
			return
		}
	}
	args = append(append(args, "--", req.Image), req.Paths...)
	s.runAction(w, r, command{args: args}, http.StatusOK)
}

// MaxImport bounds an imported bundle's bytes.
var MaxImport int64 = 64 << 30

func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	tmp, err := os.CreateTemp("", "pf-serve-import-*.pf")
	if err != nil {
		apiError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, http.MaxBytesReader(w, r.Body, MaxImport))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiError(w, http.StatusRequestEntityTooLarge, "the bundle is over %d bytes", MaxImport)
			return
		}
		apiError(w, http.StatusBadRequest, "reading the bundle: %v", err)
		return
	}
	args := []string{"import", "--json"}
	q := r.URL.Query()
	if q.Get("no_tags") == "true" {
		args = append(args, "--no-tags")
	}
	if q.Get("force_tags") == "true" {
		args = append(args, "--force-tags")
	}
	s.runAction(w, r, command{args: append(args, "--", tmp.Name())}, http.StatusOK)
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	images := q["image"]
	if len(images) == 0 && q.Get("all") != "true" {
		apiError(w, http.StatusBadRequest, "image: missing: name one or more images, or all=true")
		return
	}
	if s.Run == nil {
		apiError(w, http.StatusNotImplemented, "this server runs no commands")
		return
	}
	dir, err := os.MkdirTemp("", "pf-serve-export-")
	if err != nil {
		apiError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	defer os.RemoveAll(dir)
	bundle := filepath.Join(dir, "export.pf")
	args := []string{"export", "--json", "--output=" + bundle}
	if q.Get("tags") == "true" {
		args = append(args, "--tags")
	}
	if q.Get("all") == "true" {
		args = append(args, "--all")
	}
	code, out, errs := s.runCommand(r.Context(), command{args: append(append(args, "--"), images...)}, nil)
	if code != 0 {
		answerCommand(w, code, out, errs, http.StatusOK)
		return
	}
	f, err := os.Open(bundle)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		apiError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/vnd.processfork.store")
	h.Set("Content-Disposition", `attachment; filename="export.pf"`)
	h.Set("Content-Length", fmt.Sprint(fi.Size()))
	h.Set("X-Pf-Report", string(bytes.TrimSpace(out)))
	io.Copy(w, f)
}
