package db

import (
	"errors"
	"fmt"
)

// Sentinel errors of the store. Every error the store returns that is about
// one of these conditions wraps the sentinel, so callers test with errors.Is.
var (
	// ErrNotFound: the blob, image or tag named is not in the store.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt: stored bytes do not match their digest, or the file's
	// structure is damaged.
	ErrCorrupt = errors.New("corrupt")
	// ErrBusy: another process holds the store past the open timeout.
	ErrBusy = errors.New("store is in use by another process")
	// ErrNotStore: the file exists but is not a pf store.
	ErrNotStore = errors.New("not a pf store")
	// ErrSchemaTooNew: the store was written by a newer pf.
	ErrSchemaTooNew = errors.New("store schema is newer than this pf")
	// ErrReadOnly: a write was attempted on a store opened read-only.
	ErrReadOnly = errors.New("store is open read-only")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store is closed")
)

// The two ways a file that exists can fail to open as a store, worded
// alike everywhere and always naming the file: it is not a store at all
// (the caller named the wrong file), or it is one that is damaged.
func notStore(path, why string) error {
	return fmt.Errorf("open store %s: %w: %s", path, ErrNotStore, why)
}

func damaged(path, why string) error {
	return fmt.Errorf("open store %s: damaged store: %w: %s", path, ErrCorrupt, why)
}
