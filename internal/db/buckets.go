package db

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Names of the buckets and keys drawn in the package doc.
var (
	BucketMeta        = []byte("meta")
	BucketStats       = []byte("stats")
	BucketBlobs       = []byte("blobs")
	BucketChunks      = []byte("chunks")
	BucketProvisional = []byte("provisional")
	BucketManifests   = []byte("manifests")
	BucketIndex       = []byte("index")
	BucketTime        = []byte("time")
	BucketParent      = []byte("parent")
	BucketTags        = []byte("tags")
	BucketStatCache   = []byte("statcache")
	BucketPacks       = []byte("packs")
	BucketPackLive    = []byte("packlive")
	BucketHeads       = []byte("heads")
	BucketShallow     = []byte("shallow")
	BucketPins        = []byte("pins")
	BucketDicts       = []byte("dicts")

	KeyFormat        = []byte("format")
	KeySchemaVersion = []byte("schema_version")
)

// FormatMarker is the meta/format value that tells a pf store from any other
// bbolt file.
const FormatMarker = "processfork.store"

// Bucket returns the top-level bucket name, or the nested bucket under
// index/ when path has two names. A missing bucket means the file's
// structure is damaged: the migrations create every bucket.
func Bucket(tx *bolt.Tx, path ...[]byte) (*bolt.Bucket, error) {
	b := tx.Bucket(path[0])
	for _, name := range path[1:] {
		if b == nil {
			break
		}
		b = b.Bucket(name)
	}
	if b == nil {
		return nil, fmt.Errorf("bucket %q missing: %w", path, ErrCorrupt)
	}
	return b, nil
}

// FillPercent is how full bbolt fills the stat cache's pages when a commit
// splits them: the root package sets it on each captured directory's
// bucket, which holds that directory's records. bbolt's default, half, leaves room for inserts between
// keys; the stat cache gets its entries a directory at a time, in key
// order, mostly in one commit: at half, that of an 11,500-file tree took
// 3.6 MB of pages for 1.7 MB of entries. Buckets keyed by digest keep
// the default: their keys come in random order over many small commits,
// and a full page that one more key splits leaves two pages, one nearly
// empty (a history store of 10,000 images took 15 MiB at 1.0, 9.8 MiB at
// the default).
const FillPercent = 1.0

// Counter names in the stats bucket.
const (
	CounterBlobs        = "blobs"         // entries in blobs/
	CounterChunks       = "chunks"        // entries in chunks/
	CounterLogical      = "logical"       // uncompressed bytes of blobs/ entries
	CounterStored       = "stored"        // value bytes of blobs/ and chunks/
	CounterImages       = "images"        // entries in manifests/
	CounterImageLogical = "image_logical" // sum over images of the bytes each reaches
	// CounterDeleted counts the values ever deleted from blobs/ and
	// chunks/: what a cache of "these blobs are stored" compares, since
	// nothing that was stored can have gone while it stays the same.
	CounterDeleted = "deleted"
)

// AddCounter adds delta to a stats counter inside tx.
func AddCounter(tx *bolt.Tx, name string, delta int64) error {
	if delta == 0 {
		return nil
	}
	b, err := Bucket(tx, BucketStats)
	if err != nil {
		return err
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(Counter(tx, name)+delta))
	return b.Put([]byte(name), buf[:])
}

// Counter reads a stats counter; a missing counter is zero.
func Counter(tx *bolt.Tx, name string) int64 {
	b := tx.Bucket(BucketStats)
	if b == nil {
		return 0
	}
	v := b.Get([]byte(name))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}
