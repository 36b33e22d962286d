// Package migrations holds the store's schema history: an ordered list of
// steps, each taking a store from one schema version to the next. It is a
// package of its own so that each step can be read and tested as the
// history it is; a step names its buckets as they were when it was written
// and is never edited after it ships.
package migrations

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A Step upgrades a store from schema Version-1 to Version.
type Step struct {
	Version int
	Name    string
	Apply   func(tx *bolt.Tx) error
	// ReadableBefore says that this pf reads a store the step has not
	// reached yet as it is: the step only adds what a reader takes as
	// empty when it is missing. A read-only open (pf status, pf log)
	// then works on a file an older pf wrote, before anything has
	// opened it read-write to upgrade it.
	ReadableBefore bool
}

// Steps is the schema history, oldest first. Version N is Steps[N-1].
var Steps = []Step{
	{1, "initial layout: meta, stats, blobs, chunks, provisional, manifests, time and parent indexes", initialLayout, false},
	{2, "tags bucket", addTags, false},
	{3, "statcache bucket", addStatCache, false},
	{4, "packs and packlive buckets", addPacks, false},
	{5, "early packs: a marked pack with no packlive entry", earlyPacks, false},
	{6, "heads bucket", addHeads, false},
	{7, "shallow bucket", addShallow, false},
	{8, "manifests compressed against pf's manifest dictionary", manifestDict, false},
	{9, "pins bucket", addPins, false},
	{10, "deleted counter and sealed stat caches", sealedStatCaches, false},
	{11, "index/time values carry each image's summary", timeSummaries, false},
	{12, "dicts bucket: values compressed against the store's own zstd dictionary", addDicts, true},
	{13, "statcache: a bucket per captured directory, its records keyed by path alone", statCacheBuckets, true},
	{14, "statcache: one value per subdirectory, holding its files' records", statCacheGroups, true},
}

// Latest is the schema version a store has after every step.
func Latest() int { return Steps[len(Steps)-1].Version }

// ReadableAt reports whether this pf reads a store of schema v without
// upgrading it: every step after v is ReadableBefore.
func ReadableAt(v int) bool {
	if v < 1 || v > Latest() {
		return v == Latest()
	}
	for _, s := range Steps[v:] {
		if !s.ReadableBefore {
			return false
		}
	}
	return true
}

var (
	metaBucket       = []byte("meta")
	formatKey        = []byte("format")
	schemaVersionKey = []byte("schema_version")
	formatMarker     = []byte("processfork.store")
)

// ErrUnknownFormat is returned by Version for a file whose meta bucket does
// not carry the pf marker.
var ErrUnknownFormat = errors.New("meta/format is not a pf store marker")

// Version reads the schema version of the store in tx. A file with no
// buckets at all is version 0: a new file, which the steps initialise.
func Version(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if empty {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: no meta bucket", ErrUnknownFormat)
	}
	if string(meta.Get(formatKey)) != string(formatMarker) {
		return 0, fmt.Errorf("%w: %q", ErrUnknownFormat, meta.Get(formatKey))
	}
	v := meta.Get(schemaVersionKey)
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: schema_version is %d bytes", ErrUnknownFormat, len(v))
	}
	return int(binary.BigEndian.Uint64(v)), nil
}

// Upgrade applies, inside tx, every step after the store's version. The
// caller commits tx, so an upgrade is all or nothing.
func Upgrade(tx *bolt.Tx) (from, to int, err error) {
	from, err = Version(tx)
	if err != nil {
		return 0, 0, err
	}
	if from > Latest() {
		return from, from, fmt.Errorf("schema version %d is newer than %d", from, Latest())
	}
	for _, s := range Steps[from:] {
		if err := s.Apply(tx); err != nil {
			return from, 0, fmt.Errorf("migration %d (%s): %w", s.Version, s.Name, err)
		}
		if err := setVersion(tx, s.Version); err != nil {
			return from, 0, err
		}
	}
	return from, Latest(), nil
}

func setVersion(tx *bolt.Tx, v int) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(v))
	return tx.Bucket(metaBucket).Put(schemaVersionKey, buf[:])
}

