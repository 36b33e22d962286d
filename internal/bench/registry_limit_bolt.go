package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer/ociregistry"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

// The pull's limits that store what they receive (registry_limits.go):
// a bbolt file written as the store writes a pull's chunks, while the
// image arrives.

// valueKey is the key of the one value in each value's bucket, as the
// store's (cas/bucket.go).
var valueKey = []byte{0}

// A boltValue is one value for a boltWriter: its key, its bytes, and what
// to call once the transaction that wrote them has committed (their
// buffer may then serve again).
type boltValue struct {
	key   [32]byte
	value []byte
	done  func()
}

// A boltWriter writes values into a new bbolt file, opened with pf's
// options, as the store keeps a chunk: each value in a bucket of its own
// under its key (so that bbolt never writes a value's pages again when a
// later one lands in the same leaf). Values are committed in
// transactions of cas.DefaultSpillBytes, as a pull's early writes are:
// one goroutine commits them one after another (fsyncs included) while
// the values go on coming, and a full transaction waits while the one
// before commits.
type boltWriter struct {
	path    string
	db      *bolt.DB
	commits chan []boltValue // unbuffered: one waits while one commits
	g       *errgroup.Group
	ctx     context.Context

	mu      sync.Mutex
	filling []boltValue
	n       int
}

var boltWriterBucket = []byte("values")

// newBoltWriter makes the file in dir and starts its committer.
func newBoltWriter(ctx context.Context, dir string) (*boltWriter, error) {
	w := &boltWriter{path: filepath.Join(dir, "limit-receive.bolt"), commits: make(chan []boltValue)}
	var err error
	if w.db, err = bolt.Open(w.path, 0o600, db.BoltOptions(db.DefaultInitialMmapSize)); err != nil {
		return nil, err
	}
	if err := w.db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(boltWriterBucket)
		return err
	}); err != nil {
		w.close()
		return nil, err
	}
	w.g, w.ctx = errgroup.WithContext(ctx)
	w.g.Go(w.commitAll)
	return w, nil
}

func (w *boltWriter) commitAll() error {
	for values := range w.commits {
		err := w.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(boltWriterBucket)
			for _, v := range values {
				vb, err := bk.CreateBucket(v.key[:])
				if err != nil {
					return err
				}
				if err := vb.Put(valueKey, v.value); err != nil {
					return err
				}
			}
			return nil
		})
		for _, v := range values {
			v.done()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// add stages v and hands the transaction on once it is full.
func (w *boltWriter) add(v boltValue) error {
	w.mu.Lock()
	w.filling, w.n = append(w.filling, v), w.n+len(v.value)
	var full []boltValue
	if w.n >= cas.DefaultSpillBytes {
		full, w.filling, w.n = w.filling, nil, 0
	}
	w.mu.Unlock()
	if full == nil {
		return nil
	}
	select {
	case w.commits <- full:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// finish commits what is staged (unless failed says the values stopped
// short) and waits for the last commit.
func (w *boltWriter) finish(failed bool) error {
	if !failed && len(w.filling) > 0 {
		select {
		case w.commits <- w.filling:
		case <-w.ctx.Done():
		}
	}
	close(w.commits)
	return w.g.Wait()
}

// stored returns the bytes of the file's values.
func (w *boltWriter) stored() (int64, error) {
	var n int64
	err := w.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(boltWriterBucket)
		return bk.ForEachBucket(func(k []byte) error {
			n += int64(len(bk.Bucket(k).Get(valueKey)))
			return nil
		})
	})
	return n, err
}

// close closes the file and removes it.
func (w *boltWriter) close() {
	w.db.Close()
	os.Remove(w.path)
}

// freeList is a list of buffers of one size for the values of a round,
// grown as needed.
type freeList struct {
	mu   sync.Mutex
	size int
	free [][]byte
}

func (l *freeList) get() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) == 0 {
		return make([]byte, l.size)
	}
	b := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	return b
}

