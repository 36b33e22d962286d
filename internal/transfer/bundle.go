package transfer

import (
	"context"
	"io"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// A bundle is a pf store made to carry images: `pf export -o FILE.pf`
// writes one, and any pf store reads as one. Moving images into it is an
// import from the store they are in.

// StoreSource offers the images of an open store: those named and their
// ancestors, or every image if none is named, each with the tags that name
// it.
func StoreSource(s *pf.Store, ids ...manifest.Digest) Source {
	return &storeSource{s: s, ids: ids}
}

// OpenBundle opens the pf store (a bundle) at path, read-only, as a
// Source of every image in it. Closing the source closes the store.
func OpenBundle(path string, opts *pf.Options) (Source, error) {
	o := pf.Options{}
	if opts != nil {
		o = *opts
	}
	o.ReadOnly, o.NoCreate = true, true
	s, err := pf.Open(path, &o)
	if err != nil {
		return nil, err
	}
	return &storeSource{s: s, owned: true}, nil
}

type storeSource struct {
	s     *pf.Store
	ids   []manifest.Digest
	owned bool
}

func (src *storeSource) Images(ctx context.Context) ([]Image, error) {
	if len(src.ids) > 0 {
		return Selection(ctx, src.s, src.ids, true, true)
	}
	entries, _, err := src.s.Log(ctx, pf.LogQuery{Reverse: true})
	if err != nil {
		return nil, err
	}
	imgs := make([]*pf.Image, len(entries))
	for i := range entries {
		imgs[i] = &entries[i].Image
	}
	return withTags(ctx, src.s, imgs, true)
}

func (src *storeSource) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	return src.s.Blobs().Open(ctx, d)
}

func (src *storeSource) Close() error {
	if src.owned {
		return src.s.Close()
	}
	return nil
}

// ExportBundle writes images ids of s, with all their ancestors and every
// blob they reach, into the pf store dst (new, or a bundle written
// before: what it has is not written again). With tags, the tags naming
// those images go too.
func ExportBundle(ctx context.Context, s *pf.Store, ids []manifest.Digest, dst *pf.Store, tags bool, obs Observer) (*Report, error) {
	return Import(ctx, dst, StoreSource(s, ids...), ImportOptions{Tags: tags, ForceTags: true, Observer: obs})
}
