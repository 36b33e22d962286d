package ociimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/manifest"
)

// WriteLayer writes blob's zstd frame, which r yields the bytes of, to w
// and returns its layer: the digest and size of the frame. The same bytes
// always make the same frame (transfer.WriteFrame), so a layer measured
// once names the frame written again later.
func WriteLayer(w io.Writer, blob manifest.Digest, r io.Reader) (Layer, error) {
	h := sha256.New()
	cw := &counter{w: io.MultiWriter(w, h)}
	if _, err := transfer.WriteFrame(cw, r); err != nil {
		return Layer{}, err
	}
	l := Layer{Blob: blob, Size: cw.n}
	h.Sum(l.Digest[:0])
	return l, nil
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Described is an image of a store in its OCI form, as a registry serves
// it: the OCI manifest, and the blobs it names by their digests.
type Described struct {
	ID        manifest.Digest
	Manifest  []byte // the OCI manifest; its digest is manifest.Sum(Manifest)
	Config    []byte // the pf manifest's exact bytes
	Signature []byte
	Layers    []Layer // in the manifest's order
	byDigest  map[manifest.Digest]Layer
}

// Describe builds image id's OCI form. It compresses every blob the image
// reaches to learn its layer's digest, as a push does: its cost is a read
// of the whole image, so a server keeps what it returns. key signs the
// manifest (DefaultSignKey if empty).
func Describe(ctx context.Context, s *pf.Store, id manifest.Digest, key string) (*Described, error) {
	img, err := s.Image(ctx, id)
	if err != nil {
		return nil, err
	}
	blobs, err := s.Reached(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &Described{ID: id, Config: img.Raw, Signature: Sign(img.Raw, key), byDigest: map[manifest.Digest]Layer{}}
	for _, b := range blobs {
		r, err := s.Blobs().Open(ctx, b.Digest)
		if err != nil {
			return nil, err
		}
		l, err := WriteLayer(io.Discard, b.Digest, r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", b.Digest, err)
		}
		d.Layers = append(d.Layers, l)
		d.byDigest[l.Digest] = l
	}
	d.Manifest = New(d.Config, d.Signature, d.Layers).Encode()
	return d, nil
}

// Open streams what the registry API serves under digest dg for this
// image: its config, its signature, or a layer's frame, compressed again
// from the store's verified blob; and its size. A digest the image does
// not name is an error wrapping pf.ErrNotFound.
func (d *Described) Open(ctx context.Context, s *pf.Store, dg manifest.Digest) (io.ReadCloser, int64, error) {
	switch dg {
	case manifest.Sum(d.Config):
		return io.NopCloser(bytes.NewReader(d.Config)), int64(len(d.Config)), nil
	case manifest.Sum(d.Signature):
		return io.NopCloser(bytes.NewReader(d.Signature)), int64(len(d.Signature)), nil
	}
	l, ok := d.byDigest[dg]
	if !ok {
		return nil, 0, fmt.Errorf("blob %s: not a blob of image %s: %w", dg, d.ID, pf.ErrNotFound)
	}
	r, err := s.Blobs().Open(ctx, l.Blob)
	if err != nil {
		return nil, 0, err
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := transfer.WriteFrame(pw, r)
		r.Close()
		pw.CloseWithError(err)
	}()
	return pr, l.Size, nil
}
