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
	commit *pendingCommit // the snapshot's, for what captures attach to it
	refs   *refCache      // the store's: what layer blobs name
	mu     sync.Mutex
	digest manifest.Digest
	kept   []byte
	named  []manifest.Digest // what the blob digest names, when PutTree put it
}

// keepMax bounds the copy. A tree entry with a path of 30 bytes takes
// about 160 bytes, so a tree of 20,000 files is about 3 MB.
const keepMax = 8 << 20

func newContentKeeper(w BlobWriter, layer string, commit *pendingCommit, refs *refCache) *contentKeeper {
	return &contentKeeper{w: w, layer: layer, commit: commit, refs: refs}
}

// treePrefix starts every tree that Tree.Encode writes; treeSuffix ends
// every tree whose keys are sorted, as serde_json writes it (the
// reference's, and the fixture's: {"entries":[...],"kind":"fs.tree.v1"}).
// A tree written otherwise is not kept, only parsed in the commit: read
// back, decompressed and parsed inside the transaction, which for each
// of the fixture's 12 forks (a new tree each) was 80 us of it.
var (
	treePrefix = []byte(`{"kind":"` + manifest.TreeKind + `"`)
	treeSuffix = []byte(`"kind":"` + manifest.TreeKind + `"}`)
)

// candidate reports whether b may be the layer's content: a JSON object
// (a ledger of JSON lines starts as one) and, for the world layer, a tree,
// so that the env put after the tree does not displace it. The checks
// read a few bytes at either end: a capture puts many blobs that are not
// the content.
func (k *contentKeeper) candidate(b []byte) bool {
	if len(b) == 0 || len(b) > keepMax || b[0] != '{' {
		return false
	}
	return k.layer != manifest.LayerWorldFS || bytes.HasPrefix(b, treePrefix) ||
		bytes.HasSuffix(bytes.TrimRight(b, " \t\r\n"), treeSuffix)
}

func (k *contentKeeper) Put(ctx context.Context, r io.Reader) (manifest.Digest, error) {
	return k.w.Put(ctx, r)
}

