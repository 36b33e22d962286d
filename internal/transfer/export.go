package transfer

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"golang.org/x/sync/errgroup"
)

// ExportOptions tune Export.
type ExportOptions struct {
	// Ancestors exports every ancestor of the images named too.
	Ancestors bool
	// Tags gives each image exported the tags that name it in the store.
	Tags bool
	// Concurrency is how many blobs move at once (if zero, what the sink
	// asks as a Pacer, else DefaultConcurrency).
	Concurrency int
	Observer    Observer
}

// Export writes images ids of s (and, with Ancestors, their ancestors) to
// sink, parents first, each image's blobs before it, then closes the sink.
// Blobs the sink has are not sent again. An image that cannot be read
// whole from s fails, with its descendants; the others go on. As Import,
// it returns an error only when it cannot go on at all.
func Export(ctx context.Context, s *pf.Store, ids []manifest.Digest, sink Sink, opts ExportOptions) (*Report, error) {
	if p, ok := sink.(Pacer); ok && opts.Concurrency <= 0 {
		opts.Concurrency = p.Concurrency()
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	obs := observerOr(opts.Observer)
	rep := &Report{}
	imgs, err := Selection(ctx, s, ids, opts.Ancestors, opts.Tags)
	if err != nil {
		return rep, err
	}
	sent := map[manifest.Digest]bool{}
	failed := map[manifest.Digest]error{}
	for _, img := range imgs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		res := ImageResult{ID: img.ID, Status: Imported, Tags: img.Tags}
		if err := exportOne(ctx, s, img, sink, opts, obs, sent, failed, rep); err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			res.Status, res.Err, res.Tags = Failed, err, nil
			failed[img.ID] = err
		}
		rep.Images = append(rep.Images, res)
		obs.Done(res)
	}
	if err := sink.Close(); err != nil {
		return rep, err
	}
	return rep, nil
}

func exportOne(ctx context.Context, s *pf.Store, img Image, sink Sink, opts ExportOptions, obs Observer, sent map[manifest.Digest]bool, failed map[manifest.Digest]error, rep *Report) error {
	m, err := manifest.Decode(img.Raw)
	if err != nil {
		return err
	}
	for _, p := range m.Parents {
		if err, ok := failed[p]; ok {
			return fmt.Errorf("its parent %s failed: %w", p, err)
		}
	}
	blobs, err := s.Reached(ctx, img.ID)
	if err != nil {
		return err
	}
	if p, ok := sink.(Preparer); ok {
		if err := p.Prepare(ctx, img); err != nil {
			return err
		}
	}
	var need []pf.Blob
	var needBytes int64
	for _, b := range blobs {
		if sent[b.Digest] {
			continue
		}
		has, err := sink.Has(ctx, b.Digest)
		if err != nil {
			return err
		}
		if has {
			sent[b.Digest] = true
			rep.PresentBlobs++
			rep.PresentBytes += b.Size
			continue
		}
		need = append(need, b)
		needBytes += b.Size
	}
	obs.Planned(len(need), needBytes)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	done, sentNow := make([]bool, len(need)), make([]bool, len(need))
	for i, b := range need {
		g.Go(func() error {
			tick := obs.Moving(b.Digest, b.Size)
			defer tick(-1)
			open := func() (io.ReadCloser, error) {
				r, err := s.Blobs().Open(gctx, b.Digest)
				if err != nil {
					return nil, err
				}
				return readCloser{countingReader{r, tick}, r}, nil
			}
			sent, err := sink.PutBlob(gctx, b, open)
			if err != nil {
				return fmt.Errorf("blob %s: %w", b.Digest, err)
			}
			done[i], sentNow[i] = true, sent
			return nil
		})
	}
	err = g.Wait()
	for i, b := range need {
		switch {
		case sentNow[i]:
			sent[b.Digest] = true
			rep.Blobs++
			rep.Bytes += b.Size
		case done[i]:
			sent[b.Digest] = true
			rep.PresentBlobs++
			rep.PresentBytes += b.Size
		}
	}
	if err != nil {
		return err
	}
	return sink.PutImage(ctx, img, blobs)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// WriteTo passes on the Reader's WriteTo, if it has one.
func (rc readCloser) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := rc.Reader.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{rc.Reader})
}

// Selection reads images ids of s and, with ancestors, all their
// ancestors, parents before children; with tags, each with the tags that
// name it.
func Selection(ctx context.Context, s *pf.Store, ids []manifest.Digest, ancestors, tags bool) ([]Image, error) {
	var imgs []*pf.Image
	if ancestors {
		entries, _, err := s.Ancestry(ctx, ids, pf.LogQuery{Reverse: true})
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			imgs = append(imgs, &e.Image)
		}
	} else {
		for _, id := range ids {
			if slices.ContainsFunc(imgs, func(i *pf.Image) bool { return i.ID == id }) {
				continue
			}
			img, err := s.Image(ctx, id)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
	}
	return withTags(ctx, s, imgs, tags)
}

// withTags orders imgs parents first and, with tags, gives each the tags
// that name it in s.
func withTags(ctx context.Context, s *pf.Store, imgs []*pf.Image, tags bool) ([]Image, error) {
	names := map[manifest.Digest][]string{}
	if tags {
		all, err := s.Tags(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range all {
			names[t.ID] = append(names[t.ID], t.Name)
		}
	}
	out := make([]Image, 0, len(imgs))
	for _, img := range parentsFirst(imgs) {
		out = append(out, Image{ID: img.ID, Raw: img.Raw, Tags: names[img.ID]})
	}
	return out, nil
}

// parentsFirst orders imgs so that each comes after those of its parents
// that are among them; otherwise as given.
func parentsFirst(imgs []*pf.Image) []*pf.Image {
	byID := make(map[manifest.Digest]*pf.Image, len(imgs))
	for _, img := range imgs {
		byID[img.ID] = img
	}
	done := make(map[manifest.Digest]bool, len(imgs))
	out := make([]*pf.Image, 0, len(imgs))
	var visit func(img *pf.Image)
	visit = func(img *pf.Image) {
		if done[img.ID] {
			return
		}
		done[img.ID] = true
		for _, p := range img.Manifest.Parents {
			if parent, ok := byID[p]; ok {
				visit(parent)
			}
		}
		out = append(out, img)
	}
	for _, img := range imgs {
		visit(img)
	}
	return out
}
