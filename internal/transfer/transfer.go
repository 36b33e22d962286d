// Package transfer moves images between a pf store and the places images
// travel to: another pf store (a bundle), an OCI image layout, the
// reference implementation's directory store, and its file:// and oci://
// registries.
//
// Each place is a Source (images and the blobs they reach, read from it)
// or a Sink (written to it), or both; Import and Export hold everything
// that is the same for all of them, so that every place gets the same
// guarantees:
//
//   - every blob that comes in is checked, after decompression, against
//     the digest its image names (pf.Receiver), and what a store has is
//     never fetched again;
//   - an image is committed with everything it reaches, as the exact bytes
//     of its manifest (so it keeps its id), or not at all; an image that
//     cannot be whole is reported, with why, and the others go on;
//   - what arrived before a kill stays, so a transfer run again does only
//     the rest, and one run twice does nothing the second time;
//   - blobs stream, a few at once: memory does not grow with their size.
//
// The conformance suite in package transfertest runs the same cases
// against every Source and Sink.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// An Image is one image a Source offers or a Sink takes.
type Image struct {
	ID   manifest.Digest
	Raw  []byte   // the manifest's exact bytes; ID is their digest
	Tags []string // the names the place gives it, if any
}

// A Source offers images and the blobs they reach.
type Source interface {
	// Images lists the images the source offers, in any order. An image
	// whose manifest cannot be read is not listed: Problems says why.
	Images(ctx context.Context) ([]Image, error)
	// Open streams the bytes of blob d, uncompressed. A blob the source
	// lacks is an error wrapping pf.ErrNotFound. The bytes need not be
	// checked: Import checks them against d.
	Open(ctx context.Context, d manifest.Digest) (io.ReadCloser, error)
	// Close releases what the source holds.
	Close() error
}

// A Finder is a Source that can look up an image it did not list, by id:
// an ancestor of an image it offers (a registry keeps those under tags of
// their own). ok is false if it has no such image.
type Finder interface {
	Find(ctx context.Context, id manifest.Digest) (img Image, ok bool, err error)
}

// A Prober is a Source that knows which images it could not read, so that
// Import reports them with the rest.
type Prober interface {
	Problems() []ImageResult
}

// A Sink takes images out of a store. Export offers it each image's blobs
// before the image, parents before children.
type Sink interface {
	// Has reports whether the sink holds blob d already, so that it is not
	// sent again.
	Has(ctx context.Context, d manifest.Digest) (bool, error)
	// PutBlob writes blob b, whose bytes open streams (verified by the
	// store), and says whether it sent them: a sink that learns only now
	// that it has the blob (a registry that has the compressed form this
	// push computed) sends nothing.
	PutBlob(ctx context.Context, b pf.Blob, open func() (io.ReadCloser, error)) (sent bool, err error)
	// PutImage writes the image, once every blob it reaches (blobs, in
	// the order of pf.Reach) is in.
	PutImage(ctx context.Context, img Image, blobs []pf.Blob) error
	// Close finishes what the sink writes last (an index, a tar trailer);
	// Export calls it once, after the last image.
	Close() error
}

// A Pacer is a Sink that says how many blobs Export moves at once when
// ExportOptions.Concurrency is zero: one whose blobs spend most of their
// time waiting on another process (a registry's uploads) keeps more of
// them on their way than DefaultConcurrency.
type Pacer interface {
	Concurrency() int
}

// A Preparer is a Sink that wants to hear of each image before Export asks
// it about the image's blobs (a registry then reads what it holds of the
// image already).
type Preparer interface {
	Prepare(ctx context.Context, img Image) error
}

// Status is what became of one image.
type Status string

const (
	Imported Status = "imported" // it came in (or went out) now
	Present  Status = "present"  // the destination had it already
	Failed   Status = "failed"   // it could not be made whole: see Err
)

// ImageResult says what became of one image of a transfer.
type ImageResult struct {
	ID      manifest.Digest
	Status  Status
	Tags    []string // tags set (import) or written (export) for it
	Shallow bool     // imported without parents the store lacks
	Err     error    // why it failed
}

// Report says what a transfer did.
type Report struct {
	Images       []ImageResult // in the order they were done: parents first
	Blobs        int           // blobs moved
	Bytes        int64         // their bytes, uncompressed
	PresentBlobs int           // blobs the destination had already
	PresentBytes int64
	Warnings     []string // what went otherwise than asked and is not a failure (a tag left where it was)
}

// Count returns how many images have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, img := range r.Images {
		if img.Status == s {
			n++
		}
	}
	return n
}

// Err is nil if no image failed; otherwise it names how many did and the
// first reason, and wraps pf.ErrCorrupt if any failed for want of data
// (a blob missing from the source, or corrupt), so that the command
// exits with the integrity status.
func (r *Report) Err() error {
	var failed []ImageResult
	corrupt := false
	for _, img := range r.Images {
		if img.Status == Failed {
			failed = append(failed, img)
			corrupt = corrupt || errors.Is(img.Err, pf.ErrCorrupt)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	first := failed[0]
	err := fmt.Errorf("%d of %d images failed; image %s: %w", len(failed), len(r.Images), first.ID, first.Err)
	if corrupt && !errors.Is(first.Err, pf.ErrCorrupt) {
		err = fmt.Errorf("%w (%w)", err, pf.ErrCorrupt)
	}
	return err
}

// An Observer hears how a transfer goes, for progress bars. Its methods
// may be called from several goroutines at once; they must not block.
type Observer interface {
	// Planned adds to what the transfer will move: blobs and their bytes.
	Planned(blobs int, bytes int64)
	// Moving says that blob d, of size bytes, starts moving; the function
	// it returns is called with each count of bytes moved, and with -1
	// when the blob is done (or failed).
	Moving(d manifest.Digest, size int64) func(n int64)
	// Done says what became of an image.
	Done(img ImageResult)
}

type nopObserver struct{}

func (nopObserver) Planned(int, int64)                        {}
func (nopObserver) Moving(manifest.Digest, int64) func(int64) { return func(int64) {} }
func (nopObserver) Done(ImageResult)                          {}
func observerOr(o Observer) Observer {
	if o == nil {
		return nopObserver{}
	}
	return o
}

// countingReader reports each read to an Observer's function.
type countingReader struct {
	r    io.Reader
	tick func(int64)
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.tick(int64(n))
	}
	return n, err
}

// WriteTo passes on the WriteTo of the reader it counts, if it has one
// (a store's blob reader proves a blob it hands over whole more cheaply).
func (c countingReader) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := c.r.(io.WriterTo); ok {
		return wt.WriteTo(countingWriter{w, c.tick})
	}
	return io.Copy(w, struct{ io.Reader }{c})
}

// countingWriter reports each write to an Observer's function.
type countingWriter struct {
	w    io.Writer
	tick func(int64)
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.tick(int64(n))
	}
	return n, err
}

// DefaultConcurrency is how many blobs move at once.
const DefaultConcurrency = 4
