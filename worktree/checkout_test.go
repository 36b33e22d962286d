package worktree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// TestCheckout_RoundTrip: snapshot, checkout, snapshot again gives the
// same world.fs digest, and the checkout holds what the directory held.
func TestCheckout_RoundTrip(t *testing.T) {
	src := t.TempDir()
	nodes := append(oddTree(),
		node{path: "big.bin", content: string(castest.Payload(1, 3<<20))}, // chunked in the store
		node{path: "setuid", content: "x", mode: 0o755 | os.ModeSetuid},
		node{path: "sticky/", mode: 0o755 | os.ModeSticky},
	)
	build(t, src, nodes...)
	s := openStore(t)
	first := snapshot(t, s, &Capture{Root: src, Store: s})

	into := filepath.Join(t.TempDir(), "restored")
	if err := Checkout(ctx, s, first, into, CheckoutOptions{AllowOutsideSymlinks: true}); err != nil {
		t.Fatal(err)
	}
	second := snapshot(t, s, &Capture{Root: into, Store: s}, first)
	if a, b := worldFS(t, s, first), worldFS(t, s, second); a != b {
		t.Errorf("world.fs %s after the round trip, was %s: %v", b.Short(), a.Short(), DiffTrees(treeOfImage(t, s, first), treeOfImage(t, s, second)))
	}
	for _, n := range nodes {
		p := filepath.Join(into, filepath.FromSlash(strings.TrimSuffix(n.path, "/")))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		switch {
		case n.link != "":
			if target, _ := os.Readlink(p); target != n.link {
				t.Errorf("%q -> %q, want %q", n.path, target, n.link)
			}
		case !strings.HasSuffix(n.path, "/"):
			if b, _ := os.ReadFile(p); string(b) != n.content {
				t.Errorf("%q: %d bytes, want %d", n.path, len(b), len(n.content))
			}
			if n.mode != 0 && fi.Mode()&manifest.ModeMask != n.mode {
				t.Errorf("%q: mode %v, want %v", n.path, fi.Mode(), n.mode)
			}
		}
	}
	if id, ok, err := ReadCID(into); err != nil || !ok || id != first {
		t.Errorf(".pfcid: %v %v %v, want %s", id, ok, err, first)
	}
	assertNoStaging(t, filepath.Dir(into))
}

func treeOfImage(t *testing.T, s *pf.Store, id manifest.Digest) *manifest.Tree {
	t.Helper()
	tree, err := LoadTree(ctx, s, id)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// assertNoStaging fails if a staging directory was left in dir.
func assertNoStaging(t *testing.T, dir string) {
	t.Helper()
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.Contains(de.Name(), ".pf-checkout-") {
			t.Errorf("staging directory %s left behind", de.Name())
		}
	}
}

// commitTree commits an image whose world.fs is a tree of the entries
// given, storing contents[path] as each file's blob and each link's
// target text. The tree is checked only as the store checks it.
func commitTree(t *testing.T, s *pf.Store, contents map[string]string, entries ...manifest.Entry) manifest.Digest {
	t.Helper()
	for i := range entries {
		e := &entries[i]
		switch e.Kind {
		case manifest.KindFile:
			e.Blob = put(t, s, contents[e.Path])
			e.Size = int64(len(contents[e.Path]))
		case manifest.KindSymlink:
			e.Blob = put(t, s, e.LinkTarget)
			e.Size = int64(len(e.LinkTarget))
		}
	}
	return commitEntries(t, s, entries...)
}

