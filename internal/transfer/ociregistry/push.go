package ociregistry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
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
	s := &Sink{ref: ref, repo: repo, opts: opts, target: target, tagIDs: tagIDs, known: map[manifest.Digest]ociimage.Layer{}}
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

// spoolAbove is the size above which a blob's compressed form goes to a
// file rather than memory while its digest is learnt.
const spoolAbove = 4 << 20

// idleLayerBuffers hold the frames of small blobs while they upload:
// grown once to the size of a blob, not doubled from nothing for each.
var idleLayerBuffers = transfer.NewIdle[*bytes.Buffer](transfer.DefaultConcurrency)

// PutBlob compresses blob b, learns the digest of its frame, and uploads
// the frame unless the registry has it (a push that was cut short).
func (s *Sink) PutBlob(ctx context.Context, b pf.Blob, open func() (io.ReadCloser, error)) (bool, error) {
	r, err := open()
	if err != nil {
		return false, err
	}
	defer r.Close()
	// Read, not WriteTo: the store's WriteTo reads each blob ahead on
	// every core with chunk buffers of its own, while a push already
	// moves several blobs at once.
	r = struct{ io.ReadCloser }{r}
	var body io.ReadSeeker
	var l ociimage.Layer
	if b.Size <= spoolAbove {
		buf := idleLayerBuffers.Get(func() *bytes.Buffer { return new(bytes.Buffer) })
		defer idleLayerBuffers.Put(buf)
		buf.Reset()
		// A frame of incompressible bytes is a little larger than they.
		buf.Grow(int(b.Size + b.Size/1024 + 64))
		if l, err = ociimage.WriteLayer(buf, b.Digest, r); err != nil {
			return false, err
		}
		body = bytes.NewReader(buf.Bytes())
	} else {
		spool, err := os.CreateTemp(s.opts.SpoolDir, "pf-push-*.zst")
		if err != nil {
			return false, err
		}
		defer func() { spool.Close(); os.Remove(spool.Name()) }()
		if l, err = ociimage.WriteLayer(spool, b.Digest, r); err != nil {
			return false, err
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
		body = spool
	}
	desc := layerDesc(l)
	has, err := s.repo.Exists(ctx, desc)
	if err != nil {
		return false, explain(s.ref, err)
	}
	if !has {
		if err := s.repo.Push(ctx, desc, body); err != nil {
			return false, explain(s.ref, err)
		}
	}
	s.mu.Lock()
	s.known[b.Digest] = l
	s.mu.Unlock()
	return !has, nil
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

func (s *Sink) Close() error { return nil }

// Layer returns the layer the registry keeps blob d in, if this push
// learnt it.
func (s *Sink) Layer(d manifest.Digest) (ociimage.Layer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.known[d]
	return l, ok
}
