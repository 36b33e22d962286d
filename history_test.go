package pf_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/internal/index/indextest"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// t0 is the clock of the history tests: times are minutes after it.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// history commits metadata-only images (every layer the empty blob) with
// chosen times and parents, and remembers them by name.
type history struct {
	t     testing.TB
	s     *pf.Store
	empty manifest.Digest
	ids   map[string]manifest.Digest
	names map[manifest.Digest]string
}

func newHistory(t testing.TB) *history {
	t.Helper()
	s := openStore(t)
	empty, err := s.Blobs().PutBytes(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &history{t: t, s: s, empty: empty, ids: map[string]manifest.Digest{}, names: map[manifest.Digest]string{}}
}

func (h *history) manifest(name string, created time.Time, parents ...string) *manifest.Manifest {
	ps := make([]manifest.Digest, len(parents))
	for i, p := range parents {
		ps[i] = h.ids[p]
	}
	m := manifest.New(manifest.Agent{Kind: "test", Version: "1", Fingerprint: name}, created, ps...)
	for _, l := range m.Layers() {
		m.SetLayer(l.Name, h.empty)
	}
	return m
}

// add commits image name, created at created, with the named parents.
func (h *history) add(name string, created time.Time, parents ...string) manifest.Digest {
	h.t.Helper()
	id, err := h.s.CommitManifest(ctx, h.manifest(name, created, parents...))
	if err != nil {
		h.t.Fatal(err)
	}
	h.ids[name], h.names[id] = id, name
	return id
}

// list names the entries.
func (h *history) list(entries []pf.LogEntry) string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = h.names[e.ID]
	}
	return strings.Join(names, " ")
}

// newestFirst returns the names ordered as Log orders them: by time, then
// by id, newest first.
func (h *history) newestFirst(names ...string) string {
	created := map[string]time.Time{}
	for _, n := range names {
		img, err := h.s.Image(ctx, h.ids[n])
		if err != nil {
			h.t.Fatal(err)
		}
		created[n] = img.Manifest.CreatedAt
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := created[b].Compare(created[a]); c != 0 {
			return c
		}
		return strings.Compare(h.ids[b].Hex(), h.ids[a].Hex())
	})
	return strings.Join(names, " ")
}

func reversed(list string) string {
	f := strings.Fields(list)
	slices.Reverse(f)
	return strings.Join(f, " ")
}

func TestLog_WindowAndOrder(t *testing.T) {
	h := newHistory(t)
	h.add("a", at(0))
	h.add("b", at(10), "a")
	// c, d and e were created at the same instant: the id orders them.
	h.add("c", at(20), "b")
	h.add("d", at(20), "b")
	h.add("e", at(20), "b")
	h.add("f", at(30), "e")
	all := h.newestFirst("a", "b", "c", "d", "e", "f")
	ties := h.newestFirst("c", "d", "e")

	tests := []struct {
		name string
		q    pf.LogQuery
		want string
	}{
		{"everything", pf.LogQuery{}, all},
		{"reverse", pf.LogQuery{Reverse: true}, reversed(all)},
		{"since is inclusive", pf.LogQuery{Since: at(20)}, "f " + ties},
		{"until is exclusive", pf.LogQuery{Until: at(20)}, "b a"},
		{"window", pf.LogQuery{Since: at(10), Until: at(30)}, ties + " b"},
		{"window reversed", pf.LogQuery{Since: at(10), Until: at(30), Reverse: true}, "b " + reversed(ties)},
		{"limit", pf.LogQuery{Limit: 2}, strings.Join(strings.Fields(all)[:2], " ")},
		{"limit reversed", pf.LogQuery{Limit: 2, Reverse: true}, "a b"},
		{"between images", pf.LogQuery{Since: at(21), Until: at(29)}, ""},
		{"after everything", pf.LogQuery{Since: at(31)}, ""},
		{"before everything", pf.LogQuery{Until: at(0)}, ""},
		{"one instant", pf.LogQuery{Since: at(20), Until: at(20).Add(time.Nanosecond)}, ties},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := h.s.Log(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if h.list(got) != tt.want {
				t.Fatalf("got %q, want %q", h.list(got), tt.want)
			}
		})
	}
}

