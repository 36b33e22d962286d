package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/processfork/pf/internal/migrations"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configure Open. The zero value is a read-write open with the
// defaults below.
type Options struct {
	// Timeout bounds the wait for another process's lock. Zero means
	// DefaultTimeout; a negative value fails at once.
	Timeout time.Duration
	// ReadOnly opens for inspection: shared lock, no writes, no upgrade.
	ReadOnly bool
	// InitialMmapSize reserves address space for the file up front, so
	// commits that grow the file do not stop to remap it (which costs two
	// thirds of the CPU of a large ingest on this machine kind). Zero means
	// DefaultInitialMmapSize.
	InitialMmapSize int
	// NoCreate refuses to create a missing file.
	NoCreate bool
	// Waiting, if set, is called once when the store is found held by
	// another process, before the open waits for it.
	Waiting func(Holder)
}

const (
	DefaultTimeout         = time.Second
	DefaultInitialMmapSize = 1 << 30
)

// noFreelistSync is false: every commit writes bbolt's list of free
// pages, which an open for writing then reads back. Without it, bbolt
// rebuilds the list at each such open by visiting every page in use: in
// a store of 2 GiB that took half a second and 150 MiB of memory for
// each pf snapshot, even one that commits nothing. A store written
// without the list gains it at its first open for writing (bbolt
// commits it there).
const noFreelistSync = false

// BoltOptions are the options every store file is opened with (a
// reservation of mmap bytes of address space; 0 reserves none): the
// store, its compacted copy, and pf-bench's bbolt limit, which times the
// engine as the store uses it.
func BoltOptions(mmap int) *bolt.Options {
	return &bolt.Options{
		InitialMmapSize: mmap,
		FreelistType:    bolt.FreelistMapType,
		NoFreelistSync:  noFreelistSync,
	}
}

// DB is an open store file.
type DB struct {
	bolt     *bolt.DB
	path     string
	readOnly bool
	commits  chan *call
	done     chan struct{}

	closeOnce sync.Once
	closeErr  error
	// closing guards commits: senders hold it shared, Close exclusively,
	// so nothing is sent on a closed channel.
	closing sync.RWMutex
	closed  bool
	// committing is held by whoever runs a commit: the commit loop, or a
	// caller that found no commit running and none waiting (commitNow).
	committing sync.Mutex
}

// Open opens the store at path, creating it unless it exists or
// opts.NoCreate is set (whole: see create). A file that is not a store, is damaged or has a
// newer schema is refused before anything is written to it. A read-write
// open upgrades an older schema in one transaction.
func Open(path string, opts Options) (*DB, error) {
	return OpenContext(context.Background(), path, opts)
}

// OpenContext is Open whose wait for another process's lock ends, with
// ctx's error, when ctx is done.
func OpenContext(ctx context.Context, path string, opts Options) (*DB, error) {
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = time.Nanosecond
	}
	info, statErr := os.Stat(path)
	exists := statErr == nil
	switch {
	case statErr != nil && !errors.Is(statErr, os.ErrNotExist):
		return nil, fmt.Errorf("open store %s: %w", path, statErr)
	case !exists && (opts.NoCreate || opts.ReadOnly):
		return nil, fmt.Errorf("open store %s: %w (no such file)", path, ErrNotFound)
	case exists && info.IsDir():
		return nil, fmt.Errorf("open store %s: %w: it is a directory", path, ErrNotStore)
	case exists && info.Size() == 0:
		return nil, notStore(path, "the file is empty")
	case exists:
		if err := sniff(path, info.Size()); err != nil {
			return nil, err
		}
	}
	if !exists {
		if err := create(path, timeout); err != nil {
			return nil, err
		}
	}
	// Check with a read-only open first: bbolt's read-write open reads
	// every page to rebuild its free list, and a truncated or foreign file
	// must be refused before any of that, untouched.
	lock := newLockWait(ctx, path, timeout, opts.Waiting)
	probe, err := lock.open(true, 0)
	if err != nil {
		return nil, err
	}
	err = check(probe, path, opts.ReadOnly)
	if opts.ReadOnly {
		if err != nil {
			probe.Close()
			return nil, err
		}
		return &DB{bolt: probe, path: path, readOnly: true}, nil
	}
	probe.Close()
	if err != nil {
		return nil, err
	}
	mmap := opts.InitialMmapSize
	if mmap == 0 {
		mmap = DefaultInitialMmapSize
	}
	bdb, err := lock.open(false, mmap)
	if err != nil {
		return nil, err
	}
	if err := upgrade(bdb, path); err != nil {
		bdb.Close()
		return nil, err
	}
	d := &DB{bolt: bdb, path: path, commits: make(chan *call, 1024), done: make(chan struct{})}
	go d.commitLoop()
	return d, nil
}

