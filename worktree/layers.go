package worktree

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// ErrInvalidLine marks a line of a JSON-lines file that its layer cannot
// hold; the error names the file and the line number, as file:line.
var ErrInvalidLine = errors.New("invalid line")

// ErrInvalidFile marks a model diff or cache manifest file that is not
// what its layer holds.
var ErrInvalidFile = errors.New("invalid layer file")

// maxLine bounds one line of a JSON-lines file, which is read whole to be
// checked: a bigger one is a mistake, not a message.
const maxLine = 256 << 20

// TraceFile captures the trace layer from a JSON-lines file of messages,
// one {"role":...,"content":...} object a line. Each line is checked; the
// file is stored as its exact bytes.
type TraceFile struct {
	Path string
}

// CaptureTrace implements pf.TraceCapture.
func (t TraceFile) CaptureTrace(ctx context.Context, w pf.BlobWriter) (manifest.Trace, error) {
	sum, _, err := scanLines(ctx, t.Path, func(n int, line map[string]json.RawMessage) error {
		role, err := stringField(line, "role")
		if err != nil {
			return err
		}
		if role == "" {
			return errors.New(`"role" is empty`)
		}
		if _, ok := line["content"]; !ok {
			return errors.New(`"content" missing`)
		}
		return nil
	})
	if err != nil {
		return manifest.Trace{}, err
	}
	d, err := putFile(ctx, w, t.Path, nil, sum)
	return manifest.Trace{Messages: d}, err
}

// EffectsFile captures the effects layer from a JSON-lines ledger: either
// a whole effects.ledger.v1 ledger, its header line first, or the entry
// lines alone, to which the header is added. Each entry must have ts (an
// RFC 3339 time), tool_id, args_hash, idempotency_key, result_hash,
// side_effect_class (pure, idempotent, irreversible or network-only) and
// session_hmac, all strings. Without a Path the layer holds
// manifest.EmptyLedger, the header alone, as the reference's CLI writes it.
type EffectsFile struct {
	Path string
}

// CaptureEffects implements pf.EffectsCapture.
func (e EffectsFile) CaptureEffects(ctx context.Context, w pf.BlobWriter) (manifest.Effects, error) {
	if e.Path == "" {
		d, err := w.PutBytes(ctx, []byte(manifest.EmptyLedger))
		return manifest.Effects{Ledger: d}, err
	}
	declared := int64(-1) // entries the header claims; -1 without a header
	entries := 0
	sum, _, err := scanLines(ctx, e.Path, func(n int, line map[string]json.RawMessage) error {
		if n == 1 {
			if _, ok := line["kind"]; ok {
				return checkLedgerHeader(line, &declared)
			}
		}
		entries++
		return checkLedgerEntry(line)
	})
	if err != nil {
		return manifest.Effects{}, err
	}
	if declared >= 0 && declared != int64(entries) {
		return manifest.Effects{}, fmt.Errorf("%s:1: %w: the header says %d entries, the file has %d", e.Path, ErrInvalidLine, declared, entries)
	}
	var header []byte
	if declared < 0 {
		header = fmt.Appendf(nil, `{"kind":%q,"entries":%d}`+"\n", manifest.LedgerKind, entries)
	}
	d, err := putFile(ctx, w, e.Path, header, sum)
	return manifest.Effects{Ledger: d}, err
}

func checkLedgerHeader(line map[string]json.RawMessage, declared *int64) error {
	kind, err := stringField(line, "kind")
	if err != nil {
		return err
	}
	switch kind {
	case manifest.LedgerKind:
	case manifest.MergedEffectsKind:
		return fmt.Errorf("kind %s: merged ledgers are made by merging images, not read from a file", kind)
	default:
		return fmt.Errorf("kind %q, want %q", kind, manifest.LedgerKind)
	}
	raw, ok := line["entries"]
	if !ok {
		return errors.New(`header without "entries"`)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf(`"entries": %s is not a count`, raw)
	}
	*declared = n
	return nil
}

