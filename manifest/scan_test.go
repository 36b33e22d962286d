package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzScanner checks the scanner against encoding/json: it accepts
// exactly the inputs json.Valid accepts (one value, white space around
// it), and decodes strings to what json.Unmarshal does.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `""`, `0`, `-0.5e+10`, `true`, `null`, ` {"a":[1,{"b":null}],"c":"d"} `,
		`"\u00e9\ud83d\ude00\ud800\u0041\udc00"`, `"\"\\\/\b\f\n\r\t"`, `[1,]`, `{"a" 1}`, `01`, `1.`, `-`, `"\x"`,
		strings.Repeat("[", 40) + strings.Repeat("]", 40),
	} {
		f.Add([]byte(s))
	}
	addGolden(f, "worked-example.json", "tree.json", "cache-pages.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		s := scanner{b: b, maxDepth: jsonMaxDepth}
		err := s.skip()
		if err == nil {
			if _, more := s.peek(); more {
				err = errors.New("trailing data")
			}
		}
		if got, want := err == nil, json.Valid(b); got != want {
			t.Fatalf("scanner accepts %q: %v (%v), json.Valid: %v", b, got, err, want)
		}
		// Strings, where encoding/json does not coerce invalid UTF-8.
		s = scanner{b: b}
		if c, _ := s.peek(); c != '"' || !utf8.Valid(b) {
			return
		}
		raw, err := s.quoted()
		if err != nil {
			return
		}
		if _, more := s.peek(); more {
			return
		}
		var want string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", b, err)
		}
		if got := raw.String(); got != want {
			t.Fatalf("unquoted %q = %q, want %q", b, got, want)
		}
		if !raw.is(want) {
			t.Fatalf("%q is not %q", b, want)
		}
	})
}

