package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func goldenCachePages() *CachePages {
	return &CachePages{
		Layout:         DefaultCacheLayout,
		PageSizeTokens: 16,
		NLayers:        2,
		NHeads:         4,
		HeadDim:        64,
		Dtype:          "bf16",
		Pages: []CachePage{
			{Ix: 0, K: Sum([]byte("k0")), V: Sum([]byte("v0"))},
			{Ix: 1, K: Sum([]byte("k1")), V: Sum([]byte("v1"))},
		},
	}
}

func TestCachePagesGolden(t *testing.T) {
	golden := readGolden(t, "cache-pages.json")
	got, err := goldenCachePages().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Fatalf("Encode:\n got %s\nwant %s", got, golden)
	}
	back, err := DecodeCachePages(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, goldenCachePages()) {
		t.Errorf("DecodeCachePages = %+v", back)
	}
}

// TestCachePagesReference checks testdata/reference/page-manifest.json,
// which follows pf-cache/src/format.rs of the reference: PageManifest
// serialized by serde_json after canonicalize() (pages by ix, sequences by
// id), layout, then CacheMeta flattened (page_size_tokens, n_layers,
// n_heads, head_dim, dtype in Dtype's lowercase names), pages and
// logical_seqs. It was written by a throwaway Rust program with those
// structs and serde_json 1.0; its digest is sha256sum of the file.
func TestCachePagesReference(t *testing.T) {
	golden := readReference(t, "page-manifest.json", "sha256:2e28a003c34e2b2d03a18c0d16c1902cc697931b3b3db847e4b915ae5b0ca689")
	c := &CachePages{
		Layout: DefaultCacheLayout, PageSizeTokens: 16, NLayers: 2, NHeads: 4, HeadDim: 64, Dtype: DtypeFP8E4M3,
		Pages: []CachePage{
			{Ix: 1, K: Sum([]byte("k1")), V: Sum([]byte("v1"))},
			{Ix: 0, K: Sum([]byte("k0")), V: Sum([]byte("v0"))},
		},
		LogicalSeqs: []LogicalSeq{
			{ID: "seq-B", PageIxs: []int{1}},
			{ID: "seq-A", PageIxs: []int{0, 1}, FillInLastPage: 7},
		},
	}
	got, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Fatalf("Encode:\n got %s\nwant %s", got, golden)
	}
	if c.Pages[0].Ix != 1 || c.LogicalSeqs[0].ID != "seq-B" {
		t.Error("Encode sorted the caller's pages or sequences")
	}
	back, err := DecodeCachePages(golden)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := back.Encode(); err != nil || !bytes.Equal(again, golden) {
		t.Errorf("decoded and encoded again: %s, %v", again, err)
	}
	if back.LogicalSeqs[0].ID != "seq-A" || !slices.Equal(back.LogicalSeqs[0].PageIxs, []int{0, 1}) || back.LogicalSeqs[0].FillInLastPage != 7 {
		t.Errorf("logical_seqs decoded as %+v", back.LogicalSeqs)
	}
}

