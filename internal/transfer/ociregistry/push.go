package ociregistry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/manifest"
	"oras.land/oras-go/v2/registry/remote"
)

// Sink pushes images to a repository of a registry.
type Sink struct {
	ref    Ref
	repo   *remote.Repository
	opts   Options
	target manifest.Digest
	tagIDs bool

	mu    sync.Mutex
	known map[manifest.Digest]ociimage.Layer // layers the registry has

	spools *spools
	// encoding holds a slot for each blob being read and compressed
	// (see encodeSlots).
	encoding chan struct{}
}

// Create connects to ref's repository to push image target there under
// ref's tag; with tagIDs, every image pushed (the ancestors Export sends
// before it, and it) is also tagged sha256-<its id's hex>.
func Create(ctx context.Context, ref Ref, target manifest.Digest, tagIDs bool, opts Options) (*Sink, error) {
	if _, err := digest.Parse(ref.Reference.Reference); err == nil {
		return nil, fmt.Errorf("%s: push to a tag, not a digest", ref)
	}
	repo, err := repository(ctx, ref, opts)
	if err != nil {
		return nil, explain(ref, err)
	}
	s := &Sink{ref: ref, repo: repo, opts: opts, target: target, tagIDs: tagIDs, known: map[manifest.Digest]ociimage.Layer{},
		spools: newSpools(opts.SpoolDir), encoding: make(chan struct{}, encodeSlots())}
	// What the tag holds now names layers the registry has: a push of
	// the same image, or of one that shares blobs with it, need not
	// compress those blobs again to learn their digests.
	if p, err := fetchManifest(ctx, repo, ref.Reference.Reference); err == nil {
		for _, l := range p.Layers {
			s.known[l.Blob] = l
		}
	} else if !isNotFound(err) {
		return nil, explain(ref, err)
	}
	return s, nil
}

func layerDesc(l ociimage.Layer) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ociimage.MediaTypeLayer, Digest: digest.Digest(l.Digest.String()), Size: l.Size}
}

// Prepare reads, when every image pushed is tagged by its id, what the
// registry holds under image img's tag: the layers of a push of it made
// before, so that a second push need not compress them again.
func (s *Sink) Prepare(ctx context.Context, img transfer.Image) error {
	if !s.tagIDs {
		return nil
	}
	p, err := fetchManifest(ctx, s.repo, ancestorTag(img.ID))
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return explain(s.ref, err)
	}
	s.mu.Lock()
	for _, l := range p.Layers {
		s.known[l.Blob] = l
	}
	s.mu.Unlock()
	return nil
}

// Has reports whether the registry has blob d's layer, as far as the
// layers known from the tag's manifest tell.
func (s *Sink) Has(ctx context.Context, d manifest.Digest) (bool, error) {
	s.mu.Lock()
	l, ok := s.known[d]
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	has, err := s.repo.Exists(ctx, layerDesc(l))
	if err != nil {
		return false, explain(s.ref, err)
	}
	return has, nil
}

// encodeSlots is how many blobs a push reads, checks and compresses at
// once: one a core, at most DefaultConcurrency. That work is this
// process's CPU, while an upload mostly waits on the registry (which,
// on this machine, runs on the same cores). A blob gives its slot back
// as soon as its layer is written, so that the next one compresses while
// it uploads: with a slot a blob from reading to the end of its upload,
// all of them at times waited on the registry with nothing compressed
// behind them, then all compressed at once while the registry waited.
func encodeSlots() int {
	return min(transfer.DefaultConcurrency, max(1, runtime.GOMAXPROCS(0)))
}

// pushConcurrency is how many blobs a push has on their way: those being
// compressed, and DefaultConcurrency uploading.
func pushConcurrency() int { return encodeSlots() + transfer.DefaultConcurrency }

// Concurrency is how many blobs Export gives a push at once (see
// encodeSlots): more than it compresses at once, so that uploads go on
// while the next blobs compress.
func (s *Sink) Concurrency() int { return pushConcurrency() }

// startEncoding waits for a slot to read and compress a blob in; the
// function it returns gives the slot back, once however often it is
// called.
func (s *Sink) startEncoding(ctx context.Context) (func(), error) {
	select {
	case s.encoding <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-s.encoding }) }, nil
}

// spoolAbove is the size above which a blob's compressed form goes to a
// file rather than memory while its digest is learnt.
const spoolAbove = 4 << 20

// idleLayerBuffers hold the frames of small blobs while they upload:
// grown once to the size of a blob, not doubled from nothing for each.
var idleLayerBuffers = transfer.NewIdle[*bytes.Buffer](pushConcurrency())

