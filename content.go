package pf

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/processfork/pf/manifest"
)

// contentKeeper passes one capture's puts on and keeps a copy of the last
// blob that could be its layer's content: the file tree, the cache page
// list, the effects ledger. The commit must parse that blob to check that
// everything it names is stored; parsed from the copy as soon as the
// capture returns, beside the captures still running, it is not read back,
// decompressed, re-hashed and parsed inside the commit, where it held up
// every other commit waiting for the same file.
type contentKeeper struct {
	w      BlobWriter
	layer  string
	mu     sync.Mutex
	digest manifest.Digest
	kept   []byte
}

// keepMax bounds the copy. A tree entry with a path of 30 bytes takes
// about 160 bytes, so a tree of 20,000 files is about 3 MB.
const keepMax = 8 << 20

func newContentKeeper(w BlobWriter, layer string) *contentKeeper {
	return &contentKeeper{w: w, layer: layer}
}

// treePrefix starts every tree that Tree.Encode writes. A tree written
// otherwise is not kept, only parsed in the commit as before.
var treePrefix = []byte(`{"kind":"` + manifest.TreeKind + `"`)

// candidate reports whether b may be the layer's content: a JSON object
// (a ledger of JSON lines starts as one) and, for the world layer, a tree,
// so that the env put after the tree does not displace it. Both checks
// read a few bytes: a capture puts many blobs that are not the content.
func (k *contentKeeper) candidate(b []byte) bool {
	if len(b) == 0 || len(b) > keepMax || b[0] != '{' {
		return false
	}
	return k.layer != manifest.LayerWorldFS || bytes.HasPrefix(b, treePrefix)
}

func (k *contentKeeper) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	return k.w.Put(ctx, r)
}

// PutBytes puts a candidate's copy, not b: what is parsed later is then
// exactly what was hashed, whatever the caller does with b.
func (k *contentKeeper) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	if !k.candidate(b) {
		return k.w.PutBytes(ctx, b)
	}
	c := bytes.Clone(b)
	d, err := k.w.PutBytes(ctx, c)
	if err == nil {
		k.keep(d, c)
	}
	return d, err
}

func (k *contentKeeper) PutBatch(ctx context.Context, blobs [][]byte) ([]manifest.Digest, error) {
	last := -1
	for i, b := range blobs {
		if k.candidate(b) {
			last = i
		}
	}
	if last < 0 {
		return PutAll(ctx, k.w, blobs)
	}
	blobs = append([][]byte(nil), blobs...)
	blobs[last] = bytes.Clone(blobs[last])
	ds, err := PutAll(ctx, k.w, blobs)
	if err == nil {
		k.keep(ds[last], blobs[last])
	}
	return ds, err
}

func (k *contentKeeper) keep(d manifest.Digest, b []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.digest, k.kept = d, b
}

// parsed records in refs what the layer's blob d names, when the capture
// succeeded (err is nil) and d is the blob kept, and returns err. A blob
// that does not parse is left for the commit, which reports it.
func (k *contentKeeper) parsed(refs *refCache, d manifest.Digest, err error) error {
	if err != nil {
		return err
	}
	k.mu.Lock()
	kept, ok := k.kept, k.digest == d
	k.mu.Unlock()
	if ok {
		refs.get(k.layer, d, func() ([]manifest.Digest, error) { return manifest.Refs(k.layer, kept) })
	}
	return nil
}