func openBolt(path string, timeout time.Duration, readOnly bool, mmap int) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(path, fmt.Sprint(r))
		}
	}()
	o := BoltOptions(mmap)
	o.Timeout, o.ReadOnly = timeout, readOnly
	db, err = bolt.Open(path, 0o600, o)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open store %s: %w", path, ErrBusy)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, notStore(path, "not a bbolt file")
	case errors.Is(err, berrors.ErrChecksum):
		return nil, damaged(path, "meta page checksum mismatch")
	default:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
}

// check refuses a file that is not a store, is shorter than its own meta
// page says, or has a schema this pf cannot read.
func check(bdb *bolt.DB, path string, readOnly bool) error {
	// The size is read under the lock: a writer may have grown the file
	// while this open waited for it.
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	size := info.Size()
	err = safeView(bdb, func(tx *bolt.Tx) error {
		if need := tx.Size(); need > size {
			return damaged(path, fmt.Sprintf("truncated: the file is %d bytes, its pages reach %d", size, need))
		}
		v, err := migrations.Version(tx)
		if err != nil {
			return notStore(path, err.Error())
		}
		if v > migrations.Latest() {
			return fmt.Errorf("open store %s: %w: schema %d, this pf reads up to %d", path, ErrSchemaTooNew, v, migrations.Latest())
		}
		if v == 0 && readOnly {
			return notStore(path, "the file has no buckets")
		}
		if v < migrations.Latest() && readOnly && !migrations.ReadableAt(v) {
			return fmt.Errorf("open store %s: schema %d needs an upgrade to %d: open it read-write once", path, v, migrations.Latest())
		}
		return nil
	})
	if errors.Is(err, ErrCorrupt) && !strings.Contains(err.Error(), path) {
		err = fmt.Errorf("open store %s: damaged store: %w", path, err) // a fault in bbolt's pages
	}
	return err
}

// upgrade brings the store to the latest schema. A store already there is
// only read: an open that changes nothing must leave the file's bytes as
// they were.
func upgrade(bdb *bolt.DB, path string) error {
	current := false
	if err := safeView(bdb, func(tx *bolt.Tx) error {
		v, err := migrations.Version(tx)
		current = err == nil && v == migrations.Latest()
		return nil
	}); err != nil {
		return err
	}
	if current {
		return nil
	}
	return safeUpdate(bdb, func(tx *bolt.Tx) error {
		v, err := migrations.Version(tx)
		if err != nil {
			return notStore(path, err.Error())
		}
		if v == migrations.Latest() {
			return nil
		}
		if v > migrations.Latest() {
			return fmt.Errorf("open store %s: %w: schema %d, this pf reads up to %d", path, ErrSchemaTooNew, v, migrations.Latest())
		}
		if _, _, err := migrations.Upgrade(tx); err != nil {
			return fmt.Errorf("open store %s: %w", path, err)
		}
		return nil
	})
}

// Path is the file the store lives in.
func (d *DB) Path() string { return d.path }

// ReadOnly reports whether the store was opened for inspection only.
func (d *DB) ReadOnly() bool { return d.readOnly }

// Bolt exposes the bbolt handle to the packages that lay out their own
// buckets (cas, index). Writes must go through Update.
func (d *DB) Bolt() *bolt.DB { return d.bolt }

// Close waits for queued commits, then closes the file.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		if d.commits != nil {
			d.closing.Lock()
			d.closed = true
			close(d.commits)
			d.closing.Unlock()
			<-d.done
		}
		d.closeErr = d.bolt.Close()
	})
	return d.closeErr
}

// View runs fn in a read transaction. A panic inside bbolt, which is how it
// meets a damaged page, comes back as ErrCorrupt; a view after Close, as
// ErrClosed.
func (d *DB) View(fn func(*bolt.Tx) error) error {
	err := safeView(d.bolt, fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// A page damaged on disk can send bbolt to an address outside its map; a
// fault there becomes a panic (instead of killing the process) in a
// goroutine that asked for it, and then ErrCorrupt.
func safeView(bdb *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: reading the store: %v", ErrCorrupt, r)
		}
	}()
	return bdb.View(fn)
}

func safeUpdate(bdb *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: writing the store: %v", ErrCorrupt, r)
		}
	}()
	return bdb.Update(fn)
}

// Update runs fn in a read-write transaction that it may share with other
// callers' functions (group commit): it returns once the transaction that
// ran fn is durably committed, or with fn's error, in which case nothing fn
// did is kept. fn may run more than once (when another function in its
// group fails), so it must not change anything outside tx.
func (d *DB) Update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if d.readOnly {
		return ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if d.tryNow(c) {
		return <-c.done
	}
	if err := d.enqueue(c); err != nil {
		return err
	}
	return <-c.done
}

// tryNow commits c at once if it can (commitNow); it holds closing
// shared meanwhile, so that Close waits for that commit as it does for
// the loop's.
func (d *DB) tryNow(c *call) bool {
	d.closing.RLock()
	defer d.closing.RUnlock()
	return !d.closed && d.commitNow(c)
}

func (d *DB) enqueue(c *call) error {
	d.closing.RLock()
	defer d.closing.RUnlock()
	if d.closed {
		return ErrClosed
	}
	d.commits <- c
	return nil
}