// PutBytes keeps a copy of a candidate, taken before the call returns:
// what is parsed later is then exactly what was hashed, whatever the
// caller does with b afterwards.
func (k *contentKeeper) PutBytes(ctx context.Context, b []byte) (manifest.Digest, error) {
	if !k.candidate(b) {
		return k.w.PutBytes(ctx, b)
	}
	d, err := k.w.PutBytes(ctx, b)
	if err == nil {
		k.keepCandidate(d, b)
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
	ds, err := PutAll(ctx, k.w, blobs)
	if err == nil && last >= 0 {
		k.keepCandidate(ds[last], blobs[last])
	}
	return ds, err
}

// keepCandidate keeps b, put as d: a copy, unless refs knows already
// what d names, as it does for the tree or page list of a layer that
// has not changed since the last snapshot, which the copy would only be
// parsed to learn (a warm snapshot of the fixture copied 17 KB for it).
// Should refs drop d before the commit, the commit reads it back.
func (k *contentKeeper) keepCandidate(d manifest.Digest, b []byte) {
	if k.refs.has(k.layer, d) {
		k.keep(d, nil)
		return
	}
	k.keep(d, bytes.Clone(b))
}

func (k *contentKeeper) keep(d manifest.Digest, b []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.digest, k.kept, k.named = d, b, nil
}

// PutTree encodes tree as manifest.Tree.Encode does and puts it through
// w: a world capture's world.fs blob. Through the BlobWriter that a
// snapshot gives its world capture, the commit then knows what the tree
// names from its entries, without parsing the encoding again.
func PutTree(ctx context.Context, w BlobWriter, tree *manifest.Tree) (manifest.Digest, error) {
	return putTree(ctx, w, tree, func() ([]byte, *manifest.Digest, error) {
		raw, err := tree.Encode()
		return raw, nil, err
	})
}

// PutTreeFrom puts tree as PutTree does, encoding it from last, the
// encoding of a tree put before, or nil (manifest.Tree.EncodeFrom): the
// entries the two trees share are not encoded again, and the encoding is
// hashed as it is made. It returns tree's encoding too, for the next call.
func PutTreeFrom(ctx context.Context, w BlobWriter, tree *manifest.Tree, last *manifest.EncodedTree) (manifest.Digest, *manifest.EncodedTree, error) {
	var enc *manifest.EncodedTree
	d, err := putTree(ctx, w, tree, func() ([]byte, *manifest.Digest, error) {
		var err error
		var sum manifest.Digest
		if enc, sum, err = tree.EncodeFromSummed(last); err != nil {
			return nil, nil, err
		}
		return enc.Bytes(), &sum, nil
	})
	if err != nil {
		return d, nil, err
	}
	return d, enc, nil
}

// putTree puts tree's encoding, which encode returns with its digest
// when it took it (nil: not taken).
func putTree(ctx context.Context, w BlobWriter, tree *manifest.Tree, encode func() ([]byte, *manifest.Digest, error)) (manifest.Digest, error) {
	k, ok := w.(*contentKeeper)
	if !ok || k.layer != manifest.LayerWorldFS {
		raw, sum, err := encode()
		if err != nil {
			return manifest.Digest{}, err
		}
		return putListing(ctx, w, raw, sum)
	}
	// What the tree names, for the commit, is listed beside the encoding
	// and the put, not after the encoding: it only reads the entries,
	// and on $GOROOT/src it is 0.6 ms of a served turn. Encode sorts a
	// copy of an unsorted tree itself, and what the tree names is a set:
	// the tree need not be checked for order here too (a pass over a
	// tree of 11,500 files, each a path comparison).
	refs := make(chan []manifest.Digest, 1)
	go func() { refs <- tree.Refs() }()
	raw, sum, err := encode()
	if err != nil {
		<-refs // done reading the tree, which the caller owns again
		return manifest.Digest{}, err
	}
	d, err := putListing(ctx, k.w, raw, sum)
	named := <-refs
	if err != nil {
		return d, err
	}
	k.mu.Lock()
	k.digest, k.kept, k.named = d, nil, named
	k.mu.Unlock()
	return d, nil
}

// listingWriter is a BlobWriter that stores a listing so that the next
// one, a few entries apart, shares most of its bytes (cas.Lease), and
// takes the digest of one that the caller hashed already.
type listingWriter interface {
	PutListing(ctx context.Context, b []byte) (manifest.Digest, error)
	PutListingSummed(ctx context.Context, b []byte, d manifest.Digest) (manifest.Digest, error)
}

// putListing puts a tree's encoding through w's PutListing where it has
// one: a tree of 11,500 files is 1.7 MB, and each snapshot after an edit
// of ten files would otherwise store all of it again. sum, when not nil,
// is b's digest.
func putListing(ctx context.Context, w BlobWriter, b []byte, sum *manifest.Digest) (manifest.Digest, error) {
	lw, ok := w.(listingWriter)
	switch {
	case ok && sum != nil:
		return lw.PutListingSummed(ctx, b, *sum)
	case ok:
		return lw.PutListing(ctx, b)
	}
	return w.PutBytes(ctx, b)
}

// parsed records in the keeper's refs what the layer's blob d names,
// when the capture succeeded (err is nil) and d is the blob kept, and
// returns err. A blob that does not parse is left for the commit, which
// reports it.
func (k *contentKeeper) parsed(d manifest.Digest, err error) error {
	if err != nil {
		return err
	}
	k.mu.Lock()
	kept, named, ok := k.kept, k.named, k.digest == d
	k.mu.Unlock()
	switch {
	case ok && named != nil:
		k.refs.get(k.layer, d, func() ([]manifest.Digest, error) { return named, nil })
	case ok && kept != nil:
		k.refs.get(k.layer, d, func() ([]manifest.Digest, error) { return manifest.Refs(k.layer, kept) })
	}
	return nil
}