func (l *freeList) put(b []byte) {
	l.mu.Lock()
	l.free = append(l.free, b[:l.size])
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
	w, err := newBoltWriter(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	defer w.close()
	// A buffer goes back once its transaction commits: at most the
	// transaction committing, the one filling and a value being read
	// by each blob moving.
	pieces := &freeList{size: boltPiece}

	start := time.Now()
	src, err := openPulled(ctx, ref)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	receivers, rctx := errgroup.WithContext(w.ctx)
	receivers.SetLimit(receiveAtOnce)
	for i, l := range layers {
		receivers.Go(func() error {
			keys := rand.NewChaCha8([32]byte{byte(i), byte(i >> 8)})
			rc, err := src.Open(rctx, l.Blob)
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
	}
	err = receivers.Wait()
	if werr := w.finish(err != nil); err == nil {
		err = werr
	}
	d := time.Since(start)
	if err != nil {
		return d, 0, err
	}
	stored, err := w.stored()
	return d, stored, err
}

// receiveCutHashIntoBolt is the pull with nothing but what the format
// asks on the way: the image received as receiveImage receives it
// (receiveAtOnce blobs at once, each into a buffer, hashed and checked
// against its digest, cut by FastCDC and each chunk but the first
// hashed, as hashAndCut), and each chunk, a slice of its blob's buffer
// (no copy), written by a boltWriter under its digest (the first chunk
// under the blob's) as the store keeps a chunk. A blob's buffer serves
// again once its last chunk has committed. It returns what
// receiveIntoBolt returns.
func receiveCutHashIntoBolt(ctx context.Context, ref ociregistry.Ref, layers []ociimage.Layer, dir string) (time.Duration, int64, error) {
	w, err := newBoltWriter(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	defer w.close()
	var (
		freeMu sync.Mutex
		free   []*bytes.Buffer
	)
	getBuffer := func() *bytes.Buffer {
		freeMu.Lock()
		defer freeMu.Unlock()
		if len(free) == 0 {
			return new(bytes.Buffer)
		}
		b := free[len(free)-1]
		free = free[:len(free)-1]
		return b
	}

	start := time.Now()
	src, err := openPulled(ctx, ref)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	receivers, rctx := errgroup.WithContext(w.ctx)
	receivers.SetLimit(receiveAtOnce)
	for _, l := range layers {
		receivers.Go(func() error {
			buf := getBuffer()
			if err := receiveLayer(rctx, src, l, buf); err != nil {
				return err
			}
			b := buf.Bytes()
			// The buffer goes back when the last of its chunks has
			// committed; the one count more is the cut's own, dropped
			// once the cut has handed every chunk on.
			var pending atomic.Int64
			pending.Add(1)
			release := func() {
				if pending.Add(-1) == 0 {
					freeMu.Lock()
					free = append(free, buf)
					freeMu.Unlock()
				}
			}
			defer release()
			whole := make(chan [32]byte, 1)
			go func() { whole <- sha256.Sum256(b) }()
			var chunks []boltValue
			err := cas.Cut(b, func(c []byte) {
				v := boltValue{value: c, done: release}
				if len(chunks) > 0 { // the first chunk's key waits for the blob's hash
					v.key = sha256.Sum256(c)
				}
				chunks = append(chunks, v)
			})
			got := <-whole
			if err != nil {
				return err
			}
			if got != [32]byte(l.Blob) {
				return fmt.Errorf("blob %s: its bytes hash to %x", l.Blob, got)
			}
			chunks[0].key = got
			pending.Add(int64(len(chunks)))
			for i, v := range chunks {
				if err := w.add(v); err != nil {
					pending.Add(-int64(len(chunks) - i))
					return err
				}
			}
			return nil
		})
	}
	err = receivers.Wait()
	if werr := w.finish(err != nil); err == nil {
		err = werr
	}
	d := time.Since(start)
	if err != nil {
		return d, 0, err
	}
	stored, err := w.stored()
	return d, stored, err
}