// Paging through a listing with its cursor, page by page, gives exactly
// the listing made in one call, for every page size and either order.
func TestLog_PagingCoversListing(t *testing.T) {
	h := newHistory(t)
	prev := []string{}
	for i := range 23 {
		name := fmt.Sprintf("i%02d", i)
		// Runs of images share an instant, so pages end inside ties.
		h.add(name, at(i/4), prev...)
		prev = []string{name}
	}
	for _, q := range []pf.LogQuery{{}, {Reverse: true}, {Since: at(1), Until: at(4)}, {Since: at(1), Until: at(4), Reverse: true}} {
		full, next, err := h.s.Log(ctx, q)
		if err != nil || next != "" {
			t.Fatalf("%+v: next %q, %v", q, next, err)
		}
		for size := 1; size <= len(full)+1; size++ {
			var paged []pf.LogEntry
			p := q
			p.Limit = size
			for pages := 0; ; pages++ {
				if pages > len(full)+1 {
					t.Fatalf("%+v, pages of %d: the cursor does not advance", q, size)
				}
				page, next, err := h.s.Log(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size || next != "" && len(page) != size {
					t.Fatalf("%+v: a page of %d entries, next %q", p, len(page), next)
				}
				paged = append(paged, page...)
				if next == "" {
					break
				}
				p.Cursor = next
			}
			if h.list(paged) != h.list(full) {
				t.Fatalf("%+v, pages of %d:\n got %s\nwant %s", q, size, h.list(paged), h.list(full))
			}
		}
	}
}

// A cursor marks a place in the index, not an offset: images committed
// between two pages do not shift the pages.
func TestLog_CursorSurvivesNewImages(t *testing.T) {
	h := newHistory(t)
	for i := range 6 {
		h.add(fmt.Sprint("old", i), at(i))
	}
	page1, next, err := h.s.Log(ctx, pf.LogQuery{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	h.add("newer", at(100))
	page2, next2, err := h.s.Log(ctx, pf.LogQuery{Limit: 3, Cursor: next})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.list(page1) + " | " + h.list(page2); got != "old5 old4 old3 | old2 old1 old0" || next2 != "" {
		t.Fatalf("pages %q, next %q", got, next2)
	}
}

func TestLog_BadCursor(t *testing.T) {
	h := newHistory(t)
	h.add("a", at(0))
	h.add("b", at(1))
	_, next, err := h.s.Log(ctx, pf.LogQuery{Limit: 1})
	if err != nil || next == "" {
		t.Fatalf("next %q, %v", next, err)
	}
	for _, q := range []pf.LogQuery{
		{Cursor: "not a cursor!"},
		{Cursor: "bg"},
		{Cursor: next[:len(next)-2]},
		{Cursor: next, Reverse: true}, // made for newest first
	} {
		if _, _, err := h.s.Log(ctx, q); !errors.Is(err, pf.ErrInvalidCursor) {
			t.Errorf("cursor %q, reverse %v: %v, want ErrInvalidCursor", q.Cursor, q.Reverse, err)
		}
	}
}

// The window of an ancestry walk filters; it never stops the walk. Clocks
// of different machines disagree, so a parent may claim to be newer than
// its child, or much older than its grandparent.
func TestAncestry_WindowFiltersSkewedClocks(t *testing.T) {
	h := newHistory(t)
	h.add("g", at(0))        // grandparent, inside the window
	h.add("p", at(-60), "g") // parent: its clock was an hour behind
	h.add("c", at(10), "p")  // child, inside
	h.add("q", at(90), "c")  // next: its clock was far ahead
	h.add("r", at(20), "q")  // its child, inside
	h.add("x", at(5))        // not an ancestor

	window := pf.LogQuery{Since: at(-5), Until: at(30)}
	tests := []struct {
		name string
		from []string
		q    pf.LogQuery
		want string
	}{
		{"parent before the window", []string{"c"}, window, "c g"},
		{"parent after the window", []string{"r"}, window, "r c g"},
		{"no window: by created_at, not by depth", []string{"r"}, pf.LogQuery{}, "q r c g p"},
		{"reverse", []string{"r"}, pf.LogQuery{Reverse: true}, "p g c r q"},
		{"window reversed", []string{"r"}, pf.LogQuery{Since: at(-5), Until: at(30), Reverse: true}, "g c r"},
		{"limit counts listed images", []string{"r"}, pf.LogQuery{Since: at(-5), Until: at(30), Limit: 2}, "r c"},
		{"start outside the window", []string{"q"}, window, "c g"},
		{"several starts, each once", []string{"c", "x", "r", "c"}, pf.LogQuery{}, "q r c x g p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ids []manifest.Digest
			for _, n := range tt.from {
				ids = append(ids, h.ids[n])
			}
			got, _, err := h.s.Ancestry(ctx, ids, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if h.list(got) != tt.want {
				t.Fatalf("got %q, want %q", h.list(got), tt.want)
			}
		})
	}
}

func TestAncestry_MergesTiesAndPaging(t *testing.T) {
	h := newHistory(t)
	h.add("root", at(0))
	h.add("a", at(1), "root")
	h.add("b", at(1), "root") // same instant as a
	h.add("m", at(2), "a", "b")
	h.add("n", at(3), "m")
	h.add("other", at(4))

	got, _, err := h.s.Ancestry(ctx, []manifest.Digest{h.ids["n"]}, pf.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "n m " + h.newestFirst("a", "b") + " root"; h.list(got) != want {
		t.Fatalf("got %q, want %q", h.list(got), want)
	}
	for _, reverse := range []bool{false, true} {
		full, _, err := h.s.Ancestry(ctx, []manifest.Digest{h.ids["n"]}, pf.LogQuery{Reverse: reverse})
		if err != nil {
			t.Fatal(err)
		}
		for size := 1; size <= len(full); size++ {
			var paged []pf.LogEntry
			q := pf.LogQuery{Limit: size, Reverse: reverse}
			for {
				page, next, err := h.s.Ancestry(ctx, []manifest.Digest{h.ids["n"]}, q)
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, page...)
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if h.list(paged) != h.list(full) {
				t.Fatalf("reverse %v, pages of %d: got %q, want %q", reverse, size, h.list(paged), h.list(full))
			}
		}
	}
	if _, _, err := h.s.Ancestry(ctx, []manifest.Digest{manifest.Sum([]byte("nothing"))}, pf.LogQuery{}); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("ancestry of a missing image: %v", err)
	}
}

func TestChildrenAndRoots(t *testing.T) {
	h := newHistory(t)
	h.add("r1", at(0))
	h.add("r2", at(1))
	h.add("a", at(2), "r1")
	h.add("b", at(3), "r1")
	h.add("m", at(4), "a", "r2")

	names := func(ids []manifest.Digest, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, id := range ids {
			out = append(out, h.names[id])
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	for _, tt := range []struct{ of, want string }{{"r1", "a b"}, {"r2", "m"}, {"a", "m"}, {"m", ""}} {
		if got := names(h.s.Children(ctx, h.ids[tt.of])); got != tt.want {
			t.Errorf("children of %s: %q, want %q", tt.of, got, tt.want)
		}
	}
	if got := names(h.s.Roots(ctx)); got != "r1 r2" {
		t.Errorf("roots: %q", got)
	}
	if _, err := h.s.Children(ctx, manifest.Sum(nil)); !errors.Is(err, pf.ErrNotFound) {
		t.Errorf("children of a missing image: %v", err)
	}
}

func TestTags(t *testing.T) {
	h := newHistory(t)
	a := h.add("a", at(0))
	b := h.add("b", at(1), "a")

	if prev, err := h.s.Tag(ctx, "main", a); err != nil || !prev.IsZero() {
		t.Fatalf("tag: %v, %v", prev, err)
	}
	if prev, err := h.s.Tag(ctx, "main", b); err != nil || prev != a {
		t.Fatalf("move tag: previous %v, %v", prev, err)
	}
	if _, err := h.s.Tag(ctx, "release/v1", a); err != nil {
		t.Fatal(err)
	}
	tags, err := h.s.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []pf.Tag{{"main", b}, {"release/v1", a}}; !slices.Equal(tags, want) {
		t.Fatalf("tags %v, want %v", tags, want)
	}
	if _, err := h.s.Tag(ctx, "ghost", manifest.Sum([]byte("no such image"))); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("tag of a missing image: %v", err)
	}
	if id, err := h.s.Untag(ctx, "main"); err != nil || id != b {
		t.Fatalf("untag: %v, %v", id, err)
	}
	if _, err := h.s.Untag(ctx, "main"); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("untag twice: %v", err)
	}
	if _, err := h.s.ResolveImage(ctx, "main"); !errors.Is(err, pf.ErrNotFound) {
		t.Fatalf("resolve a deleted tag: %v", err)
	}
}

func TestValidateTagName(t *testing.T) {
	good := []string{"main", "v1.0", "release/2026-11", "exp_3", "a", "日本", "deadb", "v4ab2ee", "4ab2e", "cafe-beef", strings.Repeat("x", pf.MaxTagName), "a@b", "head", "HEAD2", "@a"}
	bad := []string{"", "HEAD", "@", "-f", "has space", "tab\there", "nul\x00", "del\x7f", "a..b", "a//b", "/a", "a/", ".a", "a.", "x.lock",
		"a:b", "sha256:abc", "a~1", "a^", "a?", "a*", "a[", `a\b`, "a@{1}", strings.Repeat("x", pf.MaxTagName+1),
		strings.Repeat("ab", 32), strings.Repeat("AB", 32), "4ab2ee", "deadbeef", "DEADBEEF", "0123456789", "bad\xffutf8", "nbsp\u00a0x"}
	for _, name := range good {
		if err := pf.ValidateTagName(name); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
	}
	for _, name := range bad {
		if err := pf.ValidateTagName(name); !errors.Is(err, pf.ErrInvalidTagName) {
			t.Errorf("%q accepted (%v)", name, err)
		}
	}
}

// twins commits two images whose ids share their first six hex digits
// (but not the seventh), found by trying fingerprints.
func (h *history) twins() (manifest.Digest, manifest.Digest) {
	h.t.Helper()
	seen := map[string]*manifest.Manifest{}
	for i := 0; ; i++ {
		m := h.manifest(fmt.Sprint("twin", i), at(i))
		id, err := m.ID()
		if err != nil {
			h.t.Fatal(err)
		}
		other, ok := seen[id.Hex()[:6]]
		if !ok {
			seen[id.Hex()[:6]] = m
			continue
		}
		otherID, _ := other.ID()
		if otherID.Hex()[6] == id.Hex()[6] {
			continue
		}
		for _, m := range []*manifest.Manifest{other, m} {
			if _, err := h.s.CommitManifest(ctx, m); err != nil {
				h.t.Fatal(err)
			}
		}
		return otherID, id
	}
}

func TestResolveImage(t *testing.T) {
	h := newHistory(t)
	x, y := h.twins()
	if _, err := h.s.Tag(ctx, "main", y); err != nil {
		t.Fatal(err)
	}
	// A tag may not spell a prefix of x: it would shadow x.
	if _, err := h.s.Tag(ctx, x.Hex()[:8], y); !errors.Is(err, pf.ErrInvalidTagName) {
		t.Fatalf("tag named %s: %v, want ErrInvalidTagName", x.Hex()[:8], err)
	}

	found := []struct {
		ref  string
		want manifest.Digest
	}{
		{"main", y},
		{x.String(), x},
		{x.Hex(), x},
		{x.Hex()[:7], x},
		{y.Hex()[:7], y},
		{"sha256:" + y.Hex()[:7], y},
		{y.Hex()[:10], y},
		{x.Hex()[:8], x},
	}
	for _, tt := range found {
		if got, err := h.s.ResolveImage(ctx, tt.ref); err != nil || got != tt.want {
			t.Errorf("%q: %v, %v, want %v", tt.ref, got, err, tt.want)
		}
	}
	failures := []struct {
		ref  string
		want error
		says string
	}{
		{x.Hex()[:6], pf.ErrAmbiguous, x.String()},
		{"sha256:" + x.Hex()[:6], pf.ErrAmbiguous, y.String()},
		{"nosuchtag", pf.ErrNotFound, "nosuchtag"},
		{x.Hex()[:5], pf.ErrNotFound, "at least 6"},
		{"sha256:" + x.Hex()[:5], manifest.ErrInvalidDigest, "at least 6"},
		{strings.ToUpper(x.Hex()[:8]), pf.ErrNotFound, "lower-case"},
		{"sha256:" + strings.ToUpper(x.Hex()), manifest.ErrInvalidDigest, "upper-case"},
		{"md5:" + x.Hex()[:32], manifest.ErrInvalidDigest, "md5"},
		{manifest.Sum([]byte("absent")).String(), pf.ErrNotFound, manifest.Sum([]byte("absent")).String()},
		{"", pf.ErrNotFound, `""`},
	}
	for _, tt := range failures {
		_, err := h.s.ResolveImage(ctx, tt.ref)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%q: %v, want %v saying %q", tt.ref, err, tt.want, tt.says)
		}
	}
}

func TestResolveImage_Ancestry(t *testing.T) {
	// root <- a <- b <- merge -> side -> root: merge's first parent is b.
	h := newHistory(t)
	h.add("root", at(0))
	h.add("a", at(1), "root")
	h.add("b", at(2), "a")
	h.add("side", at(3), "root")
	merge := h.add("merge", at(4), "b", "side")
	if _, err := h.s.Tag(ctx, "main", merge); err != nil {
		t.Fatal(err)
	}

	found := []struct{ ref, want string }{
		{"main~0", "merge"},
		{"main^0", "merge"},
		{"main~", "b"},
		{"main~1", "b"},
		{"main^", "b"},
		{"main~2", "a"},
		{"main~3", "root"},
		{"main^2", "side"},
		{"main^2~1", "root"},
		{"main~~", "a"},
		{"main^^^", "root"},
		{merge.Hex()[:8] + "~3", "root"},
		{merge.String() + "^2", "side"},
	}
	for _, tt := range found {
		got, err := h.s.ResolveImage(ctx, tt.ref)
		if err != nil || got != h.ids[tt.want] {
			t.Errorf("%q: %s, %v, want %s", tt.ref, h.names[got], err, tt.want)
		}
	}

	failures := []struct {
		ref  string
		want error
		says string
	}{
		{"main~4", pf.ErrNotFound, "3 generations back, is a root"},
		{"main^3", pf.ErrNotFound, "has 2 parents"},
		{"main~1^2", pf.ErrNotFound, "has 1 parent"},
		{"nosuchtag~1", pf.ErrNotFound, "nosuchtag"},
		{"~1", pf.ErrInvalidAncestry, "follow an image"},
		{"main~x", pf.ErrInvalidAncestry, "'x'"},
		{"main~1:", pf.ErrInvalidAncestry, "':'"},
		{"main~99999999999999999999", pf.ErrInvalidAncestry, "too many generations"},
		{"main" + strings.Repeat("^", 65), pf.ErrInvalidAncestry, "more than 64"},
	}
	for _, tt := range failures {
		_, err := h.s.ResolveImage(ctx, tt.ref)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%q: %v, want %v saying %q", tt.ref, err, tt.want, tt.says)
		}
	}
}

// TestResolveImageFrom follows a reference's steps from an image its
// caller resolved the name to, as the command line does for HEAD; errors
// name the reference as typed.
func TestResolveImageFrom(t *testing.T) {
	h := newHistory(t)
	h.add("root", at(0))
	h.add("a", at(1), "root")
	h.add("side", at(2), "root")
	merge := h.add("merge", at(3), "a", "side")

	for _, tt := range []struct{ ref, want string }{
		{"HEAD", "merge"}, {"HEAD~1", "a"}, {"@^2", "side"}, {"HEAD~2", "root"}, {"HEAD^2~1", "root"},
	} {
		got, err := h.s.ResolveImageFrom(ctx, tt.ref, merge)
		if err != nil || got != h.ids[tt.want] {
			t.Errorf("%q: %s, %v, want %s", tt.ref, h.names[got], err, tt.want)
		}
	}
	missing := manifest.Digest{1}
	for _, tt := range []struct {
		ref  string
		base manifest.Digest
		want error
		says string
	}{
		{"HEAD~3", merge, pf.ErrNotFound, `"HEAD~3": ~3: image ` + h.ids["root"].String() + ", 2 generations back, is a root"},
		{"HEAD~x", merge, pf.ErrInvalidAncestry, `"HEAD~x": 'x'`},
		{"HEAD~1", missing, pf.ErrNotFound, `"HEAD" is image ` + missing.String()},
	} {
		_, err := h.s.ResolveImageFrom(ctx, tt.ref, tt.base)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%q: %v, want %v saying %q", tt.ref, err, tt.want, tt.says)
		}
	}
}

