package ocilayout

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/refdir"
	"github.com/processfork/pf/manifest"
)

// writer is where a sink puts the layout's files: a directory or a tar.
type writer interface {
	// has reports whether blob name is there already.
	has(name string) bool
	// put writes blob name from r (whose size is size), unless it is there.
	put(name string, size int64, r io.Reader) error
	// finish writes index.json and whatever ends the layout.
	finish(idx []byte) error
}

// Sink writes images into an OCI image layout.
type Sink struct {
	w     writer
	key   string
	spool string // where a tar's compressed blobs wait for their size

	mu    sync.Mutex
	known map[manifest.Digest]ociimage.Layer
	index []ociimage.Descriptor
}

// CreateDir opens the directory dir to write a layout in: a new or empty
// directory, or a layout (whose images stay, and whose blobs are not
// written again). Signatures are made under key.
func CreateDir(dir, key string) (*Sink, error) {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s exists and is not a directory", dir)
	case !IsLayout(dir):
		if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
			return nil, fmt.Errorf("%s is neither empty nor an OCI image layout: pf writes into nothing else", dir)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	s := &Sink{w: dirWriter(dir), key: key, known: map[manifest.Digest]ociimage.Layer{}}
	if IsLayout(dir) {
		// Keep the images there, and learn their layers.
		src, err := Open(dir, key)
		if err != nil {
			return nil, err
		}
		defer src.Close()
		r, err := src.files.open(indexFile)
		if err == nil {
			var idx index
			err = json.NewDecoder(io.LimitReader(r, maxIndexSize)).Decode(&idx)
			r.Close()
			s.index = idx.Manifests
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", dir, indexFile, err)
		}
		src.Images(context.Background())
		s.known = src.layers
	}
	return s, nil
}

// CreateTar writes a layout as a tar stream to w. spoolDir holds each
// compressed blob while its size is learnt (a tar header comes first).
func CreateTar(w io.Writer, key, spoolDir string) (*Sink, error) {
	tw := &tarWriter{tw: tar.NewWriter(w), written: map[string]bool{}}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.file(layoutFile, []byte(layoutContent)); err != nil {
		return nil, err
	}
	return &Sink{w: tw, key: key, spool: spoolDir, known: map[manifest.Digest]ociimage.Layer{}}, nil
}

func (s *Sink) Has(ctx context.Context, d manifest.Digest) (bool, error) {
	s.mu.Lock()
	l, ok := s.known[d]
	s.mu.Unlock()
	return ok && s.w.has(blobName(l.Digest)), nil
}

func (s *Sink) PutBlob(ctx context.Context, b pf.Blob, open func() (io.ReadCloser, error)) (bool, error) {
	r, err := open()
	if err != nil {
		return false, err
	}
	defer r.Close()
	var l ociimage.Layer
	var sent bool
	switch w := s.w.(type) {
	case dirWriter:
		// Written aside in blobs/sha256, renamed to its digest: one pass.
		tmp, err := os.CreateTemp(filepath.Join(string(w), "blobs", "sha256"), ".tmp-*")
		if err != nil {
			return false, err
		}
		defer os.Remove(tmp.Name())
		if l, err = ociimage.WriteLayer(tmp, b.Digest, r); err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, err
		}
		if sent = !w.has(blobName(l.Digest)); sent {
			if err := os.Rename(tmp.Name(), filepath.Join(string(w), filepath.FromSlash(blobName(l.Digest)))); err != nil {
				return false, err
			}
		}
	default:
		tmp, err := os.CreateTemp(s.spool, "pf-export-*.zst")
		if err != nil {
			return false, err
		}
		defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
		if l, err = ociimage.WriteLayer(tmp, b.Digest, r); err != nil {
			return false, err
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
		if sent = !s.w.has(blobName(l.Digest)); sent {
			if err := s.w.put(blobName(l.Digest), l.Size, tmp); err != nil {
				return false, err
			}
		}
	}
	s.mu.Lock()
	s.known[b.Digest] = l
	s.mu.Unlock()
	return sent, nil
}

