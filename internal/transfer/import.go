package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"golang.org/x/sync/errgroup"
)

// ImportOptions tune Import.
type ImportOptions struct {
	// Only imports these images (and, with Ancestors, the images they
	// descend from); empty imports every image the source offers.
	Only []manifest.Digest
	// Ancestors brings each parent of an image imported that the store
	// lacks, from the source, which may find it though it did not list
	// it (a Finder: a registry). A source that lists every image it has
	// (a bundle, a layout, a reference store) offers the parents anyway.
	Ancestors bool
	// Shallow commits an image whose parents neither the store nor the
	// source has (pf.ReceiveOptions.Shallow). Without it such an image
	// fails.
	Shallow bool
	// Tags sets the tags the source gives its images. A tag that names
	// another image here is left as it is, with a warning, unless
	// ForceTags.
	Tags, ForceTags bool
	// Concurrency is how many blobs move at once (ImportConcurrency() if
	// zero).
	Concurrency int
	Observer    Observer
}

// ImportConcurrency is how many blobs an import moves at once: one a
// core, at least two and at most DefaultConcurrency. The store cuts,
// hashes and writes one large blob a core; a blob more on its way only
// waits, holding its zstd decoder's window (4 MiB) and the memory of its
// first chunks, which a pull of 1 GiB of 16 MiB blobs on two cores paid
// for with a sixth more CPU time.
func ImportConcurrency() int {
	return min(DefaultConcurrency, max(2, runtime.GOMAXPROCS(0)))
}

// MaxStructured bounds a layer blob that names further blobs (a file
// tree, a cache page list, a merged ledger): Import reads it whole to
// learn what else the image needs.
const MaxStructured = 1 << 30

// Import brings images from src into s, as the package doc says. It
// returns an error only when it cannot go on at all (the source cannot be
// listed, the store fails, ctx ends); what became of each image is in the
// report, and Report.Err sums up the failures.
func Import(ctx context.Context, s *pf.Store, src Source, opts ImportOptions) (*Report, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = ImportConcurrency()
	}
	opts.Observer = observerOr(opts.Observer)
	im := &importer{s: s, src: src, opts: opts, rep: &Report{}, counted: map[manifest.Digest]bool{}}
	plan, err := im.plan(ctx)
	if err != nil {
		return im.rep, err
	}
	failed := map[manifest.Digest]error{}
	for _, p := range plan {
		if err := ctx.Err(); err != nil {
			return im.rep, err
		}
		res := ImageResult{ID: p.img.ID}
		switch {
		case p.err != nil:
			res.Status, res.Err = Failed, p.err
		default:
			res.Status, res.Shallow, res.Err = im.one(ctx, p, failed)
			if ctx.Err() != nil {
				return im.rep, ctx.Err()
			}
		}
		if res.Status == Failed {
			failed[res.ID] = res.Err
		} else if opts.Tags {
			res.Tags = im.tag(ctx, p.img)
		}
		im.rep.Images = append(im.rep.Images, res)
		opts.Observer.Done(res)
	}
	return im.rep, nil
}

type importer struct {
	s    *pf.Store
	src  Source
	opts ImportOptions
	rep  *Report
	// counted holds the blobs the report counts already, moved or found
	// present: an image that reaches a blob an earlier one brought finds
	// it present, and the report must not count it twice.
	counted map[manifest.Digest]bool
}

// planned is an image to import: parsed, or why it could not be.
type planned struct {
	img Image
	m   *manifest.Manifest
	err error
}

