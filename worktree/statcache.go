package worktree

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// fileStat is what the stat cache compares to decide that a file is the
// one it hashed before. Times are Unix nanoseconds.
type fileStat struct {
	size  int64
	mtime int64
	ctime int64
	ino   uint64
	dev   uint64
}

func statOf(fi fs.FileInfo) fileStat {
	ino, dev, ctime := sysStat(fi)
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctime, ino: ino, dev: dev}
}

// A cacheEntry is one file of the stat cache: its stat when it was hashed,
// when that stat was taken, and the digest of its bytes.
type cacheEntry struct {
	stat     fileStat
	recorded int64 // Unix ns, taken before the stat
	digest   manifest.Digest
}

// cacheEntryFormat is the first byte of a statcache value; a value of
// another format is treated as absent (and replaced).
const (
	cacheEntryFormat = 1
	cacheEntrySize   = 1 + 6*8 + 32
)

func (e *cacheEntry) encode() []byte {
	b := make([]byte, 0, cacheEntrySize)
	b = append(b, cacheEntryFormat)
	for _, n := range [...]uint64{uint64(e.stat.size), uint64(e.stat.mtime), uint64(e.stat.ctime), e.stat.ino, e.stat.dev, uint64(e.recorded)} {
		b = binary.BigEndian.AppendUint64(b, n)
	}
	return append(b, e.digest[:]...)
}

func decodeCacheEntry(v []byte) (cacheEntry, bool) {
	if len(v) != cacheEntrySize || v[0] != cacheEntryFormat {
		return cacheEntry{}, false
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(v[1+8*i:]) }
	e := cacheEntry{
		stat:     fileStat{size: int64(u(0)), mtime: int64(u(1)), ctime: int64(u(2)), ino: u(3), dev: u(4)},
		recorded: int64(u(5)),
	}
	copy(e.digest[:], v[1+6*8:])
	return e, true
}

// unixSecond is the second a Unix-nanosecond time falls in, rounding down
// for times before 1970 too.
func unixSecond(ns int64) int64 {
	s := ns / 1e9
	if ns%1e9 < 0 {
		s--
	}
	return s
}

// rootID is the statcache key prefix of a captured directory: its absolute
// path (symlinks resolved) hashed to a fixed length, so that no root's
// prefix is another's.
func rootID(root string) []byte {
	sum := sha256.Sum256([]byte(root))
	return sum[:16]
}

// A statCache is the stat cache of one directory for one capture: loaded
// before the walk, it answers the walk's lookups, collects what the
// workers hashed, and writes the difference back at the end.
type statCache struct {
	db      *db.DB
	prefix  []byte
	entries map[string]*loadedEntry

	mu      sync.Mutex
	updates map[string]cacheEntry
}

type loadedEntry struct {
	cacheEntry
	usable bool        // well-formed, and its digest is stored and not provisional
	seen   atomic.Bool // the walk met the path again
}

// loadStatCache reads root's entries, keeping as usable only those whose
// digest the store holds for good: an entry left by a snapshot that failed,
// or whose blob was collected since, is a miss.
func loadStatCache(d *db.DB, root string) (*statCache, error) {
	c := &statCache{db: d, prefix: rootID(root), entries: map[string]*loadedEntry{}, updates: map[string]cacheEntry{}}
	err := d.View(func(tx *bolt.Tx) error {
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
			e, ok := decodeCacheEntry(v)
			if ok {
				if ok, err = settled(e.digest); err != nil {
					return err
				}
			}
			c.entries[string(k[len(c.prefix):])] = &loadedEntry{cacheEntry: e, usable: ok}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lookupResult says what the cache knows of a file.
type lookupResult int

const (
	cacheMiss lookupResult = iota // never hashed, or its stat changed
	cacheRacy                     // same stat, but modified too close to when it was hashed
	cacheHit
)

// lookup returns the digest of the file at path if its stat st is the one
// the cache holds and the entry is not racy-clean. It also marks path as
// still present. The walk's goroutines call it concurrently.
func (c *statCache) lookup(path string, st fileStat) (manifest.Digest, lookupResult) {
	e := c.entries[path]
	if e == nil {
		return manifest.Digest{}, cacheMiss
	}
	e.seen.Store(true)
	if !e.usable || e.stat != st {
		return manifest.Digest{}, cacheMiss
	}
	// A file modified in the second its stat was taken, or later (a
	// clock set back), may have changed again since without a new mtime.
	if unixSecond(st.mtime) >= unixSecond(e.recorded) {
		return manifest.Digest{}, cacheRacy
	}
	return e.digest, cacheHit
}

// record notes a file the capture hashed. Workers call it concurrently.
func (c *statCache) record(path string, e cacheEntry) {
	c.mu.Lock()
	c.updates[path] = e
	c.mu.Unlock()
}

// save writes what changed: the files hashed, unless the cache already
// held exactly that, and deletions of the paths the walk no longer met.
func (c *statCache) save(ctx context.Context) error {
	type put struct{ key, value []byte }
	var puts []put
	var dels [][]byte
	key := func(path string) []byte {
		return append(append(make([]byte, 0, len(c.prefix)+len(path)), c.prefix...), path...)
	}
	for path, e := range c.updates {
		if old := c.entries[path]; old != nil && old.usable && old.cacheEntry == e {
			continue
		}
		puts = append(puts, put{key(path), e.encode()})
	}
	for path, e := range c.entries {
		if _, hashed := c.updates[path]; !e.seen.Load() && !hashed {
			dels = append(dels, key(path))
		}
	}
	if len(puts) == 0 && len(dels) == 0 {
		return nil
	}
	// Puts and deletes are idempotent: the function may run twice in a
	// group commit.
	return c.db.Update(ctx, func(tx *bolt.Tx) error {
		cache, err := db.Bucket(tx, db.BucketStatCache)
		if err != nil {
			return err
		}
		for _, p := range puts {
			if err := cache.Put(p.key, p.value); err != nil {
				return err
			}
		}
		for _, k := range dels {
			if err := cache.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
