package pf

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/processfork/pf/manifest"
)

// hashWriter is a BlobWriter that only hashes: what a keeper passes on.
type hashWriter struct {
	mu  sync.Mutex
	put int
}

func (w *hashWriter) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return manifest.Digest{}, err
	}
	return w.PutBytes(ctx, b)
}

func (w *hashWriter) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	w.mu.Lock()
	w.put++
	w.mu.Unlock()
	return manifest.Sum(b), nil
}

func encodeTree(t *testing.T, blobs ...manifest.Digest) []byte {
	t.Helper()
	var tree manifest.Tree
	for i, d := range blobs {
		tree.Entries = append(tree.Entries, manifest.Entry{Path: string(rune('a' + i)), Mode: 0o644, Kind: manifest.KindFile, Blob: d})
	}
	raw, err := tree.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func cached(refs *refCache, layer string, d manifest.Digest) ([]manifest.Digest, bool) {
	r, ok := refs.refs[refKey{layer, d}]
	return r, ok
}

func TestContentKeeper_KeepsTreeNotWhatFollows(t *testing.T) {
	a, b := manifest.Sum([]byte("a")), manifest.Sum([]byte("b"))
	tree := encodeTree(t, a, b)
	refs := newRefCache(1 << 10)
	k := newContentKeeper(&hashWriter{}, manifest.LayerWorldFS, nil, refs)
	fs, _ := k.PutBytes(context.Background(), tree)
	// The env and procs blobs are JSON objects too, put after the tree.
	k.PutBytes(context.Background(), []byte(`{"kind":"env.v1","cwd":"/","vars":{}}`))
	k.PutBytes(context.Background(), []byte(`{"kind":"procs.unsupported.v1"}`))

	k.parsed(fs, nil)
	got, ok := cached(refs, manifest.LayerWorldFS, fs)
	if !ok || !slices.Equal(got, []manifest.Digest{a, b}) {
		t.Fatalf("cached refs of the tree = %v (%v), want [a b]", got, ok)
	}
}

// A tree whose keys are sorted, "kind" last, as the reference and the
// fixture write it, is kept too: parsed beside the captures, not read
// back in the commit.
func TestContentKeeper_KeepsTreeWithSortedKeys(t *testing.T) {
	a, b := manifest.Sum([]byte("a")), manifest.Sum([]byte("b"))
	tree := []byte(`{"entries":[{"blob":"` + a.String() + `","path":"src/a.rs","size":1},` +
		`{"blob":"` + b.String() + `","path":"src/b.rs","size":1}],"kind":"` + manifest.TreeKind + `"}`)
	for _, tt := range []struct {
		name string
		tree []byte
	}{
		{"as serde writes it", tree},
		{"with a final newline", append(slices.Clone(tree), '\n')},
	} {
		t.Run(tt.name, func(t *testing.T) {
			refs := newRefCache(1 << 10)
			k := newContentKeeper(&hashWriter{}, manifest.LayerWorldFS, nil, refs)
			ds, err := PutAll(context.Background(), k, [][]byte{tt.tree, []byte(`{"PWD":"/sandbox","seed":1}`), []byte(`{"unsupported_on":"linux"}`)})
			if err != nil {
				t.Fatal(err)
			}
			k.parsed(ds[0], nil)
			if got, ok := cached(refs, manifest.LayerWorldFS, ds[0]); !ok || !slices.Equal(got, []manifest.Digest{a, b}) {
				t.Fatalf("cached refs of the tree = %v (%v), want [a b]", got, ok)
			}
		})
	}
}

func TestContentKeeper_ParsesWhatWasHashed(t *testing.T) {
	a, b := manifest.Sum([]byte("a")), manifest.Sum([]byte("b"))
	buf := encodeTree(t, a)
	other := encodeTree(t, b)
	refs := newRefCache(1 << 10)
	k := newContentKeeper(&hashWriter{}, manifest.LayerWorldFS, nil, refs)
	fs, _ := k.PutBytes(context.Background(), buf)
	// A caller that reuses its buffer after the put: the refs must still
	// be those of the bytes that were hashed.
	copy(buf, other)

	k.parsed(fs, nil)
	if got, _ := cached(refs, manifest.LayerWorldFS, fs); !slices.Equal(got, []manifest.Digest{a}) {
		t.Fatalf("cached refs = %v, want [a]", got)
	}
}

func TestContentKeeper_PutBatch_KeepsLastCandidate(t *testing.T) {
	k, v := manifest.Sum([]byte("k")), manifest.Sum([]byte("v"))
	pages, err := (&manifest.CachePages{Layout: manifest.DefaultCacheLayout, Dtype: manifest.DtypeBF16, Pages: []manifest.CachePage{{Ix: 0, K: k, V: v}}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	w := &hashWriter{}
	refs := newRefCache(1 << 10)
	keeper := newContentKeeper(w, manifest.LayerCacheManifest, nil, refs)
	batch := [][]byte{[]byte("page bytes"), []byte(`{"not":"the list"}`), pages, []byte("more page bytes")}
	ds, err := PutAll(context.Background(), keeper, batch)
	if err != nil {
		t.Fatal(err)
	}
	if w.put != len(batch) {
		t.Fatalf("%d blobs passed on, want %d", w.put, len(batch))
	}
	for i, b := range batch {
		if ds[i] != manifest.Sum(b) {
			t.Fatalf("digest %d is not that of blob %d", i, i)
		}
	}
	keeper.parsed(ds[2], nil)
	if got, _ := cached(refs, manifest.LayerCacheManifest, ds[2]); !slices.Equal(got, []manifest.Digest{k, v}) {
		t.Fatalf("cached refs of the page list = %v, want [k v]", got)
	}
}

// A candidate whose refs the cache holds already, as a layer unchanged
// since the last snapshot has, is not copied: there is nothing to parse.
func TestContentKeeper_KnownNotCopied(t *testing.T) {
	tree := encodeTree(t, manifest.Sum([]byte("a")))
	refs := newRefCache(1 << 10)
	want := []manifest.Digest{manifest.Sum([]byte("a"))}
	refs.get(manifest.LayerWorldFS, manifest.Sum(tree), func() ([]manifest.Digest, error) { return want, nil })
	k := newContentKeeper(&hashWriter{}, manifest.LayerWorldFS, nil, refs)
	fs, _ := k.PutBytes(context.Background(), tree)
	if k.digest != fs || k.kept != nil {
		t.Fatalf("kept %d bytes of %s, want none", len(k.kept), k.digest)
	}
	k.parsed(fs, nil)
	if got, _ := cached(refs, manifest.LayerWorldFS, fs); !slices.Equal(got, want) {
		t.Fatalf("cached refs = %v, want %v", got, want)
	}
}

func TestContentKeeper_OtherDigestNotParsed(t *testing.T) {
	refs := newRefCache(1 << 10)
	k := newContentKeeper(&hashWriter{}, manifest.LayerWorldFS, nil, refs)
	k.PutBytes(context.Background(), encodeTree(t, manifest.Sum([]byte("a"))))
	// The layer names a tree streamed through Put, which is not kept.
	streamed := manifest.Sum(encodeTree(t))
	k.parsed(streamed, nil)
	if len(refs.refs) != 0 {
		t.Fatalf("cached %d entries for a blob that was not kept", len(refs.refs))
	}
}