// PutImage writes the image's config, signature and OCI manifest, and
// names it in the index under each of its tags.
func (s *Sink) PutImage(ctx context.Context, img transfer.Image, blobs []pf.Blob) error {
	sig := ociimage.Sign(img.Raw, s.key)
	layers := make([]ociimage.Layer, len(blobs))
	s.mu.Lock()
	for i, b := range blobs {
		l, ok := s.known[b.Digest]
		if !ok {
			s.mu.Unlock()
			return fmt.Errorf("blob %s was not written", b.Digest)
		}
		layers[i] = l
	}
	s.mu.Unlock()
	m := ociimage.New(img.Raw, sig, layers).Encode()
	for _, b := range [][]byte{img.Raw, sig, m} {
		if err := s.w.put(blobName(manifest.Sum(b)), int64(len(b)), bytes.NewReader(b)); err != nil {
			return err
		}
	}
	desc := ociimage.Descriptor{MediaType: ociimage.MediaTypeManifest, Size: int64(len(m)), Digest: manifest.Sum(m).String()}
	names := img.Tags
	if len(names) == 0 {
		names = []string{""}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		d := desc
		if name != "" {
			d.Annotations = map[string]string{annotationRef: name}
		}
		s.name(d)
	}
	return nil
}

// name adds d to the index: a tag names one manifest, so an entry of the
// same tag goes; so does the same manifest without a tag.
func (s *Sink) name(d ociimage.Descriptor) {
	ref := d.Annotations[annotationRef]
	kept := s.index[:0]
	for _, e := range s.index {
		if eref := e.Annotations[annotationRef]; ref != "" && eref == ref || e.Digest == d.Digest && eref == ref {
			continue
		}
		kept = append(kept, e)
	}
	s.index = append(kept, d)
}

// Close writes index.json.
func (s *Sink) Close() error {
	s.mu.Lock()
	idx := index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: s.index}
	s.mu.Unlock()
	if idx.Manifests == nil {
		idx.Manifests = []ociimage.Descriptor{}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return s.w.finish(b)
}

type dirWriter string

func (d dirWriter) path(name string) string {
	return filepath.Join(string(d), filepath.FromSlash(name))
}

func (d dirWriter) has(name string) bool {
	_, err := os.Stat(d.path(name))
	return err == nil
}

func (d dirWriter) put(name string, size int64, r io.Reader) error {
	if d.has(name) {
		return nil
	}
	return refdir.WriteFile(d.path(name), func(w io.Writer) error {
		_, err := io.Copy(w, r)
		return err
	})
}

func (d dirWriter) finish(idx []byte) error {
	for _, f := range []struct {
		name string
		b    []byte
	}{{layoutFile, []byte(layoutContent)}, {indexFile, idx}} {
		err := refdir.WriteFile(d.path(f.name), func(w io.Writer) error {
			_, err := w.Write(f.b)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// epoch is the time of every entry of a tar pf writes, so that the same
// images make the same tar.
var epoch = time.Unix(0, 0).UTC()

type tarWriter struct {
	mu      sync.Mutex
	tw      *tar.Writer
	written map[string]bool
}

func (t *tarWriter) has(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.written[name]
}

func (t *tarWriter) put(name string, size int64, r io.Reader) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.written[name] {
		return nil
	}
	if err := t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: epoch}); err != nil {
		return err
	}
	if _, err := io.Copy(t.tw, r); err != nil {
		return err
	}
	t.written[name] = true
	return nil
}

func (t *tarWriter) file(name string, b []byte) error {
	return t.put(name, int64(len(b)), bytes.NewReader(b))
}

func (t *tarWriter) finish(idx []byte) error {
	if err := t.file(indexFile, idx); err != nil {
		return err
	}
	return t.tw.Close()
}

// Layer returns the layer blob d was written as, if this sink knows it.
func (s *Sink) Layer(d manifest.Digest) (ociimage.Layer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.known[d]
	return l, ok
}
