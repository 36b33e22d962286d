// Package pf is the store of ProcessFork images that a program embeds: one
// bbolt file holding every blob and manifest of an agent's history, with
// snapshots that are all or nothing.
//
//	s, err := pf.Open(path, nil)
//	...
//	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: world, ...})
//
// A Store is safe for concurrent use by many goroutines; concurrent
// snapshots share commits. One process at a time opens a store read-write.
package pf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
)

// Options configure Open; nil means all defaults.
type Options struct {
	// Timeout bounds the wait for another process that holds the store
	// (zero: 1s; negative: no wait at all). When it runs out, Open fails
	// with ErrBusy. A store that this process has open already is ErrBusy
	// at once: share that *Store instead.
	Timeout time.Duration
	// Waiting, if set, is called once when the store is found held by
	// another process, before Open waits for it: a command line says
	// "waiting for pid N (pf snapshot)".
	Waiting func(Holder)
	// ReadOnly opens for inspection, beside other readers.
	ReadOnly bool
	// NoCreate fails with ErrNotFound instead of creating a new store.
	NoCreate bool
	// Level is the zstd level of new blobs (default zstd.SpeedFastest).
	Level zstd.EncoderLevel
	// HeapHeadroom bounds the Go heap while a put of a large value
	// streams from a reader (Put, a receive; not PutBytes or PutAll,
	// whose bytes the caller holds): the process's soft memory limit
	// (runtime/debug.SetMemoryLimit) is then what the heap kept at its
	// last collection plus HeapHeadroom for each such put, and the
	// process's own limit is back once the last ends. Such a put makes
	// garbage as fast as it writes, which the collector would otherwise
	// let grow to as much as the heap keeps, each byte of it memory the
	// system must fault in afresh. A lower limit the process has
	// (GOMEMLIMIT) wins. Zero means DefaultHeapHeadroom; a negative
	// value leaves the heap to the collector's pacing.
	HeapHeadroom int64
}

// DefaultHeapHeadroom is the garbage each put of a large value may make
// before the collector runs (Options.HeapHeadroom), above what the
// process keeps. Left to the collector's pacing, a process that holds a
// 1 GiB blob in memory let the garbage of its put grow to 1 GiB, and the
// page faults of that fresh memory and bbolt's copies into it cost a
// quarter of the put's CPU (BenchmarkBlobs_Put_256MiB). A capture of a
// large file keeps about 40-55 MiB live (its chunk buffers, the lease's
// staged values); at this headroom pf serve's first checkpoint of a 2 GiB
// file and its turns peak near 90 MiB of RSS, where the collector's own
// pacing let them reach 139 MiB. The limit follows what the process
// keeps, so a capture of 100,000 small files, whose trees and stat caches
// grow, never runs the collector without end as a fixed limit did.
const DefaultHeapHeadroom = 32 << 20

// A Holder is the process that holds a store: its PID and command line
// where the system says (Linux), else PID 0.
type Holder = db.Holder

// Store is an open pf store.
type Store struct {
	db    *db.DB
	blobs *cas.Bolt
	refs  *refCache
	// snapshotHeld is how many values the last snapshot's lease held,
	// the room the next one's is made with (shared with borrowed handles).
	snapshotHeld *atomic.Int64
	// borrowed is set on a handle from Borrow: its Close leaves the
	// store open for its owner.
	borrowed bool
}

// Open opens the store file at path, creating it if needed. Opening
// read-write also upgrades an older schema and reclaims what snapshots
// cut short by a crash left behind.
func Open(path string, opts *Options) (*Store, error) {
	return OpenContext(context.Background(), path, opts)
}

// OpenContext is Open whose wait for another process that holds the store
// ends, with ctx's error, when ctx is done.
func OpenContext(ctx context.Context, path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	headroom := opts.HeapHeadroom
	switch {
	case headroom == 0:
		headroom = DefaultHeapHeadroom
	case headroom < 0:
		headroom = 0
	}
	d, err := db.OpenContext(ctx, path, db.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly, NoCreate: opts.NoCreate, Waiting: opts.Waiting})
	if err != nil {
		return nil, err
	}
	s := &Store{db: d, blobs: cas.New(d, cas.Options{Level: opts.Level, HeapHeadroom: headroom}), refs: newRefCache(1 << 20), snapshotHeld: new(atomic.Int64)}
	if err := s.blobs.LoadDicts(); err != nil {
		d.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if !opts.ReadOnly {
		if _, err := s.blobs.ReclaimAbandoned(context.Background()); err != nil {
			d.Close()
			return nil, fmt.Errorf("open store %s: reclaim abandoned writes: %w", path, err)
		}
	}
	return s, nil
}

// Close closes the store; it waits for commits under way. On a handle
// from Borrow it does nothing.
func (s *Store) Close() error {
	if s.borrowed {
		return nil
	}
	err := s.db.Close()
	if cerr := s.blobs.Close(); err == nil {
		err = cerr
	}
	return err
}

// Borrow returns a handle on the same open store for code that closes
// what it is handed: the handle works as s does, but its Close leaves s
// open. A server that owns the store lends it this way to each request.
func (s *Store) Borrow() *Store {
	b := *s
	b.borrowed = true
	return &b
}

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }

// DefaultPath is where the store lives when none is named: $PF_STORE, else
// store.pf in pf's folder of the user's data directory
// ($XDG_DATA_HOME or ~/.local/share on Linux, ~/Library/Application
// Support on macOS, %LocalAppData% on Windows).
func DefaultPath() (string, error) { return DefaultPathFor(os.Getenv) }

// DefaultPathFor is DefaultPath for a process whose environment getenv
// reads: a server working on behalf of another process uses that
// process's variables, not its own.
func DefaultPathFor(getenv func(key string) string) (string, error) {
	if p := getenv("PF_STORE"); p != "" {
		return p, nil
	}
	dir, err := userDataDir(getenv)
	if err != nil {
		return "", fmt.Errorf("no store named and no data directory: %w (set PF_STORE)", err)
	}
	return filepath.Join(dir, "pf", "store.pf"), nil
}

func userDataDir(getenv func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LocalAppData"); d != "" {
			return d, nil
		}
		return "", errors.New("%LocalAppData% is not set")
	case "darwin", "ios":
		home, err := homeDir(getenv)
		return filepath.Join(home, "Library", "Application Support"), err
	default:
		if d := getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
			return d, nil
		}
		home, err := homeDir(getenv)
		return filepath.Join(home, ".local", "share"), err
	}
}

// homeDir is os.UserHomeDir with the variables getenv reads.
func homeDir(getenv func(string) string) (string, error) {
	if runtime.GOOS == "plan9" {
		if h := getenv("home"); h != "" {
			return h, nil
		}
		return "", errors.New("$home is not defined")
	}
	if h := getenv("HOME"); h != "" {
		return h, nil
	}
	return "", errors.New("$HOME is not defined")
}
