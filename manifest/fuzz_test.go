package manifest

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// addGolden adds the named testdata files to the seed corpus; the seeds
// under testdata/fuzz/<FuzzName>/ are added by the fuzzing engine.
func addGolden(f *testing.F, names ...string) {
	for _, name := range names {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{"", "sha256:" + emptyHex, emptyHex, "md5:00", "sha256:" + strings.ToUpper(emptyHex)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDigest) {
				t.Fatalf("error %v does not wrap ErrInvalidDigest", err)
			}
			if d != (Digest{}) {
				t.Fatalf("non-zero digest with error")
			}
		} else if d.String() != s {
			// Strictness: exactly one text form per digest.
			t.Fatalf("ParseDigest(%q) = %s", s, d)
		}
		h, herr := ParseHex(s)
		if herr == nil && "sha256:"+s != h.String() {
			t.Fatalf("ParseHex(%q) = %s", s, h)
		}
		if herr != nil && !errors.Is(herr, ErrInvalidDigest) {
			t.Fatalf("ParseHex error %v does not wrap ErrInvalidDigest", herr)
		}
		if rest, ok := strings.CutPrefix(s, "sha256:"); ok {
			h, herr := ParseHex(rest)
			if (herr == nil) != (err == nil) || h != d {
				t.Fatalf("ParseDigest and ParseHex disagree on %q: %v, %v", s, err, herr)
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	addGolden(f, "worked-example.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("error %v does not wrap ErrInvalidManifest", err)
			}
			return
		}
		// Whatever Decode accepts, Encode writes, and that round-trips.
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("Decode accepted what Encode refuses: %v", err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(m)): %v\n%s", err, enc)
		}
		if !equalManifest(m, m2) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, m2)
		}
		enc2, err := m2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
		if id, _ := m.ID(); id != Sum(enc) {
			t.Fatalf("ID is not Sum(Encode())")
		}
	})
}

func FuzzDecodeTree(f *testing.F) {
	addGolden(f, "tree.json", "reference/tree-path-order.json")
	E := `"` + EmptyDigest.String() + `"`
	// The reference fixture's entries, without mode and kind; six-digit modes.
	f.Add([]byte(`{"entries":[{"blob":` + E + `,"path":"src/b","size":1},{"blob":` + E + `,"path":"src-a","size":1}],"kind":"fs.tree.v1"}`))
	f.Add([]byte(`{"kind":"fs.tree.v1","entries":[{"path":"a.b","mode":"100644","size":0,"kind":"file","blob":` + E + `},{"path":"a","mode":"40755","size":0,"kind":"dir"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, err := DecodeTree(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidTree) {
				t.Fatalf("error %v does not wrap ErrInvalidTree", err)
			}
			return
		}
		if !IsTree(b) {
			t.Fatalf("DecodeTree accepted what IsTree rejects")
		}
		refs, err := Refs(LayerWorldFS, b)
		if err != nil {
			t.Fatalf("Refs: %v", err)
		}
		for _, e := range tree.Entries {
			if e.Kind != KindDir && !containsDigest(refs, e.Blob) {
				t.Fatalf("Refs lacks the blob of %q", e.Path)
			}
		}
		enc, err := tree.Encode()
		if err != nil {
			t.Fatalf("DecodeTree accepted what Encode refuses: %v", err)
		}
		tree2, err := DecodeTree(enc)
		if err != nil {
			t.Fatalf("DecodeTree(Encode(t)): %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(tree, tree2) {
			t.Fatalf("round trip changed the tree:\n%+v\n%+v", tree, tree2)
		}
		enc2, err := tree2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeCachePages(f *testing.F) {
	addGolden(f, "cache-pages.json", "reference/page-manifest.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCachePages(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidCache) {
				t.Fatalf("error %v does not wrap ErrInvalidCache", err)
			}
			return
		}
		refs, err := Refs(LayerCacheManifest, b)
		if err != nil {
			t.Fatalf("Refs: %v", err)
		}
		for _, p := range c.Pages {
			if !containsDigest(refs, p.K) || !containsDigest(refs, p.V) {
				t.Fatalf("Refs lacks page %d", p.Ix)
			}
		}
		switch c.Dtype {
		case DtypeBF16, DtypeF16, DtypeF32, DtypeFP8E4M3:
		default:
			// Read whatever the dtype, written only as the reference
			// names one.
			if _, err := c.Encode(); !errors.Is(err, ErrInvalidCache) || !strings.Contains(err.Error(), "dtype: ") {
				t.Fatalf("Encode with dtype %q: %v", c.Dtype, err)
			}
			c.Dtype = DtypeBF16
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatalf("DecodeCachePages accepted what Encode refuses: %v", err)
		}
		c2, err := DecodeCachePages(enc)
		if err != nil {
			t.Fatalf("DecodeCachePages(Encode(c)): %v\n%s", err, enc)
		}
		// Encode writes pages by ix and sequences by id, as the reference
		// does.
		slices.SortStableFunc(c.Pages, func(a, b CachePage) int { return cmp.Compare(a.Ix, b.Ix) })
		slices.SortStableFunc(c.LogicalSeqs, func(a, b LogicalSeq) int { return cmp.Compare(a.ID, b.ID) })
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the page manifest:\n%+v\n%+v", c, c2)
		}
		enc2, err := c2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeMergedEffects(f *testing.F) {
	addGolden(f, "reference/merged-effects.json")
	old := `{"kind":"effects.merged.v1","parent_a":"` + Sum([]byte("a")).String() + `","parent_b":"` + Sum([]byte("b")).String() + `","ancestor":"` + EmptyDigest.String() + `"}`
	f.Add([]byte(old))
	f.Add([]byte(EmptyLedger))
	f.Add([]byte("{\"kind\":\"effects.ledger.v1\",\"entries\":1}\n{\"ts\":1}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok, err := DecodeMergedEffects(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidEffects) || ok || e != nil {
				t.Fatalf("DecodeMergedEffects = %v, %v, %v", e, ok, err)
			}
			return
		}
		refs, rerr := Refs(LayerEffectsLedger, b)
		if rerr != nil {
			t.Fatalf("Refs: %v", rerr)
		}
		if !ok {
			if e != nil || refs != nil {
				t.Fatalf("not merged, but %v and refs %v", e, refs)
			}
			return
		}
		for _, d := range []Digest{e.ParentA, e.ParentB, e.Ancestor} {
			if !containsDigest(refs, d) {
				t.Fatalf("Refs lacks %s", d)
			}
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("DecodeMergedEffects accepted what Encode refuses: %v", err)
		}
		e2, ok, err := DecodeMergedEffects(enc)
		if err != nil || !ok || !reflect.DeepEqual(e2, e) {
			t.Fatalf("round trip: %v, %v, %v", e2, ok, err)
		}
	})
}

func containsDigest(ds []Digest, d Digest) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}
