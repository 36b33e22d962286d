package manifest

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// workedExampleID is sha256sum testdata/worked-example.json.
const workedExampleID = "sha256:9cb9fe7f9117f1173db7509e290acaf7a0d419bc832d731559a7c2b6ab6a565c"

// workedExample is the manifest of the spec's worked example: every layer
// the empty blob.
func workedExample() *Manifest {
	m := New(Agent{Kind: "demo", Version: "0.1.0", Fingerprint: "f"},
		time.Date(2026, 5, 5, 14, 11, 0, 123_456_000, time.UTC))
	for _, l := range m.Layers() {
		if err := m.SetLayer(l.Name, EmptyDigest); err != nil {
			panic(err)
		}
	}
	return m
}

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readReference reads a vector of testdata/reference/ and checks that it is
// still the file its test was written for: sha256sum of it is id.
func readReference(t testing.TB, name, id string) []byte {
	t.Helper()
	b := readGolden(t, "reference/"+name)
	if got := Sum(b).String(); got != id {
		t.Fatalf("testdata/reference/%s changed: sha256 %s, want %s", name, got, id)
	}
	return b
}

func TestWorkedExample(t *testing.T) {
	golden := readGolden(t, "worked-example.json")
	got, err := workedExample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Fatalf("Encode:\n got %s\nwant %s", got, golden)
	}
	id, err := workedExample().ID()
	if err != nil {
		t.Fatal(err)
	}
	if id.String() != workedExampleID || id != Sum(golden) {
		t.Errorf("ID = %s, want %s", id, workedExampleID)
	}
}

func TestDecodeGolden(t *testing.T) {
	golden := readGolden(t, "worked-example.json")
	m, err := Decode(golden)
	if err != nil {
		t.Fatal(err)
	}
	want := workedExample()
	if !equalManifest(m, want) {
		t.Errorf("Decode = %+v, want %+v", m, want)
	}
	got, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Errorf("re-encoded:\n got %s\nwant %s", got, golden)
	}
}

// TestRoundTripDeepEqual checks that a manifest built with New survives
// Encode and Decode unchanged down to reflect.DeepEqual, so that callers
// may compare manifests that way.
func TestRoundTripDeepEqual(t *testing.T) {
	for _, parents := range [][]Digest{nil, {Sum([]byte("a"))}, {Sum([]byte("a")), Sum([]byte("b"))}} {
		m := New(Agent{Kind: "k", Version: "v", Fingerprint: "f"}, time.Now(), parents...)
		m.World.FS = Sum([]byte("fs"))
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Errorf("Decode(Encode(m)) = %#v, want %#v", back, m)
		}
	}
}

func equalManifest(a, b *Manifest) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || len(a.Parents) != len(b.Parents) {
		return false
	}
	for i := range a.Parents {
		if a.Parents[i] != b.Parents[i] {
			return false
		}
	}
	return a.SchemaVersion == b.SchemaVersion && a.MediaType == b.MediaType &&
		a.Agent == b.Agent && a.Model == b.Model && a.Cache == b.Cache &&
		a.World == b.World && a.Effects == b.Effects && a.Trace == b.Trace
}

func TestEncodeParents(t *testing.T) {
	p1, p2 := Sum([]byte("one")), Sum([]byte("two"))
	for _, parents := range [][]Digest{nil, {p1}, {p1, p2}} {
		m := workedExample()
		m.Parents = parents
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		want.WriteString(`,"parents":[`)
		for i, p := range parents {
			if i > 0 {
				want.WriteString(",")
			}
			want.WriteString(`"` + p.String() + `"`)
		}
		want.WriteString("]}")
		if !strings.HasSuffix(string(b), want.String()) {
			t.Errorf("parents %v: encoded %s", parents, b)
		}
		back, err := Decode(b)
		if err != nil || !equalManifest(back, m) {
			t.Errorf("parents %v: Decode = %+v, %v", parents, back, err)
		}
	}
}

