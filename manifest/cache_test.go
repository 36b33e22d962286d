package manifest

import (
	"bytes"
	"errors"
	"reflect"
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

func TestCachePagesSizeFields(t *testing.T) {
	c := &CachePages{Layout: "l", PageSizeBytes: 4096}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"layout":"l","page_size_bytes":4096,"n_layers":0,"n_heads":0,"head_dim":0,"dtype":"","pages":[]}`
	if string(b) != want {
		t.Errorf("Encode = %s, want %s", b, want)
	}
	back, err := DecodeCachePages(b)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("DecodeCachePages = %+v, %v", back, err)
	}
}

func TestDecodeCachePagesAccepts(t *testing.T) {
	// Unknown keys such as logical_seqs are ignored, absent fields are zero.
	in := `{"pages":[{"v":"` + EmptyDigest.String() + `","k":"` + EmptyDigest.String() + `","ix":7,"extra":null}],` +
		`"logical_seqs":[[0,1],[2]],"layout":"paged-batchinvariant-v1"}`
	c, err := DecodeCachePages([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := &CachePages{Layout: DefaultCacheLayout, Pages: []CachePage{{Ix: 7, K: EmptyDigest, V: EmptyDigest}}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("DecodeCachePages = %+v", c)
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
		{Layout: "l", NHeads: -1},
		{Layout: "l", Pages: []CachePage{{Ix: -1}}},
		{Layout: "l", Dtype: "\xff"},
	} {
		if _, err := c.Encode(); !errors.Is(err, ErrInvalidCache) {
			t.Errorf("Encode(%+v) error = %v, want ErrInvalidCache", c, err)
		}
	}
}
