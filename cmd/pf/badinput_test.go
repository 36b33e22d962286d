package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// badInputStore is a store with one image, a tag and a few blobs, and
// what the cases need to know about it.
type badInputStore struct {
	path  string
	image manifest.Digest
	empty manifest.Digest
	twinA manifest.Digest // twinA and twinB share their first 6 hex digits
}

func newBadInputStore(t *testing.T) badInputStore {
	t.Helper()
	dir := t.TempDir()
	st := badInputStore{path: filepath.Join(dir, "store.pf")}
	mustRun(t, "--store", st.path, "init")
	st.image = manifest.Digest(mustDigest(t, mustRun(t, "--store", st.path, "snapshot", "--fixture")))
	mustRun(t, "--store", st.path, "tag", "main", st.image.String())
	st.empty = mustDigest(t, putBytes(t, st.path, nil))
	a, b := twins()
	st.twinA = mustDigest(t, putBytes(t, st.path, a))
	putBytes(t, st.path, b)
	return st
}

// twins finds two short blobs whose digests share 6 hex digits.
func twins() ([]byte, []byte) {
	seen := map[string][]byte{}
	for i := 0; ; i++ {
		b := []byte(fmt.Sprint("twin ", i))
		sum := sha256.Sum256(b)
		key := fmt.Sprintf("%x", sum[:3])
		if other, ok := seen[key]; ok {
			return other, b
		}
		seen[key] = b
	}
}

func putBytes(t *testing.T, store string, b []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "blob")
	os.WriteFile(f, b, 0o600)
	return mustRun(t, "--store", store, "put", f)
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := run(append([]string{"pf"}, args...), testInvocation(&out, &errs)); code != 0 {
		t.Fatalf("pf %s: exit %d: %s", strings.Join(args, " "), code, errs.String())
	}
	return strings.TrimSpace(out.String())
}

