// Package index keeps the buckets that order images: by creation time and
// by parent. They are written in the same transaction as each manifest, so
// history queries are range scans over them, never a scan of every image.
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

// Keys returns the keys Add files image id under: its key in index/time
// and one key in index/parent per parent (under the all-zero parent for a
// root). Bulk loaders use it to write the keys in sorted order.
func Keys(id manifest.Digest, created time.Time, parents []manifest.Digest) (timeKey []byte, parentKeys [][]byte) {
	if len(parents) == 0 {
		parents = []manifest.Digest{rootParent}
	}
	parentKeys = make([][]byte, len(parents))
	for i, p := range parents {
		parentKeys[i] = edgeKey(p, id)
	}
	return TimeKey(created, id), parentKeys
}

// Add files image id, created at created with the given parents.
func Add(tx *bolt.Tx, id manifest.Digest, created time.Time, parents []manifest.Digest) error {
	byTime, byParent, err := buckets(tx)
	if err != nil {
		return err
	}
	timeKey, parentKeys := Keys(id, created, parents)
	if err := byTime.Put(timeKey, nil); err != nil {
		return err
	}
	for _, k := range parentKeys {
		if err := byParent.Put(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// Remove takes image id out of both indexes.
func Remove(tx *bolt.Tx, id manifest.Digest, created time.Time, parents []manifest.Digest) error {
	byTime, byParent, err := buckets(tx)
	if err != nil {
		return err
	}
	timeKey, parentKeys := Keys(id, created, parents)
	if err := byTime.Delete(timeKey); err != nil {
		return err
	}
	for _, k := range parentKeys {
		if err := byParent.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
