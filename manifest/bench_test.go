package manifest

import (
	"fmt"
	"testing"
	"time"
)

// The benchmark inputs mirror the reference's synthetic fixture (see
// bench/fixture.go): a manifest with every layer set and one parent, a
// tree of 64 files src/file_NNNN.rs, and a page manifest of 32 pages.

func benchManifest(tb testing.TB) []byte {
	m := New(Agent{Kind: "claude-code", Version: "1.0.42", Fingerprint: "sha256-build-7f3a9c1e"},
		time.Date(2026, 5, 5, 14, 11, 0, 123_456_000, time.UTC), Sum([]byte("parent")))
	for i, l := range m.Layers() {
		if err := m.SetLayer(l.Name, Sum(fmt.Appendf(nil, "layer %d", i))); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := m.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func benchTree(tb testing.TB, n int) []byte {
	var t Tree
	for i := range n {
		p := fmt.Sprintf("src/file_%04d.rs", i)
		t.Entries = append(t.Entries, Entry{Path: p, Mode: 0o644, Size: 4096, Kind: KindFile, Blob: Sum([]byte(p))})
	}
	b, err := t.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func benchCachePages(tb testing.TB, n int) []byte {
	c := CachePages{Layout: DefaultCacheLayout, PageSizeTokens: 16, NLayers: 32, NHeads: 8, HeadDim: 128, Dtype: DtypeF16}
	for i := range n {
		c.Pages = append(c.Pages, CachePage{Ix: i, K: Sum(fmt.Appendf(nil, "k%d", i)), V: Sum(fmt.Appendf(nil, "v%d", i))})
	}
	b, err := c.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// benchDecode runs decode on b, reporting throughput in bytes.
func benchDecode[T any](b *testing.B, in []byte, decode func([]byte) (T, error)) {
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	benchDecode(b, benchManifest(b), Decode)
}

func BenchmarkDecodeTree_64(b *testing.B) {
	benchDecode(b, benchTree(b, 64), DecodeTree)
}

func BenchmarkDecodeCachePages_32(b *testing.B) {
	benchDecode(b, benchCachePages(b, 32), DecodeCachePages)
}

func BenchmarkDecodeMergedEffects(b *testing.B) {
	in, _ := (&MergedEffects{ParentA: Sum([]byte("a")), ParentB: Sum([]byte("b")), Ancestor: Sum([]byte("c"))}).Encode()
	benchDecode(b, in, func(b []byte) (*MergedEffects, error) {
		e, _, err := DecodeMergedEffects(b)
		return e, err
	})
}

func BenchmarkRefs_Tree(b *testing.B) {
	benchDecode(b, benchTree(b, 64), func(b []byte) ([]Digest, error) { return Refs(LayerWorldFS, b) })
}

func BenchmarkRefs_CachePages(b *testing.B) {
	benchDecode(b, benchCachePages(b, 32), func(b []byte) ([]Digest, error) { return Refs(LayerCacheManifest, b) })
}

// BenchmarkTreeEncode_Deep encodes a sorted tree of 20,000 files 20
// levels deep, as pf-bench's small-files workload lays them out.
func BenchmarkTreeEncode_Deep(b *testing.B) {
	var t Tree
	var add func(dir string, depth int)
	add = func(dir string, depth int) {
		for i := range 3 {
			p := fmt.Sprintf("%sf%d.txt", dir, i)
			t.Entries = append(t.Entries, Entry{Path: p, Mode: 0o644, Size: 100, Kind: KindFile, Blob: Sum([]byte(p))})
		}
		if depth < 20 && len(t.Entries) < 20_000 {
			for i := range 2 {
				d := fmt.Sprintf("%sd%02d", dir, i)
				t.Entries = append(t.Entries, Entry{Path: d, Mode: 0o755, Kind: KindDir})
				add(d+"/", depth+1)
			}
		}
	}
	add("", 0)
	t.Sort()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTree_Refs: the blobs a tree of $GOROOT/src's size names (11,880
// files), which a served turn lists at every snapshot for its commit.
func BenchmarkTree_Refs(b *testing.B) {
	var t Tree
	for i := range 11_880 {
		p := fmt.Sprintf("d%02d/e%02d/f%d.go", i/297, i/9%33, i%9)
		t.Entries = append(t.Entries, Entry{Path: p, Mode: 0o644, Size: 4096, Kind: KindFile, Blob: Sum([]byte(p))})
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(t.Refs()) != len(t.Entries) {
			b.Fatal("Refs lost a blob")
		}
	}
}