func TestUnquoted(t *testing.T) {
	tests := []struct{ in, want string }{
		{`plain`, "plain"},
		{`a\"b\\c\/d`, `a"b\c/d`},
		{`\b\f\n\r\t`, "\b\f\n\r\t"},
		{`\u0041\u00e9\u20AC`, "Aé€"},
		{`\ud83d\ude00`, "😀"},
		{`\ud83dx`, "\uFFFDx"},           // high surrogate alone
		{`\ude00\ud83d`, "\uFFFD\uFFFD"}, // low before high: two halves, both alone
		{`\ud83d\u0041`, "\uFFFDA"},      // the escape after it is kept
		{`\ud83d\ud83d\ude00`, "\uFFFD😀"},
	}
	for _, tt := range tests {
		s := scanner{b: []byte(`"` + tt.in + `"`)}
		raw, err := s.quoted()
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got := raw.String(); got != tt.want {
			t.Errorf("unquoted(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPeek pins what hasKey and hasKind accept: what a json.Decoder
// reading token by token would, as far as the key and no further.
func TestPeek(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		in      string
		hasKind bool // kind "fs.tree.v1"
		hasKey  bool // key "kind"
	}{
		{`{"kind":"fs.tree.v1"}`, true, true},
		{" \t\r\n{ \"kind\" : \"fs.tree.v1\" }", true, true},
		{`{"kind":"fs.tree.v1"`, true, true},   // nothing after the value is read
		{`{"kind":"fs.tree.v1"]x`, true, true}, // not even this
		{`{"kind"`, false, true},
		{`{"kind":`, false, true},
		{`{"kind":"fs.tree.v1`, false, true},
		{`{"k\u0069nd":"fs.tree.v\u0031"}`, true, true},
		{`{"kind":1}`, false, true},
		{`{"kind":["fs.tree.v1"]}`, false, true},
		{`{"kind" "fs.tree.v1"}`, false, true},
		{`{"Kind":"fs.tree.v1"}`, false, false},
		{`{"a":{"kind":"x"},"kind":"fs.tree.v1"}`, true, true},
		{`{"kind":"fs.tree.v1","kind":"x"}`, true, true},         // the first one counts
		{"{\"a\":\"\xff\",\"kind\":\"fs.tree.v1\"}", true, true}, // no UTF-8 check
		{`{"a":1 "kind":"fs.tree.v1"}`, false, false},
		{`{"a":1,,"kind":"fs.tree.v1"}`, false, false},
		{`{,"kind":"fs.tree.v1"}`, false, false},
		{`{"a" 1,"kind":"fs.tree.v1"}`, false, false},
		{`{"a":[1,],"kind":"fs.tree.v1"}`, false, false},
		{`{"a":01,"kind":"fs.tree.v1"}`, false, false},
		{`{"a":tru,"kind":"fs.tree.v1"}`, false, false},
		{`{"a":"\x","kind":"fs.tree.v1"}`, false, false},
		{`{"a":1}{"kind":"fs.tree.v1"}`, false, false},
		{`{"a":` + deep(10000) + `,"kind":"fs.tree.v1"}`, true, true}, // encoding/json's limit
		{`{"a":` + deep(10001) + `,"kind":"fs.tree.v1"}`, false, false},
		{`[{"kind":"fs.tree.v1"}]`, false, false},
		{``, false, false},
		{`x{"kind":"fs.tree.v1"}`, false, false},
	}
	for _, tt := range tests {
		if got := hasKind([]byte(tt.in), TreeKind); got != tt.hasKind {
			t.Errorf("hasKind(%.60q) = %v", tt.in, got)
		}
		if got := hasKey([]byte(tt.in), "kind"); got != tt.hasKey {
			t.Errorf("hasKey(%.60q) = %v", tt.in, got)
		}
	}
}

func TestReaderKeys(t *testing.T) {
	E := `"` + EmptyDigest.String() + `"`
	page := func(extra string) string {
		return `{"layout":"l",` + extra + `"pages":[{"ix":0,"k":` + E + `,"v":` + E + `}]}`
	}
	var many strings.Builder
	for i := range 3 * otherKeysListMax {
		many.WriteString(`"x` + strings.Repeat("y", i) + `":0,`)
	}
	tests := []struct{ name, in, want string }{
		{"many unknown keys", page(many.String()), ""},
		{"many unknown keys, one twice", page(many.String() + `"xyyy":1,`), "xyyy: duplicate key"},
		{"unknown key twice", page(`"x":1,"x":2,`), "x: duplicate key"},
		{"unknown key twice, escaped", page(`"x":1,"\u0078":2,`), "x: duplicate key"},
		{"known key escaped", `{"l\u0061yout":"l","pages":[]}`, ""},
		{"known key twice, escaped", `{"layout":"l","l\u0061yout":"l","pages":[]}`, "layout: duplicate key"},
		{"keys out of order", `{"pages":[{"v":` + E + `,"ix":0,"k":` + E + `}],"dtype":"x","layout":"l"}`, ""},
		{"duplicates in skipped values are not looked at", page(`"x":{"a":1,"a":2},`), ""},
	}
	for _, tt := range tests {
		_, err := DecodeCachePages([]byte(tt.in))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestErrorOrder pins which of several problems a reader reports: the
// size, emptiness, UTF-8 and depth of the input before anything the walk
// finds, and then the first problem in document order.
func TestErrorOrder(t *testing.T) {
	golden := string(readGolden(t, "worked-example.json"))
	deep := strings.Repeat("[", 33) + strings.Repeat("]", 33)
	tests := []struct{ name, in, want string }{
		{"deep after a bad field", strings.Replace(golden, `"schema_version":1`, `"schema_version":2,"x":`+deep, 1), "nested deeper than 32 at offset"},
		{"deep in trailing data", golden + deep, "nested deeper than 32 at offset"},
		{"deep after malformed JSON", `{"a":}` + deep, "nested deeper than 32 at offset"},
		{"invalid UTF-8 before depth", deep + "\xff", "not valid UTF-8"},
		{"bad field before malformed JSON", strings.Replace(golden, `"schema_version":1`, `"schema_version":2`, 1) + "x", "schema_version: unsupported version 2"},
		{"missing key before trailing data", strings.Replace(golden, `"schema_version":1,`, ``, 1) + "x", "schema_version: missing"},
		{"duplicate key before missing colon", strings.Replace(golden, `"schema_version":1`, `"schema_version":1,"schema_version" 1`, 1), "schema_version: duplicate key"},
		{"type before malformed JSON", strings.Replace(golden, `"schema_version":1`, `"schema_version":"1"x`, 1), "schema_version: want an integer, got a string"},
		{"malformed scalar before type", strings.Replace(golden, `"schema_version":1`, `"schema_version":tru`, 1), "schema_version: malformed JSON"},
		{"missing comma", strings.Replace(golden, `"fingerprint":"f"`, `"fingerprint":"f" "x":1`, 1), "agent: malformed JSON"},
		{"missing colon", strings.Replace(golden, `"fingerprint":"f"`, `"fingerprint" "f"`, 1), "agent.fingerprint: malformed JSON"},
		{"missing comma in parents", strings.Replace(golden, `"parents":[]`, `"parents":["`+EmptyDigest.String()+`" 1]`, 1), "parents[1]: malformed JSON"},
		{"parents not closed", strings.Replace(golden, `"parents":[]}`, `"parents":["`+EmptyDigest.String()+`"}`, 1), "parents: malformed JSON"},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}
