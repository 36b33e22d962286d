// Package fileregistry reads and writes the reference implementation's
// file:// registry: one image under a directory.
//
//	manifest.json                      the manifest's bytes
//	manifest.json.sig                  their signature (package ociimage)
//	blobs/sha256/<aa>/<hex>.zst        a zstd frame of every blob it reaches
//
// A pull checks the signature before it parses anything; a push writes
// every blob first, then the manifest, then its signature, each file whole
// (written aside and renamed). Source: pf-registry/src/file.rs in the
// reference's repository.
package fileregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/internal/transfer/refdir"
	"github.com/processfork/pf/manifest"
)

// KeyEnv names the environment variable of the signing key.
const KeyEnv = "PF_FILE_REG_SIGN_KEY"

const (
	manifestFile  = "manifest.json"
	signatureFile = "manifest.json.sig"
)

// Source is a file:// registry read as a transfer.Source of its image.
type Source struct {
	root, key string
}

// Open opens the registry at root, whose signatures are checked under key
// (the reference's default if empty).
func Open(root, key string) *Source { return &Source{root: root, key: key} }

// Images reads the manifest and its signature and checks the signature
// before the manifest is parsed: a bad one fails with an error wrapping
// pf.ErrCorrupt.
func (s *Source) Images(ctx context.Context) ([]transfer.Image, error) {
	raw, err := readSmall(filepath.Join(s.root, manifestFile), manifest.MaxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file://%s: no %s: not a file:// registry, or nothing was pushed there", s.root, manifestFile)
	}
	if err != nil {
		return nil, err
	}
	sig, err := readSmall(filepath.Join(s.root, signatureFile), 64<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file://%s: no %s: the manifest is not signed: %w", s.root, signatureFile, pf.ErrCorrupt)
	}
	if err != nil {
		return nil, err
	}
	if err := ociimage.Verify(raw, sig, s.key); err != nil {
		return nil, fmt.Errorf("file://%s: %w", s.root, err)
	}
	return []transfer.Image{{ID: manifest.Sum(raw), Raw: raw}}, nil
}

func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s: over %d bytes", path, limit)
	}
	return b, err
}

func (s *Source) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	return refdir.OpenBlob(s.root, d)
}

func (s *Source) Close() error { return nil }

// Sink writes one image into a file:// registry, creating the directory if
// need be.
type Sink struct {
	refdir.Blobs
	root, key string
	wrote     bool
}

// Create opens root to push to. A directory that holds anything but a
// registry's files is refused.
func Create(root, key string) (*Sink, error) {
	fi, err := os.Lstat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s exists and is not a directory", root)
	default:
		entries, err := os.ReadDir(root)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if n := e.Name(); n != manifestFile && n != signatureFile && n != "blobs" && !strings.HasPrefix(n, ".tmp-") {
				return nil, fmt.Errorf("%s holds %s: it is neither empty nor a file:// registry, and pf pushes into nothing else", root, n)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	return &Sink{Blobs: refdir.Blobs(root), root: root, key: key}, nil
}

// PutImage writes the manifest, then its signature. The registry holds one
// image: a second replaces the first, as the reference's push does.
func (s *Sink) PutImage(ctx context.Context, img transfer.Image, blobs []pf.Blob) error {
	if s.wrote {
		return fmt.Errorf("a file:// registry holds one image: push the others to other paths")
	}
	s.wrote = true
	for _, f := range []struct {
		name string
		b    []byte
	}{{manifestFile, img.Raw}, {signatureFile, ociimage.Sign(img.Raw, s.key)}} {
		err := refdir.WriteFile(filepath.Join(s.root, f.name), func(w io.Writer) error {
			_, err := w.Write(f.b)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) Close() error { return nil }