func checkLedgerEntry(line map[string]json.RawMessage) error {
	for _, key := range [...]string{"ts", "tool_id", "args_hash", "idempotency_key", "result_hash", "side_effect_class", "session_hmac"} {
		s, err := stringField(line, key)
		if err != nil {
			return err
		}
		switch key {
		case "ts":
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return fmt.Errorf(`"ts": %q is not an RFC 3339 time`, s)
			}
		case "tool_id":
			if s == "" {
				return errors.New(`"tool_id" is empty`)
			}
		case "side_effect_class":
			if !manifest.IsSideEffectClass(s) {
				return fmt.Errorf(`"side_effect_class": %q is none of pure, idempotent, irreversible, network-only`, s)
			}
		}
	}
	return nil
}

// stringField returns the string value of key, or says why there is none.
func stringField(line map[string]json.RawMessage, key string) (string, error) {
	raw, ok := line[key]
	if !ok {
		return "", fmt.Errorf("%q missing", key)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%q: %s is not a string", key, shorten(raw))
	}
	return s, nil
}

func shorten(b []byte) string {
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
}

// scanLines reads a JSON-lines file and calls check on each line, parsed
// as a JSON object, with its number from 1. A final newline is optional;
// an empty line is an error. It returns the SHA-256 of the file's bytes,
// so that putFile can tell whether it stores what was checked.
func scanLines(ctx context.Context, path string, check func(n int, line map[string]json.RawMessage) error) (sum [32]byte, lines int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	r := bufio.NewReaderSize(io.TeeReader(f, h), 64<<10)
	for n := 1; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return sum, 0, err
			}
		}
		line, err := readLine(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, 0, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		lines = n
		if problem := checkLine(n, line, check); problem != nil {
			return sum, 0, fmt.Errorf("%s:%d: %w: %w", path, n, ErrInvalidLine, problem)
		}
	}
	h.Sum(sum[:0])
	return sum, lines, nil
}

// readLine returns the next line without its newline, or io.EOF when no
// bytes are left.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		line = append(line, chunk...)
		switch err {
		case nil:
			return line[:len(line)-1], nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(line) == 0 {
				return nil, io.EOF
			}
			return line, nil
		default:
			return nil, err
		}
	}
}

func checkLine(n int, line []byte, check func(int, map[string]json.RawMessage) error) error {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(bytes.TrimSpace(line)) == 0 {
		return errors.New("empty line")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return fmt.Errorf("not JSON: %v (at byte %d)", err, syntax.Offset)
		}
		return fmt.Errorf("not a JSON object: %s", shorten(line))
	}
	if obj == nil {
		return errors.New("null, want a JSON object")
	}
	return check(n, obj)
}

// putFile streams path, after head, into w, and fails if the file's bytes
// no longer hash to want: they changed since they were checked.
func putFile(ctx context.Context, w pf.BlobWriter, path string, head []byte, want [32]byte) (manifest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return manifest.Digest{}, err
	}
	defer f.Close()
	h := sha256.New()
	d, err := w.Put(ctx, io.MultiReader(bytes.NewReader(head), io.TeeReader(f, h)))
	if err != nil {
		return manifest.Digest{}, fmt.Errorf("%s: %w", path, err)
	}
	if !sumIs(h, want) {
		return manifest.Digest{}, fmt.Errorf("%s changed while it was read", path)
	}
	return d, nil
}

func sumIs(h hash.Hash, want [32]byte) bool {
	var got [32]byte
	h.Sum(got[:0])
	return got == want
}

// ModelFile captures the model layer. Diff names a model.diff file, a JSON
// object with a "layout" string ({"layout":"model.diff.v1","diff":{...}}),
// stored as its exact bytes; without one the layer holds EmptyModelDiff.
// The base is ModelBase(Agent).
type ModelFile struct {
	Diff  string
	Agent string // the agent's kind, which the base marker names
}