// FuzzResolveImage feeds ResolveImage arbitrary references: each resolves
// to an image the store holds, or fails with one of its documented errors.
func FuzzResolveImage(f *testing.F) {
	for _, seed := range []string{"main", "main~2^2", "main^0", "~1", "main~x", "sha256:abc", "abcdef~1", "main~99999999999999999999", ""} {
		f.Add(seed)
	}
	h := newHistory(f)
	h.add("root", at(0))
	h.add("a", at(1), "root")
	h.add("side", at(2), "root")
	merge := h.add("merge", at(3), "a", "side")
	if _, err := h.s.Tag(ctx, "main", merge); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		id, err := h.s.ResolveImage(ctx, ref)
		switch {
		case err == nil:
			if _, ok := h.names[id]; !ok {
				t.Fatalf("%q resolved to %s, which is no image of the store", ref, id)
			}
		case !errors.Is(err, pf.ErrNotFound) && !errors.Is(err, pf.ErrAmbiguous) &&
			!errors.Is(err, manifest.ErrInvalidDigest) && !errors.Is(err, pf.ErrInvalidAncestry):
			t.Fatalf("%q: undocumented error %v", ref, err)
		}
	})
}

func TestResolveBlob(t *testing.T) {
	h := newHistory(t)
	img := h.add("a", at(0))
	blob, err := h.s.Blobs().PutBytes(ctx, []byte("some bytes"))
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]manifest.Digest{
		blob.Hex()[:8]:  blob,
		img.Hex()[:8]:   img, // a manifest is fetched by its id too
		blob.String():   blob,
		h.empty.Hex():   h.empty,
		img.String()[:]: img,
	} {
		if got, err := h.s.ResolveBlob(ctx, ref); err != nil || got != want {
			t.Errorf("%q: %v, %v, want %v", ref, got, err, want)
		}
	}
	if _, err := h.s.ResolveImage(ctx, blob.Hex()[:8]); !errors.Is(err, pf.ErrNotFound) {
		t.Errorf("a blob resolved as an image: %v", err)
	}
}

