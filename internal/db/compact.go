package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds each transaction of a compaction, so copying a
// large store needs bounded memory.
const compactTxSize = 16 << 20

// Compact rewrites the store at path into a new file beside it, holding
// only the pages in use (bbolt reuses freed pages but never gives them
// back), fsyncs it and renames it over the store. It holds the store's lock
// throughout, so it refuses (ErrBusy) while another process has the store,
// and no writer can come in between. If anything fails, a full disk
// included, the store is left as it was and the copy removed. It returns
// the file's size before and after. A path that is a symbolic link is
// followed: the file it leads to is compacted (the copy made beside that
// file), and the link stays.
func Compact(ctx context.Context, path string, opts Options) (before, after int64, err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	opts.ReadOnly = false
	opts.NoCreate = true
	src, err := OpenContext(ctx, path, opts)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	info, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	before = info.Size()

	tmp := fmt.Sprintf("%s.compact-%d.tmp", path, os.Getpid())
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	o := BoltOptions(0)
	o.Timeout = opts.Timeout
	dst, err := bolt.Open(tmp, info.Mode().Perm(), o)
	if err != nil {
		return before, 0, fmt.Errorf("compact %s: create %s: %w", path, tmp, err)
	}
	if err := bolt.Compact(dst, src.bolt, compactTxSize); err != nil {
		dst.Close()
		return before, 0, fmt.Errorf("compact %s: copy: %w", path, err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return before, 0, fmt.Errorf("compact %s: sync copy: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		return before, 0, fmt.Errorf("compact %s: close copy: %w", path, err)
	}
	// Check the copy as any store is checked before it replaces one.
	probe, err := Open(tmp, Options{ReadOnly: true, Timeout: opts.Timeout})
	if err != nil {
		return before, 0, fmt.Errorf("compact %s: the copy does not open: %w", path, err)
	}
	probe.Close()
	if err := os.Rename(tmp, path); err != nil {
		return before, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return before, 0, fmt.Errorf("compact %s: the copy replaced the store, but syncing its folder failed: %w", path, err)
	}
	info, err = os.Stat(path)
	if err != nil {
		return before, 0, err
	}
	return before, info.Size(), nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