// commitEntries commits an image whose tree is entries as they are.
func commitEntries(t *testing.T, s *pf.Store, entries ...manifest.Entry) manifest.Digest {
	t.Helper()
	raw, err := (&manifest.Tree{Entries: entries}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := manifest.New(agent, time.Now())
	empty := put(t, s, "")
	m.Model = manifest.Model{Base: empty, Diff: empty}
	m.Cache.Manifest = empty
	m.World = manifest.World{FS: put(t, s, string(raw)), Env: empty, Procs: empty}
	m.Effects.Ledger, m.Trace.Messages = empty, empty
	id, err := s.CommitManifest(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func put(t *testing.T, s *pf.Store, content string) manifest.Digest {
	t.Helper()
	d, err := s.Blobs().PutBytes(ctx, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func file(path string) manifest.Entry {
	return manifest.Entry{Path: path, Mode: 0o644, Kind: manifest.KindFile}
}
func dir(path string) manifest.Entry {
	return manifest.Entry{Path: path, Mode: 0o755, Kind: manifest.KindDir}
}
func link(path, target string) manifest.Entry {
	return manifest.Entry{Path: path, Mode: 0o777, Kind: manifest.KindSymlink, LinkTarget: target}
}

func TestCheckout_Refuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allow   bool // AllowOutsideSymlinks
		entries []manifest.Entry
		problem string // "" when the tree is restored
	}{
		// Even where links may point outside, nothing is written through one.
		{"path through a link", true, []manifest.Entry{link("escape", "/tmp"), file("escape/planted")},
			`entry "escape/planted": unsafe tree entry: goes through the symbolic link "escape"`},
		{"path through a relative link", true, []manifest.Entry{dir("d"), link("d/up", ".."), file("d/up/x")},
			`entry "d/up/x": unsafe tree entry: goes through the symbolic link "d/up"`},
		{"file under a file", false, []manifest.Entry{file("f"), file("f/g")},
			`entry "f/g": unsafe tree entry: its parent "f" is a file`},
		{"link loop is restored as is", false, []manifest.Entry{link("a", "b"), link("b", "a"), link("self", "self")}, ""},
		{"target climbing and coming back", false, []manifest.Entry{dir("a"), file("a/f"), link("a/l", "../a/f")}, ""},
		{"implicit parents", false, []manifest.Entry{file("src/deep/x.go")}, ""},
		{"implicit parents shared", false, []manifest.Entry{file("src/a/x"), file("src/a/y"), file("src/b/z")}, ""},
		// Parents are checked to the first checked already: what is above
		// a directory of the tree, or one only implied, is checked still.
		{"link above an implied directory", true, []manifest.Entry{link("escape", "/tmp"), file("escape/a/b/planted")},
			`entry "escape/a/b/planted": unsafe tree entry: goes through the symbolic link "escape"`},
		{"link above a directory of the tree", true, []manifest.Entry{link("escape", "/tmp"), dir("escape/d"), file("escape/d/planted")},
			`entry "escape/d": unsafe tree entry: goes through the symbolic link "escape"`},
		{"file above an implied directory met twice", false, []manifest.Entry{file("ok/x/1"), file("f"), file("f/x/1"), file("f/x/2")},
			`entry "f/x/1": unsafe tree entry: its parent "f" is a file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			id := commitTree(t, s, map[string]string{}, tc.entries...)
			parent := t.TempDir()
			into := filepath.Join(parent, "out")
			err := Checkout(ctx, s, id, into, CheckoutOptions{AllowOutsideSymlinks: tc.allow})
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("checkout: %v, want %q", err, tc.problem)
			}
			if _, err := os.Lstat(into); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s exists after a refused checkout", into)
			}
			assertNoStaging(t, parent)
		})
	}
}

// Links that leave the tree are skipped with a warning naming them, and
// the rest of the tree is restored; allowed, they are made.
func TestCheckout_SkipsOutsideLinks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []manifest.Entry
		skipped string
	}{
		{"absolute target", []manifest.Entry{link("venv/bin/python", "/usr/bin/python3"), file("venv/pyvenv.cfg")}, "venv/bin/python"},
		{"target climbing out", []manifest.Entry{dir("a"), link("a/out", "../../outside"), file("a/f")}, "a/out"},
		{"target climbing out through another link", []manifest.Entry{dir("x"), link("x/sub", ".."), link("a", "x/sub/..")}, "a"},
	} {
		for _, allow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, allowed %v", tc.name, allow), func(t *testing.T) {
				s := openStore(t)
				id := commitTree(t, s, map[string]string{}, tc.entries...)
				into := filepath.Join(t.TempDir(), "out")
				var warned warnings
				if err := Checkout(ctx, s, id, into, CheckoutOptions{AllowOutsideSymlinks: allow, Warn: warned.add}); err != nil {
					t.Fatal(err)
				}
				_, err := os.Lstat(filepath.Join(into, filepath.FromSlash(tc.skipped)))
				var outside *OutsideLinkError
				switch w := warned.get(tc.skipped); {
				case allow && (err != nil || w != nil):
					t.Errorf("allowed: %s: %v, warning %v", tc.skipped, err, w)
				case !allow && !errors.Is(err, fs.ErrNotExist):
					t.Errorf("%s was made: %v", tc.skipped, err)
				case !allow && (!errors.Is(w, ErrSkipped) || !errors.As(w, &outside)):
					t.Errorf("%s: warning %v", tc.skipped, w)
				}
			})
		}
	}
}

func TestLinkEscapes(t *testing.T) {
	links := map[string]string{"x/sub": "..", "abs": "/", "loop1": "loop2", "loop2": "loop1", "d/in": "../d2"}
	for _, tc := range []struct {
		link, target string
		want         bool
	}{
		{"a", "b", false},
		{"a", "./b/./c", false},
		{"a", "../b", true},
		{"a", "b/../../c", true},
		{"d/l", "../b", false},
		{"d/l", "../../b", true},
		{"a", "x/sub/f", false},   // x/sub is the root
		{"a", "x/sub/..", true},   // so its parent is outside
		{"a", "abs/etc", true},    // through a link to an absolute path
		{"a", "loop1/x", false},   // never resolves
		{"d/l", "in/../..", true}, // d/in is d2, so in/.. is the root
		{"deep/er/l", "../../x", false},
	} {
		if got := linkEscapes(links, tc.link, tc.target); got != tc.want {
			t.Errorf("%s -> %s: escapes %v, want %v", tc.link, tc.target, got, tc.want)
		}
	}
}

func TestCheckout_AllowOutsideSymlinks(t *testing.T) {
	s := openStore(t)
	id := commitTree(t, s, nil, link("passwd", "/etc/passwd"), link("up", "../x"), dir("d"), file("d/f"))
	into := filepath.Join(t.TempDir(), "out")
	if err := Checkout(ctx, s, id, into, CheckoutOptions{AllowOutsideSymlinks: true}); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(into, "passwd")); err != nil || target != "/etc/passwd" {
		t.Errorf("passwd -> %q, %v", target, err)
	}
}

// TestCheckoutTree_PathsTheStoreRefuses: absolute paths and ".." cannot
// be committed (manifest.DecodeTree refuses them), so no store image has
// them; Checkout refuses them again all the same, being the one place
// where they would write outside.
func TestCheckoutTree_PathsTheStoreRefuses(t *testing.T) {
	for _, tc := range []struct {
		path, problem string
	}{
		{"/etc/cron.d/evil", "absolute path"},
		{"../evil", `".." segment`},
		{"a/../../evil", `".." segment`},
		{"a/./b", `"." segment`},
		{"a//b", "empty path segment"},
		{"a\x00b", "NUL"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			blobs := cas.NewMemory()
			d, _ := blobs.PutBytes(ctx, []byte("x"))
			tree := &manifest.Tree{Entries: []manifest.Entry{{Path: tc.path, Mode: 0o644, Size: 1, Kind: manifest.KindFile, Blob: d}}}
			if _, err := tree.Encode(); !errors.Is(err, manifest.ErrInvalidTree) {
				t.Errorf("the format lets %q through: %v", tc.path, err)
			}
			parent := t.TempDir()
			err := checkoutTree(ctx, blobs, tree, manifest.Sum(nil), filepath.Join(parent, "out"), CheckoutOptions{})
			if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("checkout: %v, want %q", err, tc.problem)
			}
			if des, _ := os.ReadDir(parent); len(des) != 0 {
				t.Errorf("%d entries left in %s", len(des), parent)
			}
		})
	}
}

// The target must not exist, or be an empty directory (not a link to
// one), which the checkout fills and whose mode it keeps.
func TestCheckout_TargetMustNotExist(t *testing.T) {
	s := openStore(t)
	id := commitTree(t, s, map[string]string{"f": "x"}, file("f"))
	parent := t.TempDir()
	build(t, parent, node{path: "dir/mine", content: "mine"}, node{path: "file", content: "mine"}, node{path: "dangling", link: "nowhere"},
		node{path: "empty/", mode: 0o750}, node{path: "empty2/"}, node{path: "link-to-empty", link: "empty2"})
	if err := Checkout(ctx, s, id, filepath.Join(parent, "empty"), CheckoutOptions{}); err != nil {
		t.Fatalf("empty directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(parent, "empty", "f")); string(b) != "x" {
		t.Errorf("empty/f = %q", b)
	}
	if fi, err := os.Stat(filepath.Join(parent, "empty")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("empty directory's mode after: %v, %v", fi.Mode(), err)
	}
	for _, name := range []string{"dir", "file", "dangling", "link-to-empty"} {
		err := Checkout(ctx, s, id, filepath.Join(parent, name), CheckoutOptions{})
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("%s: %v, want fs.ErrExist", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(parent, "file")); string(b) != "mine" {
		t.Error("file overwritten")
	}
	if err := Checkout(ctx, s, id, filepath.Join(parent, "no", "such", "parent"), CheckoutOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing parent: %v", err)
	}
	assertNoStaging(t, parent)
}

// The destination is checked before the tree: into a missing parent, a
// tree that would be refused or warned of reports the missing parent, and
// nothing about the tree.
func TestCheckout_DestinationCheckedFirst(t *testing.T) {
	s := openStore(t)
	for name, entries := range map[string][]manifest.Entry{
		"refused entry": {link("escape", "/tmp"), file("escape/planted")},
		"outside link":  {link("venv/bin/python", "/usr/bin/python3")},
	} {
		t.Run(name, func(t *testing.T) {
			id := commitTree(t, s, map[string]string{}, entries...)
			var warned warnings
			into := filepath.Join(t.TempDir(), "no", "such", "parent")
			err := Checkout(ctx, s, id, into, CheckoutOptions{Warn: warned.add})
			if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrUnsafeEntry) {
				t.Errorf("checkout: %v, want the missing parent", err)
			}
			if len(warned.seen) != 0 {
				t.Errorf("warned of %v before checking the destination", warned.seen)
			}
		})
	}
}

func TestCheckout_CorruptBlob(t *testing.T) {
	s := openStore(t)
	good := string(castest.Payload(2, 5000))
	bad := string(castest.Payload(3, 5000))
	id := commitTree(t, s, map[string]string{"a/good": good, "a/bad": bad}, dir("a"), file("a/good"), file("a/bad"))
	s = corruptBlob(t, s, manifest.Sum([]byte(bad)))
	parent := t.TempDir()
	into := filepath.Join(parent, "out")
	err := Checkout(ctx, s, id, into, CheckoutOptions{})
	if !errors.Is(err, pf.ErrCorrupt) || !strings.Contains(err.Error(), `"a/bad"`) {
		t.Fatalf("checkout: %v, want ErrCorrupt naming a/bad", err)
	}
	if _, err := os.Lstat(into); !errors.Is(err, fs.ErrNotExist) {
		t.Error("target exists after a failed checkout")
	}
	assertNoStaging(t, parent)
}

// corruptBlob flips the last byte of the stored value of d: it closes s,
// damages the file, and returns the store opened again.
func corruptBlob(t *testing.T, s *pf.Store, d manifest.Digest) *pf.Store {
	t.Helper()
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bolt.Tx) error { return castest.Damage(tx, db.BucketBlobs, d) })
	if cerr := raw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err = pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCheckoutTree_Verifies(t *testing.T) {
	blobs := cas.NewMemory()
	content := []byte("the real bytes")
	d, _ := blobs.PutBytes(ctx, content)
	for _, tc := range []struct {
		name  string
		entry manifest.Entry
		setup func()
	}{
		{"corrupt", manifest.Entry{Path: "f", Mode: 0o644, Size: int64(len(content)), Kind: manifest.KindFile, Blob: d},
			func() { blobs.Corrupt(d, []byte("other bytes!!!")) }},
		{"missing", manifest.Entry{Path: "f", Mode: 0o644, Size: 3, Kind: manifest.KindFile, Blob: manifest.Sum([]byte("abc"))}, func() {}},
		{"size lies", manifest.Entry{Path: "f", Mode: 0o644, Size: 99, Kind: manifest.KindFile, Blob: manifest.Sum(nil)}, func() {}},
		{"link target lies", manifest.Entry{Path: "l", Mode: 0o777, Size: 1, Kind: manifest.KindSymlink, Blob: manifest.Sum([]byte("a")), LinkTarget: "b"}, func() {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			parent := t.TempDir()
			err := checkoutTree(ctx, blobs, &manifest.Tree{Entries: []manifest.Entry{tc.entry}}, manifest.Sum(nil), filepath.Join(parent, "out"), CheckoutOptions{})
			if !errors.Is(err, pf.ErrCorrupt) {
				t.Fatalf("checkout: %v, want ErrCorrupt", err)
			}
			if des, _ := os.ReadDir(parent); len(des) != 0 {
				t.Errorf("%d entries left in %s", len(des), parent)
			}
		})
	}
}

func TestCheckout_CIDEntryLeftOut(t *testing.T) {
	s := openStore(t)
	id := commitTree(t, s, map[string]string{".pfcid": "sha256:forged", "f": "x"}, file(".pfcid"), file("f"))
	into := filepath.Join(t.TempDir(), "out")
	var warned warnings
	if err := Checkout(ctx, s, id, into, CheckoutOptions{Warn: warned.add}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := ReadCID(into); err != nil || !ok || got != id {
		t.Errorf(".pfcid names %v (%v), want %s", got, err, id)
	}
	if warned.get(".pfcid") == nil {
		t.Error("no warning about the .pfcid entry")
	}
}

// TestCheckout_EmptyWorld: an image without a world restores as an empty
// directory.
func TestCheckout_EmptyWorld(t *testing.T) {
	s := openStore(t)
	bare, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	into := filepath.Join(t.TempDir(), "bare")
	if err := Checkout(ctx, s, bare, into, CheckoutOptions{}); err != nil {
		t.Fatal(err)
	}
	if des, _ := os.ReadDir(into); len(des) != 1 || des[0].Name() != CIDFile {
		t.Errorf("bare checkout holds %v, want .pfcid alone", des)
	}
}

func TestCID(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadCID(dir); ok || err != nil {
		t.Fatalf("no .pfcid: %v %v", ok, err)
	}
	id := manifest.Sum([]byte("image"))
	if err := WriteCID(dir, id); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, CIDFile)); string(b) != id.String()+"\n" {
		t.Errorf(".pfcid holds %q", b)
	}
	if got, ok, err := ReadCID(dir); !ok || err != nil || got != id {
		t.Errorf("read %v %v %v", got, ok, err)
	}
	os.WriteFile(filepath.Join(dir, CIDFile), []byte("sha256:XYZ\n"), 0o644)
	if _, _, err := ReadCID(dir); !errors.Is(err, manifest.ErrInvalidDigest) || !strings.Contains(err.Error(), CIDFile) {
		t.Errorf("malformed .pfcid: %v", err)
	}
}

// TestCheckout_RoundTripFileSizes restores files of the sizes where the
// store changes how it keeps a blob: empty, around cas.InlineMax (one
// value or chunks), blobs the chunker leaves in one piece, and several
// chunks.
func TestCheckout_RoundTripFileSizes(t *testing.T) {
	sizes := []int{0, 1, cas.InlineMax - 1, cas.InlineMax, cas.InlineMax + 1, 3 << 20, 9 << 20}
	// A blob a little over InlineMax is often one chunk: the chunker cuts
	// no sooner than 512 KiB and about once a MiB after.
	for range 8 {
		sizes = append(sizes, 1200<<10)
	}
	src := t.TempDir()
	var nodes []node
	for i, n := range sizes {
		nodes = append(nodes, node{path: fmt.Sprintf("f%02d-%d", i, n), content: string(castest.Payload(uint64(100+i), n))})
	}
	build(t, src, nodes...)
	s := openStore(t)
	id := snapshot(t, s, &Capture{Root: src, Store: s})
	into := filepath.Join(t.TempDir(), "out")
	if err := Checkout(ctx, s, id, into, CheckoutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if b, err := os.ReadFile(filepath.Join(into, n.path)); err != nil || string(b) != n.content {
			t.Errorf("%s: %d bytes back (%v), want %d", n.path, len(b), err, len(n.content))
		}
	}
}

// Only the names mkdirStaging makes are taken for staging directories.
func TestStagingPID(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
	}{
		{".out.pf-checkout-4242-0123abcd", 4242},
		{".a.pf-checkout-b.pf-checkout-7-0123abcd", 7},
		{".out.pf-checkout-0123abcd", 0},        // no pid
		{"out.pf-checkout-4242-0123abcd", 0},    // not hidden
		{".out.pf-checkout-4242-0123abcd-x", 0}, // more after
		{".out.pf-checkout-4242-0123ABCD", 0},   // upper case
		{".out.pf-checkout-04242-0123abcd", 0},  // a leading zero
		{".out.pf-checkout--4242-0123abcd", 0},  // negative
		{".out.pf-checkout-4242-0123abc", 0},    // 7 digits
		{".pf-checkout-4242-0123abcd", 0},       // no base
	} {
		pid, ok := stagingPID(tc.name)
		if ok != (tc.pid != 0) || pid != tc.pid {
			t.Errorf("stagingPID(%q) = %d, %v; want %d", tc.name, pid, ok, tc.pid)
		}
	}
}

// stallingBlobs serves one blob's first half, then waits for release
// before the rest: a large file caught half written.
type stallingBlobs struct {
	content []byte
	release chan struct{}
}

func (b *stallingBlobs) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	half := len(b.content) / 2
	rest := &waitingReader{r: bytes.NewReader(b.content[half:]), wait: b.release}
	return io.NopCloser(io.MultiReader(bytes.NewReader(b.content[:half]), rest)), nil
}

type waitingReader struct {
	r    io.Reader
	wait chan struct{}
}

func (w *waitingReader) Read(p []byte) (int, error) {
	<-w.wait
	return w.r.Read(p)
}

// Progress reports the bytes of a file while it is written, not only once
// it is whole: a checkout of one large file shows it filling.
func TestCheckout_ProgressWhileWriting(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	blobs := &stallingBlobs{content: content, release: make(chan struct{})}
	e := manifest.Entry{Path: "big", Mode: 0o644, Size: int64(len(content)), Kind: manifest.KindFile, Blob: manifest.Sum(content)}
	var once sync.Once
	timeout := time.AfterFunc(10*time.Second, func() { once.Do(func() { close(blobs.release) }) })
	defer timeout.Stop()
	var halfSeen atomic.Bool
	var last Progress
	err := checkoutTree(ctx, blobs, &manifest.Tree{Entries: []manifest.Entry{e}}, manifest.Sum(nil), filepath.Join(t.TempDir(), "out"), CheckoutOptions{
		Progress: func(p Progress) {
			last = p
			if !p.Done && p.Bytes == int64(len(content)/2) {
				halfSeen.Store(true)
				once.Do(func() { close(blobs.release) })
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !halfSeen.Load() {
		t.Error("no progress reported the half written")
	}
	if !last.Done || last.Files != 1 || last.Bytes != int64(len(content)) {
		t.Errorf("last progress %+v, want done, 1 file, %d bytes", last, len(content))
	}
}