func mustDigest(t *testing.T, s string) manifest.Digest {
	t.Helper()
	d, err := manifest.ParseDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// manifestJSON is a valid manifest whose layers are all the empty blob,
// with edit applied to the text.
func manifestJSON(st badInputStore, edit func(string) string) string {
	e := st.empty.String()
	m := `{"schema_version":1,"media_type":"application/vnd.processfork.image.v1+json",` +
		`"agent":{"kind":"k","version":"1","fingerprint":"f"},"model":{"base":"E","diff":"E"},` +
		`"cache":{"layout":"paged-batchinvariant-v1","manifest":"E"},"world":{"fs":"E","env":"E","procs":"E"},` +
		`"effects":{"ledger":"E"},"trace":{"messages":"E"},"created_at":"2026-11-27T10:00:00Z","parents":[]}`
	return edit(strings.ReplaceAll(m, `"E"`, `"`+e+`"`))
}

// TestBadInput feeds pf malformed ids, manifests and store files. Each
// case fails with its exit code and a one-line error naming what was
// wrong, and leaves the store file exactly as it was.
func TestBadInput(t *testing.T) {
	st := newBadInputStore(t)
	file := func(name, content string) string {
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	repl := func(old, new string) func(string) string {
		return func(m string) string { return strings.Replace(m, old, new, 1) }
	}
	missing := manifest.Sum([]byte("absent")).String()
	e := st.empty.String()
	// A tree whose entry escapes the root, stored as a blob.
	escaping := `{"kind":"fs.tree.v1","entries":[{"path":"../etc/passwd","mode":"0644","size":0,"kind":"file","blob":"` + e + `"}]}`
	escapingID := mustDigest(t, putBytes(t, st.path, []byte(escaping)))

	type tc struct {
		name string
		args []string
		code int
		want string // in the one-line error
	}
	cases := []tc{
		{"short id (could be a tag)", []string{"show", "abc"}, 1, "too few"},
		{"short id with prefix", []string{"show", "sha256:ab12"}, 2, "ab12"},
		{"upper-case id", []string{"show", strings.ToUpper(st.image.Hex())}, 2, "upper-case"},
		{"other algorithm", []string{"show", "md5:d41d8cd98f00b204e9800998ecf8427e"}, 2, "md5"},
		{"id of 65 digits", []string{"show", "sha256:" + st.image.Hex() + "0"}, 2, "65"},
		{"non-hex digit", []string{"get", "sha256:" + strings.Repeat("g", 64)}, 2, "hex"},
		{"prefix matching nothing", []string{"show", "000000"}, 1, "000000"},
		{"ambiguous prefix", []string{"has", st.twinA.Hex()[:6]}, 1, "ambiguous"},
		{"unknown tag", []string{"log", "no-such-tag"}, 1, "no-such-tag"},
		{"invalid tag name", []string{"tag", "bad name", st.image.String()}, 2, "tag name"},
		{"tag naming no image", []string{"tag", "x", missing}, 1, missing[:20]},
		{"bad --since", []string{"log", "--since", "last tuesday-ish"}, 2, "since"},
		{"negative keep-last", []string{"prune", "--keep-last", "-1"}, 2, "keep-last"},
		{"prune without policy", []string{"prune"}, 2, "keep-last"},
		{"unknown flag", []string{"log", "--bogus"}, 2, "bogus"},
		{"too many arguments", []string{"stats", "extra"}, 2, "too many"},
		{"put of a missing file", []string{"put", filepath.Join(t.TempDir(), "absent")}, 1, "absent"},
		{"manifest file missing", []string{"snapshot", "--manifest", filepath.Join(t.TempDir(), "absent.json")}, 1, "absent.json"},
		{"manifest missing a field", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"trace":{"messages":"`+e+`"},`, "")))}, 1, "trace"},
		{"manifest field of the wrong type", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"schema_version":1`, `"schema_version":"1"`)))}, 1, "schema_version"},
		{"schema_version 2", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"schema_version":1`, `"schema_version":2`)))}, 1, "schema_version"},
		{"other media_type", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`image.v1+json`, `image.v2+json`)))}, 1, "media_type"},
		{"three parents", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"parents":[]`, `"parents":["`+st.image.String()+`","`+missing+`","`+e+`"]`)))}, 1, "parents"},
		{"unknown parent", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"parents":[]`, `"parents":["`+missing+`"]`)))}, 1, missing},
		{"digest of an absent blob", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"diff":"`+e, `"diff":"`+missing)))}, 1, missing},
		{"upper-case digest in a manifest", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"diff":"`+e, `"diff":"`+strings.ToUpper(e))))}, 1, "model.diff"},
		{"invalid UTF-8", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"kind":"k"`, "\"kind\":\"k\xff\"")))}, 1, "UTF-8"},
		{"huge manifest", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"kind":"k"`, `"kind":"`+strings.Repeat("k", 2<<20)+`"`)))}, 1, "limit"},
		{"deeply nested JSON", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"kind":"k"`, `"kind":"k","x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000))))}, 1, "deep"},
		{"not JSON", []string{"snapshot", "--manifest", file("m.json", "hello\n")}, 1, "manifest"},
		{"tree entry escaping the root", []string{"snapshot", "--manifest", file("m.json", manifestJSON(st, repl(`"fs":"`+e, `"fs":"`+escapingID.String())))}, 1, ".."},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			before := fileSum(t, st.path)
			var out, errs bytes.Buffer
			code := run(append([]string{"pf", "--store", st.path}, tt.args...), testInvocation(&out, &errs))
			checkFailure(t, code, tt.code, errs.String(), tt.want)
			if fileSum(t, st.path) != before {
				t.Fatal("the store file changed")
			}
		})
	}
}

// TestBadInput_StoreFiles opens files that are not whole stores.
func TestBadInput_StoreFiles(t *testing.T) {
	st := newBadInputStore(t)
	good, err := os.ReadFile(st.path)
	if err != nil {
		t.Fatal(err)
	}
	var used int64
	b, _ := bolt.Open(st.path, 0o600, &bolt.Options{ReadOnly: true})
	b.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	b.Close()
	garbage := bytes.Clone(good)
	for i := 2 * 4096; i < int(used); i++ {
		garbage[i] = byte(i*7 + 3)
	}
	cases := []struct {
		name    string
		content []byte
		edit    func(t *testing.T, path string)
		args    []string
		code    int
		want    string
	}{
		{"not a bbolt file", []byte("hello, I am a text file\n"), nil, []string{"log"}, 1, "not a pf store"},
		{"empty file", []byte{}, nil, []string{"stats"}, 1, "not a pf store"},
		{"truncated store", good[:used/2], nil, []string{"log"}, 4, "damaged store"},
		{"random 5000 bytes", randomBytes(5000), nil, []string{"log"}, 1, "not a pf store"},
		{"store cut to 4096 bytes", good[:4096], nil, []string{"log"}, 4, "damaged store"},
		{"store cut to 16 KiB", good[:16<<10], nil, []string{"verify"}, 4, "damaged store"},
		{"pages overwritten with garbage", garbage, nil, []string{"verify"}, 4, "corrupt"},
		{"newer schema", good, func(t *testing.T, p string) {
			editStore(t, p, func(tx *bolt.Tx) error {
				return tx.Bucket(db.BucketMeta).Put(db.KeySchemaVersion, binary.BigEndian.AppendUint64(nil, 99))
			})
		}, []string{"log"}, 1, "newer"},
		{"zstd value past its recorded size", good, func(t *testing.T, p string) {
			enc, _ := zstd.NewWriter(nil)
			bomb := enc.EncodeAll(make([]byte, 1<<20), nil)
			value := append(binary.AppendUvarint([]byte{0x01}, 10), bomb...)
			setBlob(t, p, manifest.Sum(make([]byte, 10)), value)
		}, []string{"get", manifest.Sum(make([]byte, 10)).String()}, 4, "corrupt"},
		{"chunk list naming itself", good, func(t *testing.T, p string) {
			self := manifest.Sum([]byte("self"))
			value := append(binary.AppendUvarint([]byte{0x02}, 4), self[:]...)
			value = binary.AppendUvarint(value, 4)
			setBlob(t, p, self, value)
		}, []string{"get", manifest.Sum([]byte("self")).String()}, 4, "itself"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.pf")
			os.WriteFile(path, tt.content, 0o600)
			if tt.edit != nil {
				tt.edit(t, path)
			}
			before := fileSum(t, path)
			var out, errs bytes.Buffer
			code := run(append([]string{"pf", "--store", path}, tt.args...), testInvocation(&out, &errs))
			checkFailure(t, code, tt.code, errs.String(), tt.want)
			// An error about the file names it (one about a blob, got
			// by pf get, names the blob).
			if tt.args[0] != "get" && !strings.Contains(errs.String(), path) {
				t.Errorf("error %q does not name the file", errs.String())
			}
			if fileSum(t, path) != before {
				t.Fatal("the store file changed")
			}
		})
	}
}

// randomBytes is n bytes of a fixed pseudo-random stream.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(b)
	return b
}

func checkFailure(t *testing.T, code, want int, stderr, mention string) {
	t.Helper()
	if code != want {
		t.Fatalf("exit %d, want %d; stderr: %s", code, want, stderr)
	}
	if !strings.HasPrefix(stderr, "pf: ") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("want one line starting \"pf: \", got %q", stderr)
	}
	if !strings.Contains(strings.ToLower(stderr), strings.ToLower(mention)) {
		t.Fatalf("error %q does not mention %q", stderr, mention)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func editStore(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// setBlob stores a raw value under d, as a damaged or hostile file would
// hold it.
func setBlob(t *testing.T, path string, d manifest.Digest, value []byte) {
	editStore(t, path, func(tx *bolt.Tx) error {
		vb, err := tx.Bucket(db.BucketBlobs).CreateBucketIfNotExists(d[:])
		if err != nil {
			return err
		}
		return vb.Put([]byte{0}, value)
	})
}

var _ = pf.ErrCorrupt