func initialLayout(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return err
	}
	if err := meta.Put(formatKey, formatMarker); err != nil {
		return err
	}
	for _, name := range []string{"stats", "blobs", "chunks", "provisional", "manifests"} {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	index, err := tx.CreateBucketIfNotExists([]byte("index"))
	if err != nil {
		return err
	}
	for _, name := range []string{"time", "parent"} {
		if _, err := index.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	return nil
}

func addTags(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists([]byte("tags"))
	return err
}

// addStatCache adds the bucket where package worktree remembers, per
// captured directory, the stat data and digest of each file it hashed, so
// that a snapshot of a workspace where few files changed reads only those.
// It is a cache: an older pf ignores it, and deleting its entries only
// costs the next snapshot a full read.
func addStatCache(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists([]byte("statcache"))
	return err
}

// addPacks adds the buckets where package cas packs small values together,
// many to one bbolt value, and counts what is still live in each pack.
// Values already stored stay where they are: a store reads both ways.
func addPacks(tx *bolt.Tx) error {
	for _, name := range []string{"packs", "packlive"} {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	return nil
}

// earlyPacks changes no bytes. Since schema 5 a snapshot's early write
// leaves its packs without references or a packlive/ entry until it
// commits, marked in provisional/; a pf of schema 4 would take such a pack
// for damage and never reclaim it, so it must refuse the file. Packs that
// such a pf wrote early, with their references, are reclaimed as before
// on the next read-write open.
func earlyPacks(*bolt.Tx) error { return nil }

// addHeads adds the bucket where the root package keeps the head of each
// workspace and session: the newest image of a directory, which the next
// snapshot of it takes as its parent. Before it, pf kept that id in a file
// .pfcid inside the workspace, which a user's tools then saw; a pf of
// schema 5 would not keep heads as roots of prune, so it must refuse the
// file.
func addHeads(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists([]byte("heads"))
	return err
}

// addShallow adds the bucket that lists the images received without their
// parents (a pull of one image from a registry): for those, a parent that
// is not in the store is expected, not damage. An older pf would report
// such an image's parents missing, so it must refuse the file.
func addShallow(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists([]byte("shallow"))
	return err
}

// manifestDict changes no bytes. Since schema 8 manifest values are zstd
// frames compressed against a dictionary that package cas holds (named in
// each frame's header); a pf of schema 7 could not decode them and would
// report every image as damaged, so it must refuse the file. Manifests
// written before stay as they are and read as before.
func manifestDict(*bolt.Tx) error { return nil }

// addPins adds the bucket of pinned blobs: blobs a user stored by hand
// (pf put --pin, pf pin) and wants kept though no image reaches them.
// Garbage collection keeps them as it keeps what images reach. An older pf
// would collect them, so it must refuse the file.
func addPins(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists([]byte("pins"))
	return err
}

// sealedStatCaches changes no bytes. Since schema 10 the stats counter
// "deleted" counts every value deleted from blobs/ and chunks/, and a
// directory's stat cache may hold a seal (the key of its prefix alone)
// that says every record named a stored blob while "deleted" had the
// value sealed: a Load that finds it so trusts the records without
// looking their blobs up. A pf of schema 9 would delete blobs without
// counting them, so that a later Load would trust a record whose blob
// is gone; it must refuse the file. A missing counter reads as zero, and
// no cache has a seal yet.
func sealedStatCaches(*bolt.Tx) error { return nil }

// SummarizeManifest returns the index/time value (a summary: agent and
// parents) of image id, whose manifests/ value is v. Package index sets
// it: reading a manifest takes package cas, which depends on this one.
var SummarizeManifest func(id [32]byte, v []byte) ([]byte, error)

// timeSummaries sets the value of every index/time key, empty before, to
// its image's summary, so that a listing is a range scan of index/time
// that reads no manifest (package index holds the value's layout). A
// manifest that does not read keeps its empty value, which reads as "no
// summary: read the manifest", so that a damaged image is reported by
// pf verify rather than making the store unopenable. An older pf reads
// the store as before and would file its images with empty values.
func timeSummaries(tx *bolt.Tx) error {
	index := tx.Bucket([]byte("index"))
	manifests := tx.Bucket([]byte("manifests"))
	if index == nil || manifests == nil || index.Bucket([]byte("time")) == nil {
		return errors.New("no index/time or manifests bucket")
	}
	byTime := index.Bucket([]byte("time"))
	byTime.FillPercent = 0.9 // every page is rewritten in key order
	const keyLen = 12 + 32
	var keys, values [][]byte
	err := byTime.ForEach(func(k, v []byte) error {
		if len(k) != keyLen || len(v) > 0 {
			return nil
		}
		m := manifests.Get(k[12:])
		if m == nil {
			return nil
		}
		if SummarizeManifest == nil {
			return errors.New("no manifest reader is linked in")
		}
		s, err := SummarizeManifest([32]byte(k[12:]), m)
		if err != nil {
			return nil
		}
		keys, values = append(keys, k), append(values, s)
		return nil
	})
	if err != nil {
		return err
	}
	// Put after the walk: bbolt forbids changing a bucket while ForEach
	// walks it. The keys lie in the transaction's memory, unchanged until
	// the first Put, so each is copied first.
	for i := range keys {
		keys[i] = append([]byte(nil), keys[i]...)
	}
	for i, k := range keys {
		if err := byTime.Put(k, values[i]); err != nil {
			return err
		}
	}
	return nil
}

// addDicts adds the bucket of the store's zstd dictionaries, which pf
// compact trains on the store's own values and then compresses small
// values against (package cas). Such a value is a zstd frame naming its
// dictionary; a pf of schema 11 could not decode it and would report
// the blobs as damaged, so it must refuse the file.
func addDicts(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists([]byte("dicts"))
	return err
}

// statCacheBuckets moves each captured directory's stat cache into a
// bucket of its own, named by the directory's 16-byte root id, whose keys
// are the relative paths alone: the root id that began every record's key
// (1.6 MB of 16-byte prefixes on a workspace of 100,000 files) is said
// once. The directory's seal, which was the value of the root id alone,
// is the value of statCacheSealKey in that bucket. Records and seals
// keep their bytes, so a seal still matches its records and the next
// capture hashes nothing again. A read-only open before the step finds
// no directory's bucket, an empty cache: pf status then hashes the files
// once, as on a first capture, and is right.
func statCacheBuckets(tx *bolt.Tx) error {
	const rootIDSize = 16
	name := []byte("statcache")
	old := tx.Bucket(name)
	if old == nil {
		return fmt.Errorf("statcache bucket missing")
	}
	moved, err := tx.CreateBucket([]byte("statcache.step13"))
	if err != nil {
		return err
	}
	var dir *bolt.Bucket
	var root []byte
	err = old.ForEach(func(k, v []byte) error {
		if len(k) < rootIDSize || v == nil {
			return nil // not a record of this layout: a cache drops it
		}
		if dir == nil || string(k[:rootIDSize]) != string(root) {
			root = bytes.Clone(k[:rootIDSize])
			var err error
			if dir, err = moved.CreateBucketIfNotExists(root); err != nil {
				return err
			}
			dir.FillPercent = 1.0 // the records come in key order
		}
		if len(k) == rootIDSize {
			return dir.Put(statCacheSealKey, v)
		}
		return dir.Put(k[rootIDSize:], v)
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(name); err != nil {
		return err
	}
	// Copied again, not moved: bbolt's MoveBucket moves a bucket as it
	// was at the transaction's start, without what this one put in it.
	cache, err := tx.CreateBucket(name)
	if err != nil {
		return err
	}
	err = moved.ForEachBucket(func(root []byte) error {
		dir, err := cache.CreateBucket(root)
		if err != nil {
			return err
		}
		dir.FillPercent = 1.0
		return moved.Bucket(root).ForEach(dir.Put)
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket([]byte("statcache.step13"))
}

// statCacheSealKey is the key of a directory's seal in its stat cache
// bucket: no relative path is a NUL byte.
var statCacheSealKey = []byte{0}

// statCacheGroups keeps each captured directory's records as one value
// per subdirectory, under the key "/" + the subdirectory's path and a
// slash ("/" for the directory's own files), whose value is format byte
// 1, then per file, in byte order of the names: the name and the record,
// each a uvarint length and the bytes. A first capture of 100,000 small
// files put 100,000 keys, a tenth of its time after the walk; now it puts
// one per directory. Records and seals keep their bytes (a seal adds up
// its records by path and record), so a seal still matches its records
// and the next capture hashes nothing again. A read-only open before the
// step reads the records keyed by path as before: their keys never begin
// with a slash.
func statCacheGroups(tx *bolt.Tx) error {
	cache := tx.Bucket([]byte("statcache"))
	if cache == nil {
		return fmt.Errorf("statcache bucket missing")
	}
	var roots [][]byte
	err := cache.ForEachBucket(func(root []byte) error {
		roots = append(roots, bytes.Clone(root))
		return nil
	})
	if err != nil {
		return err
	}
	for _, root := range roots {
		if err := groupStatCache(cache, root); err != nil {
			return err
		}
	}
	return nil
}

// groupStatCache makes one directory's bucket of records by path a bucket
// of records by subdirectory (statCacheGroups).
func groupStatCache(cache *bolt.Bucket, root []byte) error {
	var seal []byte
	groups := map[string][]byte{}
	err := cache.Bucket(root).ForEach(func(k, v []byte) error {
		switch {
		case v == nil:
			return nil // not a record of this layout: a cache drops it
		case bytes.Equal(k, statCacheSealKey):
			seal = bytes.Clone(v)
			return nil
		}
		slash := bytes.LastIndexByte(k, '/')
		key := "/" + string(k[:slash+1])
		g := groups[key]
		if g == nil {
			g = []byte{1}
		}
		// The keys come in byte order, so each subdirectory's names do.
		g = binary.AppendUvarint(g, uint64(len(k)-slash-1))
		g = append(g, k[slash+1:]...)
		g = binary.AppendUvarint(g, uint64(len(v)))
		groups[key] = append(g, v...)
		return nil
	})
	if err != nil {
		return err
	}
	if err := cache.DeleteBucket(root); err != nil {
		return err
	}
	dir, err := cache.CreateBucket(root)
	if err != nil {
		return err
	}
	dir.FillPercent = 1.0 // the keys go in in order
	if seal != nil {
		if err := dir.Put(statCacheSealKey, seal); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := dir.Put([]byte(k), groups[k]); err != nil {
			return err
		}
	}
	return nil
}
