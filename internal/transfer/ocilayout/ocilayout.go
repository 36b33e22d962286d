// Package ocilayout writes pf images into an OCI image layout (a directory
// or a tar of one: oci-layout, index.json, blobs/sha256/<hex>) in the
// reference's OCI form (package ociimage), and reads them back. oras or
// skopeo copy such a layout to any registry; index.json names each image
// once per tag it has (org.opencontainers.image.ref.name), and once
// without a name if it has none.
package ocilayout

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/manifest"
)

const (
	layoutFile      = "oci-layout"
	indexFile       = "index.json"
	layoutContent   = `{"imageLayoutVersion":"1.0.0"}`
	mediaTypeIndex  = "application/vnd.oci.image.index.v1+json"
	annotationRef   = "org.opencontainers.image.ref.name"
	maxIndexSize    = 64 << 20
	maxManifestSize = ociimage.MaxManifestSize
)

// index is index.json.
type index struct {
	SchemaVersion int                   `json:"schemaVersion"`
	MediaType     string                `json:"mediaType,omitempty"`
	Manifests     []ociimage.Descriptor `json:"manifests"`
}

func blobName(d manifest.Digest) string { return "blobs/sha256/" + d.Hex() }

// files is how a layout is read: a directory, or a tar file.
type files interface {
	open(name string) (io.ReadCloser, error)
}

type dirFiles string

func (d dirFiles) open(name string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, pf.ErrNotFound)
	}
	return f, err
}

// tarFiles reads a tar file by the offsets of its entries.
type tarFiles struct {
	f       *os.File
	entries map[string]tarEntry
}

type tarEntry struct{ offset, size int64 }

func openTar(path string) (*tarFiles, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	t := &tarFiles{f: f, entries: map[string]tarEntry{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: not a tar of an OCI layout: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			f.Close()
			return nil, err
		}
		t.entries[filepath.ToSlash(filepath.Clean(h.Name))] = tarEntry{off, h.Size}
	}
	return t, nil
}

func (t *tarFiles) open(name string) (io.ReadCloser, error) {
	e, ok := t.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, pf.ErrNotFound)
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.offset, e.size)), nil
}

// Source is an OCI image layout read as a transfer.Source.
type Source struct {
	files    files
	closer   io.Closer
	key      string
	mu       sync.Mutex
	layers   map[manifest.Digest]ociimage.Layer
	problems []transfer.ImageResult
}

// Open opens the layout at path: a directory, or a tar file of one.
// Signatures are checked under key (the reference's default if empty).
func Open(path, key string) (*Source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	s := &Source{key: key, layers: map[manifest.Digest]ociimage.Layer{}}
	if fi.IsDir() {
		s.files = dirFiles(path)
	} else {
		t, err := openTar(path)
		if err != nil {
			return nil, err
		}
		s.files, s.closer = t, t.f
	}
	r, err := s.files.open(layoutFile)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%s is not an OCI image layout: no %s", path, layoutFile)
	}
	r.Close()
	return s, nil
}

// IsLayout reports whether dir holds an OCI image layout.
func IsLayout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, layoutFile))
	return err == nil
}

// readBlob reads a small blob whole and checks it against its digest.
func (s *Source) readBlob(d ociimage.Descriptor, limit int64) ([]byte, error) {
	dg, err := manifest.ParseDigest(d.Digest)
	if err != nil {
		return nil, err
	}
	if d.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", d.Digest, d.Size, limit)
	}
	r, err := s.files.open(blobName(dg))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if manifest.Sum(b) != dg {
		return nil, fmt.Errorf("%s: its bytes hash to %s: %w", d.Digest, manifest.Sum(b), pf.ErrCorrupt)
	}
	return b, nil
}

// Images reads index.json and each image it names, whose signature is
// checked before its manifest is parsed. Images that cannot be read are
// reported by Problems; manifests that are not pf images' too.
func (s *Source) Images(ctx context.Context) ([]transfer.Image, error) {
	r, err := s.files.open(indexFile)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxIndexSize))
	r.Close()
	if err != nil {
		return nil, err
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %v", indexFile, err)
	}
	var out []transfer.Image
	at := map[manifest.Digest]int{} // image id -> index in out
	s.problems = nil
	for _, desc := range idx.Manifests {
		img, err := s.image(desc)
		if err != nil {
			dg, _ := manifest.ParseDigest(desc.Digest)
			s.problems = append(s.problems, transfer.ImageResult{ID: dg, Status: transfer.Failed, Err: fmt.Errorf("manifest %s: %w", desc.Digest, err)})
			continue
		}
		if i, ok := at[img.ID]; ok {
			out[i].Tags = append(out[i].Tags, img.Tags...)
			continue
		}
		at[img.ID] = len(out)
		out = append(out, img)
	}
	return out, nil
}

func (s *Source) image(desc ociimage.Descriptor) (transfer.Image, error) {
	b, err := s.readBlob(desc, maxManifestSize)
	if err != nil {
		return transfer.Image{}, err
	}
	p, err := ociimage.Parse(b)
	if err != nil {
		return transfer.Image{}, err
	}
	raw, err := s.readBlob(p.Config, manifest.MaxManifestSize)
	if err != nil {
		return transfer.Image{}, fmt.Errorf("config: %w", err)
	}
	sig, err := s.readBlob(p.Signature, 64<<10)
	if err != nil {
		return transfer.Image{}, fmt.Errorf("signature: %w", err)
	}
	if err := ociimage.Verify(raw, sig, s.key); err != nil {
		return transfer.Image{}, err
	}
	s.mu.Lock()
	for _, l := range p.Layers {
		s.layers[l.Blob] = l
	}
	s.mu.Unlock()
	img := transfer.Image{ID: p.ID, Raw: raw}
	if name := desc.Annotations[annotationRef]; name != "" {
		img.Tags = []string{name}
	}
	return img, nil
}

// Problems lists the images Images could not read.
func (s *Source) Problems() []transfer.ImageResult { return s.problems }

// Open streams blob d: its layer, decompressed.
func (s *Source) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	s.mu.Lock()
	l, ok := s.layers[d]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("blob %s: no layer names it: %w", d, pf.ErrNotFound)
	}
	r, err := s.files.open(blobName(l.Digest))
	if err != nil {
		return nil, fmt.Errorf("blob %s: layer %w", d, err)
	}
	return transfer.ReadFrames(r)
}

func (s *Source) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// SpoolStream copies a tar read from r (standard input) to a temporary
// file in dir, to be opened as a layout: a tar's index comes last, and
// its blobs are read in the order images need them. The caller removes
// the file.
func SpoolStream(r io.Reader, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "pf-import-*.tar")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("read standard input: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