// plan lists what to import, parents before children.
func (im *importer) plan(ctx context.Context) ([]planned, error) {
	offered, err := im.src.Images(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[manifest.Digest]*planned{}
	var order []manifest.Digest
	add := func(img Image) *planned {
		if p, ok := byID[img.ID]; ok {
			p.img.Tags = append(p.img.Tags, img.Tags...)
			return p
		}
		p := &planned{img: img}
		if manifest.Sum(img.Raw) != img.ID {
			p.err = fmt.Errorf("manifest bytes hash to %s: %w", manifest.Sum(img.Raw), pf.ErrCorrupt)
		} else if p.m, p.err = manifest.Decode(img.Raw); p.err != nil {
			p.err = fmt.Errorf("manifest: %w (%w)", p.err, pf.ErrCorrupt)
		}
		byID[img.ID] = p
		order = append(order, img.ID)
		return p
	}
	for _, img := range offered {
		add(img)
	}
	var problems []ImageResult
	if pr, ok := im.src.(Prober); ok {
		problems = pr.Problems()
	}
	want := offered
	if len(im.opts.Only) > 0 {
		want = nil
		for _, id := range im.opts.Only {
			p, ok := byID[id]
			if !ok {
				img, found, err := im.find(ctx, id)
				if err != nil {
					return nil, err
				}
				if !found {
					return nil, fmt.Errorf("image %s: not in the source: %w", id, pf.ErrNotFound)
				}
				p = add(img)
			}
			want = append(want, p.img)
		}
	}
	// The images wanted, and with Ancestors their ancestors, found
	// depth first; then ordered parents first.
	chosen := map[manifest.Digest]bool{}
	stack := make([]manifest.Digest, 0, len(want))
	for _, img := range want {
		stack = append(stack, img.ID)
	}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if chosen[id] {
			continue
		}
		chosen[id] = true
		p := byID[id]
		if p.m == nil || !im.opts.Ancestors {
			continue
		}
		for _, parent := range p.m.Parents {
			if chosen[parent] {
				continue
			}
			if _, ok := byID[parent]; !ok {
				if has, err := im.s.HasImage(ctx, parent); err != nil || has {
					if err != nil {
						return nil, err
					}
					continue
				}
				img, found, err := im.find(ctx, parent)
				if err != nil {
					return nil, err
				}
				if !found {
					continue // Shallow decides
				}
				add(img)
			}
			stack = append(stack, parent)
		}
	}
	var out []planned
	for _, pr := range problems {
		out = append(out, planned{img: Image{ID: pr.ID}, err: pr.Err})
	}
	done := map[manifest.Digest]bool{}
	var visit func(id manifest.Digest)
	visit = func(id manifest.Digest) {
		if done[id] {
			return
		}
		done[id] = true
		p := byID[id]
		if p.m != nil {
			for _, parent := range p.m.Parents {
				if chosen[parent] {
					visit(parent)
				}
			}
		}
		out = append(out, *p)
	}
	// Among images unrelated to each other, the oldest first.
	slices.SortStableFunc(order, func(a, b manifest.Digest) int {
		ma, mb := byID[a].m, byID[b].m
		if ma == nil || mb == nil {
			return 0
		}
		return ma.CreatedAt.Compare(mb.CreatedAt)
	})
	for _, id := range order {
		if chosen[id] {
			visit(id)
		}
	}
	return out, nil
}

func (im *importer) find(ctx context.Context, id manifest.Digest) (Image, bool, error) {
	f, ok := im.src.(Finder)
	if !ok {
		return Image{}, false, nil
	}
	return f.Find(ctx, id)
}

// one imports one image; failed holds the images that failed before it.
// shallow says it came without a parent the store lacks.
func (im *importer) one(ctx context.Context, p planned, failed map[manifest.Digest]error) (status Status, shallow bool, err error) {
	has, err := im.s.HasImage(ctx, p.img.ID)
	if err != nil {
		return Failed, false, err
	}
	if has {
		return Present, false, nil
	}
	for _, parent := range p.m.Parents {
		if err, ok := failed[parent]; ok {
			return Failed, false, fmt.Errorf("its parent %s failed: %w", parent, err)
		}
		has, err := im.s.HasImage(ctx, parent)
		if err != nil {
			return Failed, false, err
		}
		if !has && !im.opts.Shallow {
			return Failed, false, fmt.Errorf("its parent %s is neither in the store nor in the source: %w", parent, pf.ErrNotFound)
		}
		shallow = shallow || !has
	}
	rcv := im.s.Receive(&pf.ReceiveOptions{Shallow: shallow})
	if err := im.receive(ctx, rcv, p); err != nil {
		rcv.Abort()
		return Failed, false, err
	}
	if _, err := rcv.Commit(ctx, p.img.Raw); err != nil {
		return Failed, false, err
	}
	return Imported, shallow, nil
}