func TestEscaping(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `""`},
		{`plain`, `"plain"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\x0b\x1a\x1b", `"\u000b\u001a\u001b"`},
		{"\x7f", "\"\x7f\""},
		{`<script>&amp;</script>`, `"<script>&amp;</script>"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"naïve 日本語 🙂", `"naïve 日本語 🙂"`},
		{`/`, `"/"`},
	}
	for _, tt := range tests {
		if got := string(appendString(nil, tt.in)); got != tt.want {
			t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// And through a whole manifest, which must decode back to the input.
	for _, tt := range tests {
		m := workedExample()
		m.Agent.Kind = tt.in
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"kind":`+tt.want+`,`)) {
			t.Errorf("Encode with kind %q: %s", tt.in, b)
		}
		back, err := Decode(b)
		if err != nil || back.Agent.Kind != tt.in {
			t.Errorf("Decode of kind %q = %+v, %v", tt.in, back, err)
		}
	}
}

func TestValidate(t *testing.T) {
	p := Sum([]byte("p"))
	tests := []struct {
		name   string
		modify func(m *Manifest)
		want   string // "" for valid
	}{
		{"ok", func(m *Manifest) {}, ""},
		{"zero layers", func(m *Manifest) { m.World = World{} }, ""},
		{"schema 2", func(m *Manifest) { m.SchemaVersion = 2 }, "schema_version: unsupported version 2"},
		{"schema 0", func(m *Manifest) { m.SchemaVersion = 0 }, "schema_version: unsupported version 0"},
		{"media type", func(m *Manifest) { m.MediaType = "application/json" }, `media_type: "application/json"`},
		{"three parents", func(m *Manifest) { m.Parents = []Digest{p, EmptyDigest, {1}} }, "parents: 3 parents, at most 2"},
		{"duplicate parent", func(m *Manifest) { m.Parents = []Digest{p, p} }, "parents[1]: duplicate parent"},
		{"zero time", func(m *Manifest) { m.CreatedAt = time.Time{} }, "created_at: not set"},
		{"year 10000", func(m *Manifest) { m.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "created_at: year 10000"},
		{"bad UTF-8", func(m *Manifest) { m.Agent.Version = "\xff" }, "agent.version: \"\\xff\" is not valid UTF-8"},
		{"bad UTF-8 layout", func(m *Manifest) { m.Cache.Layout = "a\xc3" }, "cache.layout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := workedExample()
			tt.modify(m)
			err := m.Validate()
			_, encErr := m.Encode()
			if tt.want == "" {
				if err != nil || encErr != nil {
					t.Fatalf("Validate = %v, Encode = %v", err, encErr)
				}
				return
			}
			if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
			if encErr == nil || encErr.Error() != err.Error() {
				t.Errorf("Encode = %v, want the Validate error", encErr)
			}
		})
	}
}

func TestNew(t *testing.T) {
	local := time.Date(2026, 5, 5, 16, 11, 0, 0, time.FixedZone("CEST", 2*3600))
	p := Sum([]byte("p"))
	parents := []Digest{p}
	m := New(Agent{Kind: "k"}, local, parents...)
	parents[0] = Digest{}
	if m.SchemaVersion != SchemaVersion || m.MediaType != MediaType || m.Cache.Layout != DefaultCacheLayout {
		t.Errorf("New = %+v", m)
	}
	if m.CreatedAt.Location() != time.UTC || !m.CreatedAt.Equal(local) {
		t.Errorf("CreatedAt = %v", m.CreatedAt)
	}
	if len(m.Parents) != 1 || m.Parents[0] != p {
		t.Errorf("Parents = %v, want a copy of [%s]", m.Parents, p)
	}
}

func TestLayers(t *testing.T) {
	m := New(Agent{}, time.Now())
	names := []string{"model.base", "model.diff", "cache.manifest", "world.fs", "world.env", "world.procs", "effects.ledger", "trace.messages"}
	for i, name := range names {
		if err := m.SetLayer(name, Digest{byte(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	want := [...]Digest{m.Model.Base, m.Model.Diff, m.Cache.Manifest, m.World.FS, m.World.Env, m.World.Procs, m.Effects.Ledger, m.Trace.Messages}
	layers := m.Layers()
	if len(layers) != len(names) {
		t.Fatalf("%d layers", len(layers))
	}
	for i, l := range layers {
		if l.Name != names[i] || l.Digest != (Digest{byte(i + 1)}) || l.Digest != want[i] {
			t.Errorf("layer %d = %s %s", i, l.Name, l.Digest.Short())
		}
		if d, ok := m.Layer(l.Name); !ok || d != l.Digest {
			t.Errorf("Layer(%s) = %s, %v", l.Name, d.Short(), ok)
		}
	}
	if _, ok := m.Layer("world"); ok {
		t.Error("Layer(world) ok")
	}
	if err := m.SetLayer("world", EmptyDigest); err == nil {
		t.Error("SetLayer(world) succeeded")
	}
}

func TestDecodeAccepts(t *testing.T) {
	golden := string(readGolden(t, "worked-example.json"))
	p1, p2 := Sum([]byte("a")).String(), Sum([]byte("b")).String()
	tests := []struct {
		name  string
		in    string
		check func(m *Manifest) bool
	}{
		{"no parents key", strings.Replace(golden, `,"parents":[]`, ``, 1),
			func(m *Manifest) bool { return len(m.Parents) == 0 }},
		{"two parents", strings.Replace(golden, `"parents":[]`, `"parents":["`+p1+`","`+p2+`"]`, 1),
			func(m *Manifest) bool { return len(m.Parents) == 2 && m.Parents[1].String() == p2 }},
		{"unknown keys", strings.Replace(golden, `{"schema_version":1,`, `{"x":{"y":[1,{"z":null}]},"schema_version":1,"agent2":true,`, 1),
			func(m *Manifest) bool { return true }},
		{"unknown nested key", strings.Replace(golden, `"fingerprint":"f"`, `"fingerprint":"f","extra":[]`, 1),
			func(m *Manifest) bool { return m.Agent.Fingerprint == "f" }},
		{"other key order and white space", " \n" + strings.Replace(strings.Replace(golden, `"schema_version":1,`, ``, 1), `"parents":[]}`, `"parents" : [ ] , "schema_version" : 1 }`, 1) + "\n",
			func(m *Manifest) bool { return m.SchemaVersion == 1 }},
		{"offset time", strings.Replace(golden, `2026-05-05T14:11:00.123456Z`, `2026-05-05T16:11:00.123456+02:00`, 1),
			func(m *Manifest) bool {
				return m.CreatedAt.Location() == time.UTC && m.CreatedAt.Equal(time.Date(2026, 5, 5, 14, 11, 0, 123456000, time.UTC))
			}},
		{"escaped strings", strings.Replace(golden, `"kind":"demo"`, `"kind":"d\u0065mo\n\/"`, 1),
			func(m *Manifest) bool { return m.Agent.Kind == "demo\n/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(m) {
				t.Errorf("Decode = %+v", m)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	golden := string(readGolden(t, "worked-example.json"))
	E := EmptyDigest.String()
	upper := "sha256:" + strings.ToUpper(emptyHex)
	replace := func(old, new string) string {
		if !strings.Contains(golden, old) {
			panic("golden lacks " + old)
		}
		return strings.Replace(golden, old, new, 1)
	}
	p1, p2, p3 := Sum([]byte("a")).String(), Sum([]byte("b")).String(), Sum([]byte("c")).String()
	deep := strings.Replace(golden, `"parents":[]`, `"parents":[],"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40), 1)

	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"empty", "", "empty input"},
		{"white space", " \n", "empty input"},
		{"array", "[]", "not a JSON object: want an object, got an array"},
		{"string", `"x"`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"invalid UTF-8", replace(`"demo"`, "\"de\xffmo\""), "not valid UTF-8"},
		{"trailing garbage", golden + "x", "trailing data"},
		{"two objects", golden + golden, "trailing data"},
		{"truncated", golden[:len(golden)-1], "malformed JSON"},
		{"syntax", replace(`"fingerprint":"f"`, `"fingerprint":"f",`), "malformed JSON"},
		{"too large", golden + strings.Repeat(" ", MaxManifestSize), "limit 1048576"},
		{"too deep", deep, "nested deeper than 32"},
		{"duplicate key", replace(`"schema_version":1,`, `"schema_version":1,"schema_version":1,`), "schema_version: duplicate key"},
		{"duplicate nested key", replace(`"kind":"demo",`, `"kind":"demo","kind":"x",`), "agent.kind: duplicate key"},
		{"keys are case-sensitive", replace(`"schema_version":1`, `"Schema_Version":1`), "schema_version: missing"},

		{"missing schema_version", replace(`"schema_version":1,`, ``), "schema_version: missing"},
		{"missing media_type", replace(`"media_type":"application/vnd.processfork.image.v1+json",`, ``), "media_type: missing"},
		{"missing agent", replace(`"agent":{"kind":"demo","version":"0.1.0","fingerprint":"f"},`, ``), "agent: missing"},
		{"missing agent.version", replace(`"version":"0.1.0",`, ``), "agent.version: missing"},
		{"missing model.diff", replace(`,"diff":"`+E+`"`, ``), "model.diff: missing"},
		{"missing cache.layout", replace(`"layout":"paged-batchinvariant-v1",`, ``), "cache.layout: missing"},
		{"missing world", replace(`"world":{"fs":"`+E+`","env":"`+E+`","procs":"`+E+`"},`, ``), "world: missing"},
		{"missing world.procs", replace(`,"procs":"`+E+`"`, ``), "world.procs: missing"},
		{"missing effects.ledger", replace(`"effects":{"ledger":"`+E+`"}`, `"effects":{}`), "effects.ledger: missing"},
		{"missing trace", replace(`"trace":{"messages":"`+E+`"},`, ``), "trace: missing"},
		{"missing created_at", replace(`"created_at":"2026-05-05T14:11:00.123456Z",`, ``), "created_at: missing"},

		{"schema_version string", replace(`"schema_version":1`, `"schema_version":"1"`), "schema_version: want an integer, got a string"},
		{"schema_version float", replace(`"schema_version":1`, `"schema_version":1.0`), `schema_version: want an integer, got "1.0"`},
		{"schema_version 2", replace(`"schema_version":1`, `"schema_version":2`), "schema_version: unsupported version 2, want 1"},
		{"schema_version huge", replace(`"schema_version":1`, `"schema_version":99999999999999999999`), "out of range"},
		{"other media type", replace(`image.v1+json`, `image.v2+json`), `media_type: "application/vnd.processfork.image.v2+json", want`},
		{"media_type null", replace(`"media_type":"application/vnd.processfork.image.v1+json"`, `"media_type":null`), "media_type: want a string, got null"},
		{"agent array", replace(`"agent":{"kind":"demo","version":"0.1.0","fingerprint":"f"}`, `"agent":[]`), "agent: want an object, got an array"},
		{"agent.kind number", replace(`"kind":"demo"`, `"kind":7`), "agent.kind: want a string, got a number"},
		{"agent.fingerprint bool", replace(`"fingerprint":"f"`, `"fingerprint":true`), "agent.fingerprint: want a string, got a boolean"},
		{"model string", replace(`"model":{"base":"`+E+`","diff":"`+E+`"}`, `"model":"`+E+`"`), "model: want an object, got a string"},
		{"digest number", replace(`"ledger":"`+E+`"`, `"ledger":1`), "effects.ledger: want a string, got a number"},
		{"created_at number", replace(`"created_at":"2026-05-05T14:11:00.123456Z"`, `"created_at":1`), "created_at: want a string, got a number"},
		{"created_at not RFC 3339", replace(`2026-05-05T14:11:00.123456Z`, `2026-05-05 14:11:00`), "created_at: invalid time"},
		{"created_at zero", replace(`2026-05-05T14:11:00.123456Z`, `0001-01-01T00:00:00Z`), "created_at: not set"},
		{"created_at year -1 in UTC", replace(`2026-05-05T14:11:00.123456Z`, `0000-01-01T00:00:00+01:00`), "created_at: year -1"},
		{"parents object", replace(`"parents":[]`, `"parents":{}`), "parents: want an array, got an object"},
		{"parents null", replace(`"parents":[]`, `"parents":null`), "parents: want an array, got null"},
		{"3 parents", replace(`"parents":[]`, `"parents":["`+p1+`","`+p2+`","`+p3+`"]`), "parents: more than 2 parents"},
		{"duplicate parents", replace(`"parents":[]`, `"parents":["`+p1+`","`+p1+`"]`), "parents[1]: duplicate parent"},
		{"parent number", replace(`"parents":[]`, `"parents":[1]`), "parents[0]: want a string, got a number"},
	}
	// A bad digest in each position.
	positions := []struct{ field, old string }{
		{"model.base", `"base":"` + E},
		{"model.diff", `"diff":"` + E},
		{"cache.manifest", `"manifest":"` + E},
		{"world.fs", `"fs":"` + E},
		{"world.env", `"env":"` + E},
		{"world.procs", `"procs":"` + E},
		{"effects.ledger", `"ledger":"` + E},
		{"trace.messages", `"messages":"` + E},
	}
	for _, p := range positions {
		key := p.old[:strings.Index(p.old, ":")+1]
		tests = append(tests,
			struct{ name, in, want string }{p.field + " upper-case", replace(p.old, key+`"`+upper),
				p.field + `: invalid digest "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855": upper-case hex`},
			struct{ name, in, want string }{p.field + " md5", replace(p.old, key+`"md5:d41d8cd98f00b204e9800998ecf8427e`),
				p.field + `: invalid digest "md5:d41d8cd98f00b204e9800998ecf8427e": unsupported algorithm "md5"`},
			struct{ name, in, want string }{p.field + " short", replace(p.old, key+`"`+E[:40]),
				p.field + `: invalid digest "` + E[:40] + `": 33 hex digits, want 64`},
		)
	}
	tests = append(tests,
		struct{ name, in, want string }{"parents[1] no prefix", replace(`"parents":[]`, `"parents":["`+p1+`","`+emptyHex+`"]`),
			`parents[1]: invalid digest "` + emptyHex + `": missing "sha256:" prefix`},
	)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", m)
			}
			if !errors.Is(err, ErrInvalidManifest) {
				t.Errorf("error %v does not wrap ErrInvalidManifest", err)
			}
			if !strings.HasPrefix(err.Error(), "invalid manifest: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
			if strings.Contains(tt.want, "invalid digest") && !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("error %v does not wrap ErrInvalidDigest", err)
			}
		})
	}
}
