package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/manifest"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
)

// Source pulls an image, and the ancestors a push tagged by id, from a
// repository of a registry.
type Source struct {
	ref  Ref
	repo *remote.Repository
	opts Options

	mu     sync.Mutex
	layers map[manifest.Digest]ociimage.Layer // what each image read names
}

// Open connects to ref's repository to pull from it.
func Open(ctx context.Context, ref Ref, opts Options) (*Source, error) {
	repo, err := repository(ctx, ref, opts)
	if err != nil {
		return nil, explain(ref, err)
	}
	return &Source{ref: ref, repo: repo, opts: opts, layers: map[manifest.Digest]ociimage.Layer{}}, nil
}

func isNotFound(err error) bool { return errors.Is(err, errdef.ErrNotFound) }

// fetchManifest reads and parses the OCI manifest reference names.
func fetchManifest(ctx context.Context, repo *remote.Repository, reference string) (*ociimage.Parsed, error) {
	desc, rc, err := repo.FetchReference(ctx, reference)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if desc.Size > ociimage.MaxManifestSize {
		return nil, fmt.Errorf("manifest of %d bytes, at most %d", desc.Size, ociimage.MaxManifestSize)
	}
	b, err := io.ReadAll(io.LimitReader(rc, ociimage.MaxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if digest.FromBytes(b) != desc.Digest && desc.Digest != "" {
		return nil, fmt.Errorf("manifest %s: its bytes hash to %s: %w", desc.Digest, digest.FromBytes(b), pf.ErrCorrupt)
	}
	return ociimage.Parse(b)
}

// Images reads the image the reference names: its OCI manifest, its
// config (the pf manifest, checked against its digest) and its signature,
// which is checked before the pf manifest is parsed.
func (s *Source) Images(ctx context.Context) ([]transfer.Image, error) {
	img, err := s.image(ctx, s.ref.Reference.Reference)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: no such image in the registry: %w", s.ref, pf.ErrNotFound)
		}
		return nil, explainPull(s.ref, err)
	}
	return []transfer.Image{img}, nil
}

func explainPull(ref Ref, err error) error {
	if errors.Is(err, ociimage.ErrNotPF) || errors.Is(err, pf.ErrCorrupt) {
		return fmt.Errorf("%s: %w", ref, err)
	}
	return explain(ref, err)
}

func (s *Source) image(ctx context.Context, reference string) (transfer.Image, error) {
	p, err := fetchManifest(ctx, s.repo, reference)
	if err != nil {
		return transfer.Image{}, err
	}
	raw, err := s.fetchSmall(ctx, p.Config, manifest.MaxManifestSize)
	if err != nil {
		return transfer.Image{}, fmt.Errorf("config: %w", err)
	}
	sig, err := s.fetchSmall(ctx, p.Signature, 64<<10)
	if err != nil {
		return transfer.Image{}, fmt.Errorf("signature: %w", err)
	}
	if err := ociimage.Verify(raw, sig, s.opts.SignKey); err != nil {
		return transfer.Image{}, err
	}
	s.mu.Lock()
	for _, l := range p.Layers {
		s.layers[l.Blob] = l
	}
	s.mu.Unlock()
	return transfer.Image{ID: p.ID, Raw: raw}, nil
}

// fetchSmall reads a small blob whole and checks it against its digest.
func (s *Source) fetchSmall(ctx context.Context, d ociimage.Descriptor, limit int64) ([]byte, error) {
	desc := ocispec.Descriptor{MediaType: d.MediaType, Digest: digest.Digest(d.Digest), Size: d.Size}
	if d.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", d.Digest, d.Size, limit)
	}
	rc, err := s.repo.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("%s: its bytes hash to %s: %w", d.Digest, got, pf.ErrCorrupt)
	}
	return b, nil
}

// Find looks up an ancestor by the tag a push with ancestors gave it.
func (s *Source) Find(ctx context.Context, id manifest.Digest) (transfer.Image, bool, error) {
	img, err := s.image(ctx, ancestorTag(id))
	if isNotFound(err) {
		return transfer.Image{}, false, nil
	}
	if err != nil {
		return transfer.Image{}, false, explainPull(s.ref, err)
	}
	if img.ID != id {
		return transfer.Image{}, false, fmt.Errorf("%s: tag %s names image %s: %w", s.ref, ancestorTag(id), img.ID, pf.ErrCorrupt)
	}
	return img, true, nil
}

// Open streams blob d: its layer, decompressed. The bytes are checked by
// the import against d, not here against the layer's digest: what is
// kept is the blob.
func (s *Source) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	s.mu.Lock()
	l, ok := s.layers[d]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("blob %s: no layer of the image names it: %w", d, pf.ErrNotFound)
	}
	rc, err := s.repo.Fetch(ctx, layerDesc(l))
	if isNotFound(err) {
		return nil, fmt.Errorf("blob %s: layer %s: %w", d, l.Digest, pf.ErrNotFound)
	}
	if err != nil {
		return nil, explain(s.ref, err)
	}
	return transfer.ReadFrames(rc)
}

func (s *Source) Close() error { return nil }