// receive puts into rcv every blob of p's image that the store lacks.
func (im *importer) receive(ctx context.Context, rcv *pf.Receiver, p planned) error {
	put := map[manifest.Digest]bool{}
	where := map[manifest.Digest]string{}
	var reached []manifest.Digest
	err := pf.Reach(p.m,
		func(d manifest.Digest) ([]byte, error) {
			// A layer that names further blobs: its bytes are needed now.
			if has, err := im.s.Blobs().Has(ctx, d); err != nil || has {
				if err != nil {
					return nil, err
				}
				return im.s.Blobs().Get(ctx, d)
			}
			b, err := im.fetchWhole(ctx, d, where[d])
			if err != nil {
				return nil, err
			}
			if err := rcv.PutBytes(ctx, d, b); err != nil {
				return nil, fmt.Errorf("%s: %w", where[d], err)
			}
			put[d] = true
			im.counted[d] = true
			im.rep.Blobs++
			im.rep.Bytes += int64(len(b))
			return b, nil
		},
		func(d manifest.Digest, w string) error {
			where[d] = w
			reached = append(reached, d)
			return nil
		})
	if err != nil {
		return err
	}
	var need []manifest.Digest
	for _, d := range reached {
		if put[d] {
			continue
		}
		has, err := im.s.Blobs().Has(ctx, d)
		if err != nil {
			return err
		}
		if has {
			if !im.counted[d] {
				im.counted[d] = true
				im.rep.PresentBlobs++
				if info, err := im.s.Blobs().Stat(ctx, d); err == nil {
					im.rep.PresentBytes += info.Size
				}
			}
			continue
		}
		need = append(need, d)
	}
	im.opts.Observer.Planned(len(need), 0)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(im.opts.Concurrency)
	sizes := make([]int64, len(need))
	arrived := make([]bool, len(need))
	for i, d := range need {
		g.Go(func() (err error) {
			sizes[i], err = im.fetch(gctx, rcv, d, where[d])
			arrived[i] = err == nil
			return err
		})
	}
	err = g.Wait()
	for i, d := range need {
		if arrived[i] {
			im.counted[d] = true
			im.rep.Blobs++
			im.rep.Bytes += sizes[i]
		}
	}
	return err
}

// fetch streams blob d from the source into rcv.
func (im *importer) fetch(ctx context.Context, rcv *pf.Receiver, d manifest.Digest, where string) (int64, error) {
	r, err := im.open(ctx, d, where)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	tick := im.opts.Observer.Moving(d, -1)
	defer tick(-1)
	n, err := rcv.Put(ctx, d, countingReader{r, tick})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	return n, nil
}

// fetchWhole reads blob d from the source into memory, checked.
func (im *importer) fetchWhole(ctx context.Context, d manifest.Digest, where string) ([]byte, error) {
	r, err := im.open(ctx, d, where)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	tick := im.opts.Observer.Moving(d, -1)
	defer tick(-1)
	b, err := io.ReadAll(io.LimitReader(countingReader{r, tick}, MaxStructured+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read blob %s: %w", where, d, err)
	}
	if len(b) > MaxStructured {
		return nil, fmt.Errorf("%s: blob %s is over %d bytes, too large for a layer that names blobs", where, d, MaxStructured)
	}
	return b, nil
}

// open opens blob d at the source. A blob the source lacks breaks the
// image: that is damage (ErrCorrupt), as a blob whose bytes are wrong.
func (im *importer) open(ctx context.Context, d manifest.Digest, where string) (io.ReadCloser, error) {
	r, err := im.src.Open(ctx, d)
	if errors.Is(err, pf.ErrNotFound) {
		return nil, fmt.Errorf("%s: blob %s is missing from the source: %w (%w)", where, d, err, pf.ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: blob %s: %w", where, d, err)
	}
	return r, nil
}

// tag sets the tags the source gives img and returns those set.
func (im *importer) tag(ctx context.Context, img Image) []string {
	if len(img.Tags) == 0 {
		return nil
	}
	tags, err := im.s.Tags(ctx)
	if err != nil {
		im.rep.Warnings = append(im.rep.Warnings, fmt.Sprintf("tags of image %s not set: %v", img.ID.Short(), err))
		return nil
	}
	here := map[string]manifest.Digest{}
	for _, t := range tags {
		here[t.Name] = t.ID
	}
	var set []string
	for _, name := range img.Tags {
		if err := pf.ValidateTagName(name); err != nil {
			im.rep.Warnings = append(im.rep.Warnings, fmt.Sprintf("tag %s of image %s not set: %v", strconv.Quote(name), img.ID.Short(), err))
			continue
		}
		if !im.opts.ForceTags {
			if cur, ok := here[name]; ok && cur != img.ID {
				im.rep.Warnings = append(im.rep.Warnings, fmt.Sprintf("tag %s names image %s here: left as it is (--force-tags moves it to %s)", name, cur.Short(), img.ID.Short()))
				continue
			}
		}
		if _, err := im.s.Tag(ctx, name, img.ID); err != nil {
			im.rep.Warnings = append(im.rep.Warnings, fmt.Sprintf("tag %s: %v", name, err))
			continue
		}
		set = append(set, name)
	}
	return set
}
