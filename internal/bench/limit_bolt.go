package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

// The limits that write into bbolt as the store writes a large blob's
// chunks, while the bytes are still being cut and hashed (or received):
// the ingest's and the big blob's cut + SHA-256 ×2 + bbolt
// (limitCutHashBolt), and the pull's receive + bbolt limits
// (registry_limit_bolt.go).

// valueKey is the key of the one value in each value's bucket, as the
// store's (cas/bucket.go).
var valueKey = []byte{0}

// A boltValue is one value for a boltWriter: its key, its bytes, and what
// to call, if not nil, once the transaction that wrote them has committed
// (their buffer may then serve again).
type boltValue struct {
	key   [32]byte
	value []byte
	done  func()
}

// A boltWriter writes values into a new bbolt file, opened with pf's
// options, as the store keeps a chunk: each value in a bucket of its own
// under its key (so that bbolt never writes a value's pages again when a
// later one lands in the same leaf). Values are committed in
// transactions of cas.DefaultSpillBytes, as a put's or a pull's early
// writes are:
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
			if v.done != nil {
				v.done()
			}
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

// boltRound makes a boltWriter's file in dir, runs write with it, and
// waits for the last commit of what write added. It returns the time
// from write's start to that commit, and the bytes the file then holds in
// its values (read back, untimed); making the file and removing it are not
// timed. write stops short on the writer's context (w.ctx), which ends if
// a commit fails.
func boltRound(ctx context.Context, dir string, write func(w *boltWriter) error) (time.Duration, int64, error) {
	w, err := newBoltWriter(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	defer w.close()
	start := time.Now()
	err = write(w)
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

// cutHashIntoBolt does the format's work on the blob b, in memory, and
// writes its chunks with w as a put does: cutAndHash, each chunk added
// to w under its digest as soon as it is. It returns b's digest. done,
// if not nil, is called once every chunk w took has committed: b may
// then serve again.
func cutHashIntoBolt(w *boltWriter, b []byte, done func()) ([32]byte, error) {
	// One count a chunk handed to w, and one more, the cut's own,
	// dropped once every chunk is handed on.
	var pending atomic.Int64
	pending.Add(1)
	release := func() {
		if pending.Add(-1) == 0 && done != nil {
			done()
		}
	}
	defer release()
	return cutAndHash(b, func(key [32]byte, c []byte) error {
		pending.Add(1)
		err := w.add(boltValue{key: key, value: c, done: release})
		if err != nil {
			pending.Add(-1) // never committed: the round fails
		}
		return err
	})
}

// cutHashBoltAll is the limit cut + SHA-256 ×2 + bbolt on blobs in
// memory: cutHashIntoBolt on each blob, a blob a core at once, into one
// boltWriter's file in dir. It returns what boltRound returns.
func cutHashBoltAll(ctx context.Context, dir string, blobs [][]byte) (time.Duration, int64, error) {
	return boltRound(ctx, dir, func(w *boltWriter) error {
		errs := make([]error, len(blobs))
		parallelIdx(len(blobs), func(i int) {
			if errs[i] = w.ctx.Err(); errs[i] == nil {
				_, errs[i] = cutHashIntoBolt(w, blobs[i], nil)
			}
		})
		return errors.Join(errs...)
	})
}
