package pf_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// bigTree is a WorldCapture whose tree names files distinct blobs, some
// named twice, and the environment's blob too; it leaves missing (by
// index) out of what it puts, naming a blob the store lacks there.
type bigTree struct {
	files   int
	missing int // -1: none
}

func (w bigTree) blob(i int) []byte {
	if i%97 == 1 {
		i-- // the same bytes as the file before: a blob named twice
	}
	return []byte(strings.Repeat("x", i%13) + fmt.Sprint(i))
}

func (w bigTree) CaptureWorld(ctx context.Context, bw pf.BlobWriter) (manifest.World, error) {
	env := []byte("env")
	var put [][]byte
	tree := &manifest.Tree{}
	for i := range w.files {
		b := w.blob(i)
		d := manifest.Sum(b)
		if i == w.missing {
			d = manifest.Sum([]byte("never stored"))
		} else {
			put = append(put, b)
		}
		tree.Entries = append(tree.Entries, manifest.Entry{Path: fmt.Sprintf("f%06d", i), Mode: 0o644, Size: int64(len(b)), Kind: manifest.KindFile, Blob: d})
	}
	tree.Entries = append(tree.Entries, manifest.Entry{Path: "z-env-copy", Mode: 0o644, Size: int64(len(env)), Kind: manifest.KindFile, Blob: manifest.Sum(env)})
	put = append(put, env)
	if _, err := pf.PutAll(ctx, bw, put); err != nil {
		return manifest.World{}, err
	}
	fs, err := pf.PutTree(ctx, bw, tree)
	if err != nil {
		return manifest.World{}, err
	}
	envID, err := bw.PutBytes(ctx, env)
	return manifest.World{FS: fs, Env: envID, Procs: envID}, err
}

// A snapshot whose tree names thousands of blobs (looked up on every
// core in the commit) reaches each once, in the order of the tree, with
// its size; one the store lacks, in the middle, fails the commit naming
// it and the tree.
func TestStore_Snapshot_LargeTreeReached(t *testing.T) {
	const files = 9000
	s := openStore(t)
	w := bigTree{files: files, missing: -1}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := s.Reached(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[manifest.Digest]bool{}
	var sum int64
	var order []manifest.Digest
	for _, b := range blobs {
		if seen[b.Digest] {
			t.Fatalf("blob %s reached twice", b.Digest)
		}
		seen[b.Digest] = true
		sum += b.Size
		order = append(order, b.Digest)
	}
	for i := range files {
		b := w.blob(i)
		if !seen[manifest.Sum(b)] {
			t.Fatalf("file %d's blob not reached", i)
		}
	}
	// The tree's files come in its order, each the first time it is named.
	var want []manifest.Digest
	wantSeen := map[manifest.Digest]bool{}
	for i := range files {
		if d := manifest.Sum(w.blob(i)); !wantSeen[d] {
			wantSeen[d] = true
			want = append(want, d)
		}
	}
	at := -1
	for i, d := range order {
		if d == want[0] {
			at = i
			break
		}
	}
	if at < 0 || len(order) < at+len(want) {
		t.Fatalf("the tree's files are not among the %d blobs reached", len(order))
	}
	for i, d := range want {
		if order[at+i] != d {
			t.Fatalf("reached blob %d is %s, want file blob %s", at+i, order[at+i], d)
		}
	}
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := sum + int64(len(img.Raw)); st.ImageLogical != want {
		t.Fatalf("image logical bytes %d, want the reached blobs' %d plus the manifest", st.ImageLogical, want)
	}

	missing := manifest.Sum([]byte("never stored"))
	_, err = s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: bigTree{files: files, missing: files / 2}, Parents: []manifest.Digest{id}})
	if !errors.Is(err, pf.ErrNotFound) || !strings.Contains(err.Error(), missing.String()) || !strings.Contains(err.Error(), "named by world.fs") {
		t.Fatalf("snapshot naming a missing blob: %v, want ErrNotFound naming %s in the tree", err, missing)
	}
	if st, _ := s.Stats(ctx); st.Images != 1 {
		t.Fatalf("%d images, want the first alone", st.Images)
	}
}

// sharedPages is a CacheCapture whose page list names, as K pages, blobs
// that bigTree's files hold too (every third file from the fourth on),
// and V pages of its own.
type sharedPages struct {
	tree  bigTree
	pages int
}

func (c sharedPages) CaptureCache(ctx context.Context, bw pf.BlobWriter) (manifest.Cache, error) {
	var put [][]byte
	list := &manifest.CachePages{Layout: manifest.DefaultCacheLayout, Dtype: manifest.DtypeBF16}
	for i := range c.pages {
		k, v := c.tree.blob(3+3*i), []byte(fmt.Sprint("v page ", i))
		put = append(put, k, v)
		list.Pages = append(list.Pages, manifest.CachePage{Ix: i, K: manifest.Sum(k), V: manifest.Sum(v)})
	}
	raw, err := list.Encode()
	if err != nil {
		return manifest.Cache{}, err
	}
	ds, err := pf.PutAll(ctx, bw, append(put, raw))
	if err != nil {
		return manifest.Cache{}, err
	}
	return manifest.Cache{Manifest: ds[len(ds)-1]}, nil
}

// A snapshot whose page list and tree name many of the same blobs, and
// whose later layers are blobs the tree names too, reaches each blob once:
// the page list's first, then the tree's files it did not name, in the
// tree's order.
func TestStore_Snapshot_SharedBlobsReachedOnce(t *testing.T) {
	s := openStore(t)
	w := bigTree{files: 3000, missing: -1}
	c := sharedPages{tree: w, pages: 400}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := s.Reached(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	at := map[manifest.Digest]int{}
	for i, b := range blobs {
		if _, ok := at[b.Digest]; ok {
			t.Fatalf("blob %s reached twice", b.Digest)
		}
		at[b.Digest] = i
	}
	// The pages in their order, then the files not among them in theirs.
	var want []manifest.Digest
	named := map[manifest.Digest]bool{}
	for i := range c.pages {
		for _, b := range [][]byte{w.blob(3 + 3*i), []byte(fmt.Sprint("v page ", i))} {
			if d := manifest.Sum(b); !named[d] {
				named[d] = true
				want = append(want, d)
			}
		}
	}
	for i := range w.files {
		if d := manifest.Sum(w.blob(i)); !named[d] {
			named[d] = true
			want = append(want, d)
		}
	}
	prev := -1
	for _, d := range want {
		i, ok := at[d]
		if !ok {
			t.Fatalf("blob %s not reached", d)
		}
		if i <= prev {
			t.Fatalf("blob %s reached at %d, before the blob named before it (%d)", d, i, prev)
		}
		prev = i
	}
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, b := range blobs {
		sum += b.Size
	}
	if want := sum + int64(len(img.Raw)); st.ImageLogical != want {
		t.Fatalf("image logical bytes %d, want the reached blobs' %d plus the manifest", st.ImageLogical, want)
	}
}