// BenchmarkLog_Newest100 times the newest page of a large store, which
// must not grow with the store: the goal is under 10 ms at a
// million images, and at most 2x faster at ten thousand. The stores are
// built on first use and kept in the temporary directory; the million
// takes about a minute and a gigabyte, so it runs only under -bench, and
// not with -short.
func BenchmarkLog_Newest100(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("images=%d", n), func(b *testing.B) {
			if n > 10_000 && testing.Short() {
				b.Skip("the million-image store is not built with -short")
			}
			path, err := indextest.Cached(n)
			if err != nil {
				b.Fatal(err)
			}
			s, err := pf.Open(path, &pf.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				entries, next, err := s.Log(ctx, pf.LogQuery{Limit: 100})
				if err != nil || len(entries) != 100 || next == "" {
					b.Fatalf("%d entries, next %q, %v", len(entries), next, err)
				}
			}
		})
	}
}

// TestResolveImage_HexTagOfAnOlderStore: a tag that spells an id prefix,
// written by a pf that allowed such names, names its image while no other
// id starts with it, and is ambiguous once one does.
func TestResolveImage_HexTagOfAnOlderStore(t *testing.T) {
	h := newHistory(t)
	x, y := h.twins()
	path := h.s.Path()
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		tags := tx.Bucket(db.BucketTags)
		if err := tags.Put([]byte(x.Hex()[:8]), y[:]); err != nil {
			return err
		}
		return tags.Put([]byte(y.Hex()[:8]), y[:])
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.ResolveImage(ctx, y.Hex()[:8]); err != nil || got != y {
		t.Errorf("tag spelling its own image's prefix: %v, %v, want %v", got, err, y)
	}
	_, err = s.ResolveImage(ctx, x.Hex()[:8])
	if !errors.Is(err, pf.ErrAmbiguous) || !strings.Contains(err.Error(), x.String()) || !strings.Contains(err.Error(), y.String()) {
		t.Errorf("tag spelling another image's prefix: %v, want ErrAmbiguous naming %v and %v", err, x, y)
	}
}