func TestCachePagesSizeFields(t *testing.T) {
	// The reference's synthetic fixture (pf-core/src/fixture.rs) records
	// page_size_bytes and none of the reference reader's fields.
	fixture := `{"layout":"paged-batchinvariant-v1","page_size_bytes":16384,"pages":[]}`
	c, err := DecodeCachePages([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	if want := (&CachePages{Layout: DefaultCacheLayout, PageSizeBytes: 16384}); !reflect.DeepEqual(c, want) {
		t.Errorf("DecodeCachePages = %+v", c)
	}
	// Written again, it loses nothing and gains what the reference's
	// reader requires.
	c.Dtype = DtypeBF16
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"layout":"paged-batchinvariant-v1","page_size_bytes":16384,"page_size_tokens":0,"n_layers":0,"n_heads":0,"head_dim":0,"dtype":"bf16","pages":[],"logical_seqs":[]}`
	if string(b) != want {
		t.Errorf("Encode = %s, want %s", b, want)
	}
	back, err := DecodeCachePages(b)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("DecodeCachePages = %+v, %v", back, err)
	}
}

func TestDecodeCachePagesKeepsUnknownKeys(t *testing.T) {
	E := `"` + EmptyDigest.String() + `"`
	in := `{"pages":[{"v":` + E + `,"k":` + E + `,"ix":7,"extra":null}],"dtype":"fp16",` +
		`"model":{"name": "llama", "layers" : [1, 2]},"logical_seqs":[{"id":"s","page_ixs":[7],"fill_in_last_page":3,"prio":1}],` +
		`"layout":"paged-batchinvariant-v1","a":"<&>"}`
	c, err := DecodeCachePages([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := &CachePages{
		Layout: DefaultCacheLayout, Dtype: "fp16",
		Pages:       []CachePage{{Ix: 7, K: EmptyDigest, V: EmptyDigest, Extra: map[string]json.RawMessage{"extra": json.RawMessage(`null`)}}},
		LogicalSeqs: []LogicalSeq{{ID: "s", PageIxs: []int{7}, FillInLastPage: 3, Extra: map[string]json.RawMessage{"prio": json.RawMessage(`1`)}}},
		Extra:       map[string]json.RawMessage{"model": json.RawMessage(`{"name":"llama","layers":[1,2]}`), "a": json.RawMessage(`"<&>"`)},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("DecodeCachePages =\n%+v\nwant\n%+v", c, want)
	}
	// pf writes only the reference's dtype names; with one, nothing else
	// is lost.
	if _, err := c.Encode(); !errors.Is(err, ErrInvalidCache) || !strings.Contains(err.Error(), `dtype: "fp16" is none of bf16, f16, f32, fp8e4m3`) {
		t.Errorf("Encode with dtype fp16: %v", err)
	}
	c.Dtype = DtypeF16
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"layout":"paged-batchinvariant-v1","page_size_tokens":0,"n_layers":0,"n_heads":0,"head_dim":0,"dtype":"f16",` +
		`"pages":[{"ix":7,"k":` + E + `,"v":` + E + `,"extra":null}],"logical_seqs":[{"id":"s","page_ixs":[7],"fill_in_last_page":3,"prio":1}],` +
		`"a":"<&>","model":{"name":"llama","layers":[1,2]}}`
	if string(b) != wantJSON {
		t.Errorf("Encode =\n%s\nwant\n%s", b, wantJSON)
	}
}

func TestDecodeCachePagesErrors(t *testing.T) {
	E := `"` + EmptyDigest.String() + `"`
	page := `{"ix":0,"k":` + E + `,"v":` + E + `}`
	tests := []struct{ name, in, want string }{
		{"empty", ``, "empty input"},
		{"array", `[]`, "not a JSON object"},
		{"layout missing", `{"pages":[]}`, "layout: missing"},
		{"layout empty", `{"layout":"","pages":[]}`, "layout: empty"},
		{"pages missing", `{"layout":"l"}`, "pages: missing"},
		{"pages object", `{"layout":"l","pages":{}}`, "pages: want an array, got an object"},
		{"n_layers string", `{"layout":"l","n_layers":"2","pages":[]}`, "n_layers: want an integer, got a string"},
		{"head_dim negative", `{"layout":"l","head_dim":-1,"pages":[]}`, "head_dim: negative"},
		{"page_size_bytes float", `{"layout":"l","page_size_bytes":1e3,"pages":[]}`, `page_size_bytes: want an integer, got "1e3"`},
		{"dtype number", `{"layout":"l","dtype":16,"pages":[]}`, "dtype: want a string, got a number"},
		{"logical_seqs object", `{"layout":"l","pages":[],"logical_seqs":{}}`, "logical_seqs: want an array, got an object"},
		{"seq id missing", `{"layout":"l","pages":[],"logical_seqs":[{"page_ixs":[],"fill_in_last_page":0}]}`, "logical_seqs[0].id: missing"},
		{"seq page_ixs negative", `{"layout":"l","pages":[],"logical_seqs":[{"id":"a","page_ixs":[0,-1],"fill_in_last_page":0}]}`, "logical_seqs[0].page_ixs[1]: negative"},
		{"unknown key bad JSON", `{"layout":"l","pages":[],"x":[1,}`, "x: malformed JSON"},
		{"unknown key duplicate", `{"layout":"l","pages":[],"x":1,"x":2}`, "x: duplicate key"},
		{"ix missing", `{"layout":"l","pages":[` + page + `,{"k":` + E + `,"v":` + E + `}]}`, "pages[1].ix: missing"},
		{"k missing", `{"layout":"l","pages":[{"ix":0,"v":` + E + `}]}`, "pages[0].k: missing"},
		{"v bad", `{"layout":"l","pages":[{"ix":0,"k":` + E + `,"v":"sha256:` + strings.ToUpper(emptyHex) + `"}]}`, "pages[0].v: invalid digest"},
		{"ix negative", `{"layout":"l","pages":[{"ix":-1,"k":` + E + `,"v":` + E + `}]}`, "pages[0].ix: negative"},
		{"duplicate key", `{"layout":"l","layout":"m","pages":[]}`, "layout: duplicate key"},
		{"trailing", `{"layout":"l","pages":[]}{}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeCachePages([]byte(tt.in))
			if err == nil {
				t.Fatalf("DecodeCachePages succeeded: %+v", c)
			}
			if !errors.Is(err, ErrInvalidCache) || !strings.HasPrefix(err.Error(), "invalid cache page manifest: ") {
				t.Errorf("error %v does not wrap ErrInvalidCache", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestCachePagesEncodeErrors(t *testing.T) {
	for _, c := range []*CachePages{
		{},
		{Layout: "l"},
		{Layout: "l", Dtype: "fp16"},
		{Layout: "l", Dtype: DtypeBF16, NHeads: -1},
		{Layout: "l", Dtype: DtypeBF16, Pages: []CachePage{{Ix: -1}}},
		{Layout: "l", Dtype: DtypeBF16, LogicalSeqs: []LogicalSeq{{ID: "\xff"}}},
		{Layout: "l", Dtype: DtypeBF16, LogicalSeqs: []LogicalSeq{{ID: "a", PageIxs: []int{-1}}}},
		{Layout: "l", Dtype: DtypeBF16, Extra: map[string]json.RawMessage{"pages": json.RawMessage(`[]`)}},
		{Layout: "l", Dtype: DtypeBF16, Extra: map[string]json.RawMessage{"x": json.RawMessage(`{`)}},
		{Layout: "l", Dtype: DtypeBF16, Pages: []CachePage{{Extra: map[string]json.RawMessage{"k": json.RawMessage(`1`)}}}},
	} {
		if _, err := c.Encode(); !errors.Is(err, ErrInvalidCache) {
			t.Errorf("Encode(%+v) error = %v, want ErrInvalidCache", c, err)
		}
	}
}
