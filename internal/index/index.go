// Package index keeps the records of images: manifests/, which holds each
// image's manifest, and the buckets that order images by creation time
// and by parent, written in the same transaction as each manifest, so
// that history queries are range scans over them, never a scan of every
// image (index/time's values hold each image's Summary, so a listing reads
// no manifest: summary.go); and shallow/, the images that lack parents. Put, Get and Remove
// (image.go) are the one place that writes, reads and removes an image's
// record: commit, prune and the bulk loader of the benchmarks all go
// through them.
package index

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

const (
	timeLen    = 12 // Unix seconds (sign bit flipped) + nanoseconds, big-endian
	timeKeyLen = timeLen + 32
	edgeKeyLen = 64
)

// rootParent is the parent under which images with no parents are filed,
// so roots are one prefix scan of the parent index.
var rootParent manifest.Digest

// TimeKey is an image's key in index/time: it sorts by creation time for
// any time a manifest can carry, and the id breaks ties, so no two images
// share a key.
func TimeKey(created time.Time, id manifest.Digest) []byte {
	k := make([]byte, timeKeyLen)
	putTime(k, created)
	copy(k[timeLen:], id[:])
	return k
}

func putTime(k []byte, t time.Time) {
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
}

// ParseTimeKey splits a key of index/time into the creation time and the
// image id; ok is false for a key of the wrong length.
func ParseTimeKey(k []byte) (created time.Time, id manifest.Digest, ok bool) {
	if len(k) != timeKeyLen {
		return time.Time{}, manifest.Digest{}, false
	}
	sec := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	nsec := int64(binary.BigEndian.Uint32(k[8:]))
	return time.Unix(sec, nsec).UTC(), manifest.Digest(k[timeLen:]), true
}

// corruptKey reports a key of the wrong shape in an index bucket.
func corruptKey(bucket string, k []byte) error {
	return fmt.Errorf("index/%s: key of %d bytes (%x): %w", bucket, len(k), k, db.ErrCorrupt)
}

func edgeKey(parent, child manifest.Digest) []byte {
	k := make([]byte, edgeKeyLen)
	copy(k, parent[:])
	copy(k[32:], child[:])
	return k
}

func buckets(tx *bolt.Tx) (byTime, byParent *bolt.Bucket, err error) {
	if byTime, err = db.Bucket(tx, db.BucketIndex, db.BucketTime); err != nil {
		return nil, nil, err
	}
	byParent, err = db.Bucket(tx, db.BucketIndex, db.BucketParent)
	return byTime, byParent, err
}

// keys returns the keys Put files image id under: its key in index/time
// and one key in index/parent per parent (under the all-zero parent for a
// root).
func keys(id manifest.Digest, created time.Time, parents []manifest.Digest) (timeKey []byte, parentKeys [][]byte) {
	if len(parents) == 0 {
		parents = []manifest.Digest{rootParent}
	}
	parentKeys = make([][]byte, len(parents))
	for i, p := range parents {
		parentKeys[i] = edgeKey(p, id)
	}
	return TimeKey(created, id), parentKeys
}
