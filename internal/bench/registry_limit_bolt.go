package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer/ociregistry"
)

// The pull's limits that store what they receive (registry_limits.go):
// a bbolt file written as the store writes a pull's chunks (a
// boltWriter, limit_bolt.go), while the image arrives.

// freeList is a list of the buffers of a round, made by newBuffer as
// needed and served again once given back.
type freeList[T any] struct {
	mu        sync.Mutex
	newBuffer func() T
	free      []T
}

func (l *freeList[T]) get() T {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) == 0 {
		return l.newBuffer()
	}
	b := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	return b
}

func (l *freeList[T]) put(b T) {
	l.mu.Lock()
	l.free = append(l.free, b)
	l.mu.Unlock()
}

// receiveIntoBolt receives the image ref names, as pf pull does,
// receiveAtOnce blobs at once, and writes each blob's bytes as they
// arrive into a boltWriter's file in dir: in values of boltPiece, read
// straight from the source into the buffer bbolt copies them from, under
// random keys. It returns the time from opening the source to the last
// commit, and the bytes the file then holds in its values (read back,
// untimed); making the file and removing it are not timed.
func receiveIntoBolt(ctx context.Context, ref ociregistry.Ref, layers []ociimage.Layer, dir string) (time.Duration, int64, error) {
	// A buffer goes back once its transaction commits: at most the
	// transaction committing, the one filling and a value being read
	// by each blob moving.
	pieces := &freeList[[]byte]{newBuffer: func() []byte { return make([]byte, boltPiece) }}
	return boltRound(ctx, dir, func(w *boltWriter) error {
		return receiveEach(w.ctx, ref, layers, func(ctx context.Context, src *ociregistry.Source, i int, l ociimage.Layer) error {
			keys := rand.NewChaCha8([32]byte{byte(i), byte(i >> 8)})
			rc, err := src.Open(ctx, l.Blob)
			if err != nil {
				return err
			}
			defer rc.Close()
			for {
				buf := pieces.get()
				k, err := io.ReadFull(rc, buf)
				if k > 0 {
					v := boltValue{value: buf[:k], done: func() { pieces.put(buf) }}
					keys.Read(v.key[:])
					if err := w.add(v); err != nil {
						return err
					}
				} else {
					pieces.put(buf)
				}
				switch err {
				case nil:
				case io.EOF, io.ErrUnexpectedEOF:
					return nil
				default:
					return fmt.Errorf("blob %s: %w", l.Blob, err)
				}
			}
		})
	})
}

// receiveCutHashIntoBolt is the pull with nothing but what the format
// asks on the way: the image received as receiveImage receives it
// (receiveAtOnce blobs at once, each into a buffer), and each blob cut,
// hashed and written as cutHashIntoBolt does it (each chunk a slice of
// its blob's buffer, no copy, under its digest), its digest then checked
// against the one the image names. A blob's buffer serves again once
// its last chunk has committed. It returns what receiveIntoBolt returns.
func receiveCutHashIntoBolt(ctx context.Context, ref ociregistry.Ref, layers []ociimage.Layer, dir string) (time.Duration, int64, error) {
	buffers := &freeList[*bytes.Buffer]{newBuffer: func() *bytes.Buffer { return new(bytes.Buffer) }}
	return boltRound(ctx, dir, func(w *boltWriter) error {
		return receiveEach(w.ctx, ref, layers, func(ctx context.Context, src *ociregistry.Source, _ int, l ociimage.Layer) error {
			buf := buffers.get()
			if err := receiveLayer(ctx, src, l, buf); err != nil {
				buffers.put(buf)
				return err
			}
			got, err := cutHashIntoBolt(w, buf.Bytes(), func() { buffers.put(buf) })
			if err != nil {
				return err
			}
			if got != [32]byte(l.Blob) {
				return fmt.Errorf("blob %s: its bytes hash to %x", l.Blob, got)
			}
			return nil
		})
	})
}