// The blobs of the layers an engine gave nothing for, as the reference's
// CLI writes them (pf-cli/src/commands/snapshot.rs: serde_json::json!
// objects, so keys sorted), so that the same inputs make the same layers
// in both: an empty LoRA envelope and an empty page manifest with every
// field the reference's reader requires.
var (
	EmptyModelDiff = []byte(`{"diff":{"adapters":[],"kind":"lora"},"layout":"model.diff.v1"}`)
	EmptyCache     = []byte(`{"dtype":"bf16","head_dim":0,"layout":"paged-batchinvariant-v1","logical_seqs":[],"n_heads":0,"n_layers":0,"page_size_tokens":16,"pages":[]}`)
)

// ModelBase is the model.base blob the reference's CLI writes for an agent
// of the given kind: "base:" and the kind.
func ModelBase(agentKind string) []byte { return []byte("base:" + agentKind) }

// CaptureModel implements pf.ModelCapture.
func (m ModelFile) CaptureModel(ctx context.Context, w pf.BlobWriter) (manifest.Model, error) {
	var model manifest.Model
	var err error
	if model.Base, err = w.PutBytes(ctx, ModelBase(m.Agent)); err != nil {
		return model, err
	}
	if m.Diff == "" {
		model.Diff, err = w.PutBytes(ctx, EmptyModelDiff)
		return model, err
	}
	sum, err := checkModelDiff(m.Diff)
	if err != nil {
		return model, err
	}
	model.Diff, err = putFile(ctx, w, m.Diff, nil, sum)
	return model, err
}

// checkModelDiff checks, streaming, that path holds one JSON object with a
// string "layout", and returns the SHA-256 of its bytes.
func checkModelDiff(path string) (sum [32]byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	dec := json.NewDecoder(bufio.NewReaderSize(io.TeeReader(f, h), 64<<10))
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: model diff: %s", path, ErrInvalidFile, fmt.Sprintf(format, args...))
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return sum, bad("not a JSON object")
	}
	layout := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return sum, bad("%v", err)
		}
		if tok == "layout" {
			tok, err := dec.Token()
			if s, ok := tok.(string); err != nil || !ok || s == "" {
				return sum, bad(`"layout" is not a non-empty string`)
			}
			layout = true
			continue
		}
		if err := skipValue(dec); err != nil {
			return sum, bad("%v", err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return sum, bad("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return sum, bad("data after the object")
	}
	if !layout {
		return sum, bad(`no "layout"`)
	}
	// The decoder saw io.EOF, so every byte went through h.
	h.Sum(sum[:0])
	return sum, nil
}

// skipValue consumes one JSON value token by token, so that a large one
// is never held whole.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// CacheFile captures the cache layer. Manifest names a KV-cache page
// manifest file, checked with manifest.DecodeCachePages and stored as its
// exact bytes; the blobs its pages name must be in the store already, or
// the snapshot fails naming the first one missing. Without one the layer
// holds EmptyCache.
type CacheFile struct {
	Manifest string
}

// maxCacheManifest bounds the page manifest, which is parsed whole.
const maxCacheManifest = 256 << 20

// CaptureCache implements pf.CacheCapture.
func (c CacheFile) CaptureCache(ctx context.Context, w pf.BlobWriter) (manifest.Cache, error) {
	if c.Manifest == "" {
		d, err := w.PutBytes(ctx, EmptyCache)
		return manifest.Cache{Layout: manifest.DefaultCacheLayout, Manifest: d}, err
	}
	f, err := os.Open(c.Manifest)
	if err != nil {
		return manifest.Cache{}, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxCacheManifest+1))
	if err != nil {
		return manifest.Cache{}, fmt.Errorf("%s: %w", c.Manifest, err)
	}
	if len(raw) > maxCacheManifest {
		return manifest.Cache{}, fmt.Errorf("%s: %w: cache manifest larger than %d bytes", c.Manifest, ErrInvalidFile, maxCacheManifest)
	}
	pages, err := manifest.DecodeCachePages(raw)
	if err != nil {
		return manifest.Cache{}, fmt.Errorf("%s: %w: %w", c.Manifest, ErrInvalidFile, err)
	}
	d, err := w.PutBytes(ctx, raw)
	return manifest.Cache{Layout: pages.Layout, Manifest: d}, err
}