// PutBlob compresses blob b, learns the digest of its frame, and uploads
// the frame unless the registry has it (a push that was cut short).
func (s *Sink) PutBlob(ctx context.Context, b pf.Blob, open func() (io.ReadCloser, error)) (bool, error) {
	encoded, err := s.startEncoding(ctx)
	if err != nil {
		return false, err
	}
	defer encoded()
	r, err := open()
	if err != nil {
		return false, err
	}
	defer r.Close()
	// Read, not WriteTo: the store's WriteTo reads each blob ahead on
	// every core with chunk buffers of its own, while a push already
	// moves several blobs at once.
	r = struct{ io.ReadCloser }{r}
	if b.Size > spoolAbove {
		return s.putSpooled(ctx, b, r, encoded)
	}
	buf := idleLayerBuffers.Get(func() *bytes.Buffer { return new(bytes.Buffer) })
	defer idleLayerBuffers.Put(buf)
	buf.Reset()
	// A frame of incompressible bytes is a little larger than they.
	buf.Grow(int(b.Size + b.Size/1024 + 64))
	l, err := ociimage.WriteLayer(buf, b.Digest, r)
	if err != nil {
		return false, err
	}
	encoded()
	sent, err := s.upload(ctx, layerDesc(l), func() (io.Reader, error) { return bytes.NewReader(buf.Bytes()), nil })
	if err != nil {
		return false, err
	}
	s.learnt(b.Digest, l)
	return sent, nil
}

// putSpooled is PutBlob of a blob too large to hold its frame in memory:
// the frame goes to a spool file while its digest is learnt. It calls
// encoded once the frame is written.
func (s *Sink) putSpooled(ctx context.Context, b pf.Blob, r io.Reader, encoded func()) (bool, error) {
	spool, err := s.spools.get()
	if err != nil {
		return false, err
	}
	var l ociimage.Layer
	uploaded := false
	defer func() { s.spools.put(spool, l.Size, uploaded) }()
	if l, err = ociimage.WriteLayer(spool, b.Digest, r); err != nil {
		return false, err
	}
	encoded()
	// A spool used before may be longer than this layer.
	if err := spool.Truncate(l.Size); err != nil {
		return false, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	sent, err := s.upload(ctx, layerDesc(l), func() (io.Reader, error) { return uploadBody(spool) })
	if err != nil {
		return false, err
	}
	uploaded = true
	s.learnt(b.Digest, l)
	return sent, nil
}

// upload sends layer desc, whose bytes body opens, unless the registry
// has it (a push that was cut short), and reports whether it sent it.
func (s *Sink) upload(ctx context.Context, desc ocispec.Descriptor, body func() (io.Reader, error)) (bool, error) {
	has, err := s.repo.Exists(ctx, desc)
	if err != nil {
		return false, explain(s.ref, err)
	}
	if has {
		return false, nil
	}
	r, err := body()
	if err != nil {
		return false, err
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close() // net/http closes it too, but not if it never sends it
	}
	if err := s.repo.Push(ctx, desc, r); err != nil {
		return false, explain(s.ref, err)
	}
	return true, nil
}

// learnt remembers that the registry has blob d's layer l.
func (s *Sink) learnt(d manifest.Digest, l ociimage.Layer) {
	s.mu.Lock()
	s.known[d] = l
	s.mu.Unlock()
}

// pushSmall uploads b unless the registry has it.
func (s *Sink) pushSmall(ctx context.Context, mediaType string, b []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	has, err := s.repo.Exists(ctx, desc)
	if err == nil && !has {
		err = s.repo.Push(ctx, desc, bytes.NewReader(b))
	}
	return desc, err
}

// PutImage uploads the image's config (its manifest) and signature, then
// its OCI manifest, under the tag if it is the image pushed, and under
// sha256-<hex> with ancestors.
func (s *Sink) PutImage(ctx context.Context, img transfer.Image, blobs []pf.Blob) error {
	sig := ociimage.Sign(img.Raw, s.opts.SignKey)
	if _, err := s.pushSmall(ctx, ociimage.MediaTypeConfig, img.Raw); err != nil {
		return explain(s.ref, err)
	}
	if _, err := s.pushSmall(ctx, ociimage.MediaTypeSignature, sig); err != nil {
		return explain(s.ref, err)
	}
	layers := make([]ociimage.Layer, len(blobs))
	s.mu.Lock()
	for i, b := range blobs {
		l, ok := s.known[b.Digest]
		if !ok {
			s.mu.Unlock()
			return fmt.Errorf("blob %s was not pushed", b.Digest)
		}
		layers[i] = l
	}
	s.mu.Unlock()
	body := ociimage.New(img.Raw, sig, layers).Encode()
	desc := ocispec.Descriptor{MediaType: ociimage.MediaTypeManifest, Digest: digest.FromBytes(body), Size: int64(len(body))}
	var tags []string
	if img.ID == s.target {
		tags = append(tags, s.ref.Reference.Reference)
	}
	if s.tagIDs {
		tags = append(tags, ancestorTag(img.ID))
	}
	if len(tags) == 0 {
		return fmt.Errorf("image %s: no tag to push it under", img.ID)
	}
	for _, tag := range tags {
		if err := s.repo.PushReference(ctx, desc, bytes.NewReader(body), tag); err != nil {
			return explain(s.ref, err)
		}
	}
	return nil
}

// Close drops the spools the push kept.
func (s *Sink) Close() error {
	s.spools.close()
	return nil
}

// Layer returns the layer the registry keeps blob d in, if this push
// learnt it.
func (s *Sink) Layer(d manifest.Digest) (ociimage.Layer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.known[d]
	return l, ok
}
