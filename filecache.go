package pf

import (
	"bytes"
	"context"
	"crypto/sha256"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A FileCache is what the store remembers of the files a capture of one
// directory hashed, so that the next capture need not read them again:
// per path, the capture's own record of the file as it was hashed (its
// stat, say) and the digest of its bytes. Package worktree's stat cache
// keeps its entries here. It is a cache, never a reference: gc does not
// look at it, and Load says which entries still name a stored blob.
type FileCache struct {
	s      *Store
	prefix []byte
}

// A FileRecord is one file of a FileCache.
type FileRecord struct {
	// Path is the file's path relative to the directory, as the capture
	// names it.
	Path string
	// Stat is the capture's record of the file. The store keeps it as
	// given; in what Load passes, it is valid only during the call.
	Stat []byte
	// Blob is the digest of the file's bytes.
	Blob manifest.Digest
}

// FileCache returns the cache of the directory dir: an absolute path with
// symbolic links resolved, so that each directory has one cache.
func (s *Store) FileCache(dir string) *FileCache {
	// A fixed-length hash of the path: no directory's prefix is
	// another's, and one cursor seek lists a directory's files.
	sum := sha256.Sum256([]byte(dir))
	return &FileCache{s: s, prefix: sum[:16]}
}

// Load calls fn for every file of the cache, in byte order of the paths.
// stored says whether the record's blob is in the store for good: false
// for a file hashed by a snapshot that then failed, or whose blob gc has
// collected since, which a capture must read again.
func (c *FileCache) Load(ctx context.Context, fn func(r FileRecord, stored bool) error) error {
	return c.s.db.View(func(tx *bolt.Tx) error {
		cache, err := db.Bucket(tx, db.BucketStatCache)
		if err != nil {
			return err
		}
		settled, err := cas.SettledTx(tx)
		if err != nil {
			return err
		}
		cur := cache.Cursor()
		for k, v := cur.Seek(c.prefix); k != nil && bytes.HasPrefix(k, c.prefix); k, v = cur.Next() {
			r := FileRecord{Path: string(k[len(c.prefix):])}
			stored := false
			if n := len(v) - len(r.Blob); n >= 0 {
				r.Stat = v[:n:n]
				copy(r.Blob[:], v[n:])
				if stored, err = settled(r.Blob); err != nil {
					return err
				}
			}
			if err := fn(r, stored); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}

// Update puts the records put, replacing those of the same paths, and
// deletes the records of the paths del, in one transaction of the store's
// group commit.
func (c *FileCache) Update(ctx context.Context, put []FileRecord, del []string) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	key := func(path string) []byte {
		return append(append(make([]byte, 0, len(c.prefix)+len(path)), c.prefix...), path...)
	}
	keys := make([][]byte, len(put))
	values := make([][]byte, len(put))
	for i, r := range put {
		keys[i] = key(r.Path)
		values[i] = append(append(make([]byte, 0, len(r.Stat)+len(r.Blob)), r.Stat...), r.Blob[:]...)
	}
	// Puts and deletes are idempotent: the function may run twice in a
	// group commit.
	return c.s.db.Update(ctx, func(tx *bolt.Tx) error {
		cache, err := db.Bucket(tx, db.BucketStatCache)
		if err != nil {
			return err
		}
		for i := range keys {
			if err := cache.Put(keys[i], values[i]); err != nil {
				return err
			}
		}
		for _, path := range del {
			if err := cache.Delete(key(path)); err != nil {
				return err
			}
		}
		return nil
	})
}
