// Package refdir reads and writes the reference implementation's own
// store: a directory (~/.processfork by default) of zstd files.
//
//	blobs/sha256/<first two hex digits>/<64 hex>.zst   one zstd frame of
//	                                                   each blob's bytes
//	images/<64 hex>.json                               each manifest's
//	                                                   bytes, also a blob
//
// The reference writes each file to a temporary name in the same
// directory, fsyncs it and renames it, so a file with a blob's name is
// whole; anything not named so is a left-over temporary file, not a blob.
// There are no tags, refs or indexes: the reference's pf log lists
// images/. (pf-core/src/store.rs and cas.rs in the reference's
// repository; docs/format.md.)
package refdir

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
	"github.com/processfork/pf/internal/transfer"
	"github.com/processfork/pf/manifest"
)

// BlobPath is where blob d lies under root, in the reference's layout
// (the file:// registry's too).
func BlobPath(root string, d manifest.Digest) string {
	hex := d.Hex()
	return filepath.Join(root, "blobs", "sha256", hex[:2], hex+".zst")
}

// ImagePath is where the copy of image id's manifest lies under root.
func ImagePath(root string, id manifest.Digest) string {
	return filepath.Join(root, "images", id.Hex()+".json")
}

// OpenBlob streams blob d's bytes from the reference's layout under root,
// decompressed. A missing file is an error wrapping pf.ErrNotFound.
func OpenBlob(root string, d manifest.Digest) (io.ReadCloser, error) {
	f, err := os.Open(BlobPath(root, d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: no file %s: %w", d, BlobPath(root, d), pf.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	r, err := transfer.ReadFrames(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return r, nil
}

// Source is a reference directory store read as a transfer.Source.
type Source struct {
	root     string
	problems []transfer.ImageResult
}

// Open opens the reference store at root. A directory without images/ or
// blobs/ is not one.
func Open(root string) (*Source, error) {
	for _, sub := range []string{"images", "blobs"} {
		fi, err := os.Stat(filepath.Join(root, sub))
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a reference store (pf-core 1.x): it has no %s/ directory", root, sub)
		}
	}
	return &Source{root: root}, nil
}

// Images reads images/. An image whose copy there does not hash to its
// name is read from its blob instead, which the reference's own get reads;
// if that fails too, Problems reports it.
func (s *Source) Images(ctx context.Context) ([]transfer.Image, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "images"))
	if err != nil {
		return nil, err
	}
	var out []transfer.Image
	s.problems = nil
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		id, err := manifest.ParseHex(hex)
		if err != nil {
			continue // not named as the reference names images
		}
		raw, err := s.manifest(id)
		if err != nil {
			s.problems = append(s.problems, transfer.ImageResult{ID: id, Status: transfer.Failed, Err: err})
			continue
		}
		out = append(out, transfer.Image{ID: id, Raw: raw})
	}
	return out, nil
}

// manifest reads image id's bytes: the copy in images/, else the blob.
func (s *Source) manifest(id manifest.Digest) ([]byte, error) {
	raw, err := readLimited(ImagePath(s.root, id))
	if err == nil && manifest.Sum(raw) == id {
		return raw, nil
	}
	r, berr := OpenBlob(s.root, id)
	if berr != nil {
		if err == nil {
			err = fmt.Errorf("images/%s.json hashes to %s", id.Hex(), manifest.Sum(raw))
		}
		return nil, fmt.Errorf("manifest: %v, and its blob: %w (%w)", err, berr, pf.ErrCorrupt)
	}
	defer r.Close()
	raw, berr = io.ReadAll(io.LimitReader(r, manifest.MaxManifestSize+1))
	if berr == nil && manifest.Sum(raw) == id {
		return raw, nil
	}
	return nil, fmt.Errorf("manifest: neither images/%s.json nor its blob hashes to its name: %w", id.Hex(), pf.ErrCorrupt)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, manifest.MaxManifestSize+1))
}

// Problems lists the images whose manifest Images could not read.
func (s *Source) Problems() []transfer.ImageResult { return s.problems }

// Open streams blob d, decompressed.
func (s *Source) Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error) {
	return OpenBlob(s.root, d)
}

func (s *Source) Close() error { return nil }

// Blobs writes blobs in the reference's layout under a root directory:
// its store's, and its file:// registry's.
type Blobs string

// Has reports whether blob d's file is there. The reference writes each
// file whole, by renaming it into place, so one that is there is whole.
func (root Blobs) Has(ctx context.Context, d manifest.Digest) (bool, error) {
	_, err := os.Stat(BlobPath(string(root), d))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// PutBlob writes blob b as one zstd frame, whole or not at all.
func (root Blobs) PutBlob(ctx context.Context, b pf.Blob, open func() (io.ReadCloser, error)) (bool, error) {
	r, err := open()
	if err != nil {
		return false, err
	}
	defer r.Close()
	return true, WriteFile(BlobPath(string(root), b.Digest), func(w io.Writer) error {
		_, err := transfer.WriteFrame(w, r)
		return err
	})
}

// Sink writes images into a reference store at root, creating it if need
// be: the reference's pf log and pf checkout read what it writes.
type Sink struct {
	Blobs
	root string
}

// Create opens the directory root as a reference store to write, creating
// it and its images/ and blobs/ if need be. A directory that holds
// anything else is refused: pf writes only into an empty directory or a
// reference store.
func Create(root string) (*Sink, error) {
	if err := checkWritable(root); err != nil {
		return nil, err
	}
	for _, sub := range []string{"images", filepath.Join("blobs", "sha256")} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o755); err != nil {
			return nil, err
		}
	}
	return &Sink{Blobs: Blobs(root), root: root}, nil
}

// checkWritable refuses a root that is not a directory, or a directory
// that is neither empty nor a reference store.
func checkWritable(root string) error {
	fi, err := os.Lstat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", root)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if n := e.Name(); n != "images" && n != "blobs" {
			return fmt.Errorf("%s holds %s: it is neither empty nor a reference store, and pf writes into nothing else", root, n)
		}
	}
	return nil
}

// PutImage writes the manifest as a blob, which the reference's get reads,
// then its copy in images/, which its pf log lists.
func (s *Sink) PutImage(ctx context.Context, img transfer.Image, blobs []pf.Blob) error {
	if ok, err := s.Has(ctx, img.ID); err != nil || !ok {
		if err != nil {
			return err
		}
		err := WriteFile(BlobPath(s.root, img.ID), func(w io.Writer) error {
			_, err := transfer.WriteFrame(w, strings.NewReader(string(img.Raw)))
			return err
		})
		if err != nil {
			return err
		}
	}
	path := ImagePath(s.root, img.ID)
	if _, err := os.Stat(path); err == nil {
		return nil // written only if absent, as the reference does
	}
	return WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(img.Raw)
		return err
	})
}

func (s *Sink) Close() error { return nil }

// WriteFile writes path as the reference does: to a temporary file in the
// same directory, fsynced, then renamed into place, so that a file with
// the final name is always whole.
func WriteFile(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	f.Chmod(0o644) // as the reference's files; CreateTemp makes them 0600
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
