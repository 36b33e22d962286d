package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of every JSON document this package reads.
// No valid document nests deeper than 3; the bound keeps hostile input
// from costing stack or time before it is refused.
const maxDepth = 32

// Decode reads a manifest from outside input. It is strict: at most
// MaxManifestSize bytes of valid UTF-8 holding exactly one JSON object,
// nested at most 32 deep, without duplicate keys, with every required key
// present and of the right JSON type, every digest valid, schema version 1,
// the v1 media type, at most two distinct parents and an RFC 3339
// created_at (any offset; kept in UTC). A missing parents key means no
// parents; unknown keys are ignored.
//
// Decode does not make the input canonical: the id of a manifest that
// arrived from elsewhere is the digest of the bytes it came with.
//
// Errors wrap ErrInvalidManifest and name the field at fault.
func Decode(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidManifest, len(b), MaxManifestSize)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	return m, nil
}

func decodeManifest(b []byte) (*Manifest, error) {
	r, err := newReader(b)
	if err != nil {
		return nil, err
	}
	m := new(Manifest)
	err = r.object("", []string{
		"schema_version", "media_type", "agent", "model", "cache",
		"world", "effects", "trace", "created_at",
	}, func(key string) error {
		switch key {
		case "schema_version":
			n, err := r.int(key)
			if err != nil {
				return err
			}
			if n != SchemaVersion {
				return fmt.Errorf("%s: unsupported version %d, want %d", key, n, SchemaVersion)
			}
			m.SchemaVersion = int(n)
		case "media_type":
			s, err := r.string(key)
			if err != nil {
				return err
			}
			if s != MediaType {
				return fmt.Errorf("%s: %s, want %q", key, quote(s), MediaType)
			}
			m.MediaType = s
		case "agent":
			a := &m.Agent
			return r.stringFields(key, []string{"kind", "version", "fingerprint"}, &a.Kind, &a.Version, &a.Fingerprint)
		case "model":
			return r.digestFields(key, []string{"base", "diff"}, &m.Model.Base, &m.Model.Diff)
		case "cache":
			return r.fields(key, []string{"layout", "manifest"}, func(i int, path string) (err error) {
				if i == 0 {
					m.Cache.Layout, err = r.string(path)
				} else {
					m.Cache.Manifest, err = r.digest(path)
				}
				return err
			})
		case "world":
			return r.digestFields(key, []string{"fs", "env", "procs"}, &m.World.FS, &m.World.Env, &m.World.Procs)
		case "effects":
			return r.digestFields(key, []string{"ledger"}, &m.Effects.Ledger)
		case "trace":
			return r.digestFields(key, []string{"messages"}, &m.Trace.Messages)
		case "created_at":
			s, err := r.string(key)
			if err != nil {
				return err
			}
			t, err := ParseTime(s)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			m.CreatedAt = t
		case "parents":
			return r.array(key, func(i int) error {
				if i == MaxParents {
					return fmt.Errorf("%s: more than %d parents", key, MaxParents)
				}
				d, err := r.digest(fmt.Sprintf("%s[%d]", key, i))
				m.Parents = append(m.Parents, d)
				return err
			})
		default:
			return r.skip(key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	// The same rules as Validate, so that whatever Decode returns encodes.
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// A reader walks one JSON document token by token, so that it can enforce
// what encoding/json's Unmarshal does not: exact (case-sensitive) keys, no
// duplicate keys, JSON types that match, and no trailing data. Its errors
// name the place in the document (e.g. "model.diff") but not the kind of
// document; callers wrap them with their sentinel.
type reader struct {
	dec *json.Decoder
}

// newReader checks what can be checked up front, UTF-8 and nesting depth,
// and returns a reader positioned before the document's value.
func newReader(b []byte) (*reader, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty input")
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("not valid UTF-8 (bad byte at offset %d)", invalidUTF8At(b))
	}
	if err := checkDepth(b, maxDepth); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return &reader{dec: dec}, nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// checkDepth refuses documents whose arrays and objects nest deeper than
// limit. It only counts brackets outside strings; whether the document is
// well-formed is the decoder's business.
func checkDepth(b []byte, limit int) error {
	depth := 0
	inString, escaped := false, false
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return fmt.Errorf("nested deeper than %d at offset %d", limit, i)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// token returns the next token. Running out of input inside the document
// is io.ErrUnexpectedEOF, not io.EOF.
func (r *reader) token(path string) (json.Token, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return nil, r.syntaxError(path, err)
	}
	return tok, nil
}

func (r *reader) syntaxError(path string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	msg := fmt.Sprintf("malformed JSON at offset %d: %v", r.dec.InputOffset(), err)
	if path == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", path, msg)
}

// end checks that nothing but white space follows the document.
func (r *reader) end() error {
	off := r.dec.InputOffset()
	if _, err := r.dec.Token(); err == io.EOF {
		return nil
	}
	return fmt.Errorf("trailing data after the JSON value ending at offset %d", off)
}

// join names key inside the value at path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object reads a JSON object at path, calling each for every key; each must
// consume the key's value. Duplicate keys are refused: readers that keep
// the first and readers that keep the last would see different images
// under one id. After the object it checks that the required keys were all
// present.
func (r *reader) object(path string, required []string, each func(key string) error) error {
	tok, err := r.token(path)
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return typeError(path, "an object", tok)
	}
	seen := make(map[string]bool, len(required))
	for r.dec.More() {
		tok, err := r.token(path)
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok { // the decoder allows only strings here; be safe anyway
			return typeError(path, "a key", tok)
		}
		if seen[key] {
			return fmt.Errorf("%s: duplicate key", join(path, key))
		}
		seen[key] = true
		if err := each(key); err != nil {
			return err
		}
	}
	if _, err := r.token(path); err != nil { // '}'
		return err
	}
	for _, k := range required {
		if !seen[k] {
			return fmt.Errorf("%s: missing", join(path, k))
		}
	}
	return nil
}

// array reads a JSON array at path, calling each with the index of every
// element; each must consume the element.
func (r *reader) array(path string, each func(i int) error) error {
	tok, err := r.token(path)
	if err != nil {
		return err
	}
	if tok != json.Delim('[') {
		return typeError(path, "an array", tok)
	}
	for i := 0; r.dec.More(); i++ {
		if err := each(i); err != nil {
			return err
		}
	}
	_, err = r.token(path) // ']'
	return err
}

// skip consumes one value of any type, for keys the format does not know.
func (r *reader) skip(path string) error {
	var v json.RawMessage
	if err := r.dec.Decode(&v); err != nil {
		return r.syntaxError(path, err)
	}
	return nil
}

func (r *reader) string(path string) (string, error) {
	tok, err := r.token(path)
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", typeError(path, "a string", tok)
	}
	return s, nil
}

// int reads a JSON number that is an integer, written without fraction or
// exponent, and fits in an int.
func (r *reader) int(path string) (int64, error) {
	tok, err := r.token(path)
	if err != nil {
		return 0, err
	}
	num, ok := tok.(json.Number)
	if !ok {
		return 0, typeError(path, "an integer", tok)
	}
	n, err := strconv.ParseInt(string(num), 10, strconv.IntSize)
	if err != nil {
		if strings.ContainsAny(string(num), ".eE") {
			return 0, fmt.Errorf("%s: want an integer, got %s", path, quote(string(num)))
		}
		return 0, fmt.Errorf("%s: integer %s out of range", path, quote(string(num)))
	}
	return n, nil
}

// nonNegative reads an integer that must be at least zero.
func (r *reader) nonNegative(path string) (int64, error) {
	n, err := r.int(path)
	if err == nil && n < 0 {
		err = fmt.Errorf("%s: negative (%d)", path, n)
	}
	return n, err
}

func (r *reader) digest(path string) (Digest, error) {
	s, err := r.string(path)
	if err != nil {
		return Digest{}, err
	}
	d, err := ParseDigest(s)
	if err != nil {
		return Digest{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// fields reads an object at path whose keys in names are all required,
// calling read with the index of each such key and its path; other keys
// are skipped.
func (r *reader) fields(path string, names []string, read func(i int, path string) error) error {
	return r.object(path, names, func(key string) error {
		if i := slices.Index(names, key); i >= 0 {
			return read(i, join(path, key))
		}
		return r.skip(join(path, key))
	})
}

// stringFields reads an object of required string fields names into dst.
func (r *reader) stringFields(path string, names []string, dst ...*string) error {
	return r.fields(path, names, func(i int, path string) (err error) {
		*dst[i], err = r.string(path)
		return err
	})
}

// digestFields reads an object of required digest fields names into dst.
func (r *reader) digestFields(path string, names []string, dst ...*Digest) error {
	return r.fields(path, names, func(i int, path string) (err error) {
		*dst[i], err = r.digest(path)
		return err
	})
}

// typeError reports a value of the wrong JSON type.
func typeError(path, want string, tok json.Token) error {
	var got string
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			got = "an object"
		} else {
			got = "an array"
		}
	case string:
		got = "a string"
	case json.Number:
		got = "a number"
	case bool:
		got = "a boolean"
	case nil:
		got = "null"
	default:
		got = fmt.Sprintf("%T", tok)
	}
	if path == "" {
		return fmt.Errorf("not a JSON object: want %s, got %s", want, got)
	}
	return fmt.Errorf("%s: want %s, got %s", path, want, got)
}

// peekKind returns the string value of the top-level "kind" key of the JSON
// object at the start of b, reading no further than that key. ok is false
// when b does not start with an object or its kind is missing or not a
// string. Trailing data is not looked at: a JSON-lines ledger peeks as the
// kind of its header line.
func peekKind(b []byte) (kind string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if tok == "kind" {
			tok, err := dec.Token()
			kind, ok := tok.(string)
			return kind, ok && err == nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// hasKey reports whether the JSON object at the start of b has the
// top-level key, reading no further than that key.
func hasKey(b []byte, key string) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if tok == key {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}