// Summaries lists what Log lists, page by page with the same cursors,
// each image's summary equal to its manifest's.
func TestSummaries_MatchLog(t *testing.T) {
	h := newHistory(t)
	h.add("a", at(0))
	h.add("b", at(1))
	h.add("c", at(1), "a")
	h.add("m", at(2), "c", "b") // a merge: the parents' order is the manifest's
	h.add("d", at(3), "m")
	for _, q := range []pf.LogQuery{{}, {Reverse: true}, {Since: at(1), Until: at(3)}, {Limit: 2}, {Limit: 2, Reverse: true}} {
		for pages := 0; ; pages++ {
			entries, next, err := h.s.Log(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			sums, sumNext, err := h.s.Summaries(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if next != sumNext || len(sums) != len(entries) {
				t.Fatalf("%+v: %d summaries, next %q; Log: %d entries, next %q", q, len(sums), sumNext, len(entries), next)
			}
			for i, e := range entries {
				m, got := e.Manifest, sums[i]
				if got.ID != e.ID || !got.CreatedAt.Equal(m.CreatedAt) || got.Agent != m.Agent || !slices.Equal(got.Parents, m.Parents) {
					t.Fatalf("%+v: summary %+v of image %s, manifest %+v", q, got, h.names[e.ID], m)
				}
			}
			if next == "" {
				break
			}
			q.Cursor = next
		}
	}
}

// An image filed without a summary (by a pf before schema 11) is listed
// from its manifest.
func TestSummaries_ReadTheManifestWithoutOne(t *testing.T) {
	h := newHistory(t)
	h.add("a", at(0))
	id := h.add("b", at(1), "a")
	err := pf.StoreDB(h.s).Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(db.BucketIndex).Bucket(db.BucketTime).Put(index.TimeKey(at(1), id), []byte{})
	})
	if err != nil {
		t.Fatal(err)
	}
	sums, _, err := h.s.Summaries(ctx, pf.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums[0].ID != id || sums[0].Agent.Fingerprint != "b" || !slices.Equal(sums[0].Parents, []manifest.Digest{h.ids["a"]}) {
		t.Fatalf("summaries %+v", sums)
	}
}
