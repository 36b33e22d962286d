// Package index keeps the buckets that order images: by creation time and
// by parent. They are written in the same transaction as each manifest, so
// history queries are range scans over them, never a scan of every image.
package index

import (
	"encoding/binary"
	"time"

	"github.com/processfork/pf/db"
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

func parseTimeKey(k []byte) (time.Time, manifest.Digest, bool) {
	if len(k) != timeKeyLen {
		return time.Time{}, manifest.Digest{}, false
	}
	sec := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	nsec := int64(binary.BigEndian.Uint32(k[8:]))
	return time.Unix(sec, nsec).UTC(), manifest.Digest(k[timeLen:]), true
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

// Add files image id, created at created with the given parents.
func Add(tx *bolt.Tx, id manifest.Digest, created time.Time, parents []manifest.Digest) error {
	byTime, byParent, err := buckets(tx)
	if err != nil {
		return err
	}
	if err := byTime.Put(TimeKey(created, id), nil); err != nil {
		return err
	}
	if len(parents) == 0 {
		return byParent.Put(edgeKey(rootParent, id), nil)
	}
	for _, p := range parents {
		if err := byParent.Put(edgeKey(p, id), nil); err != nil {
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
	if err := byTime.Delete(TimeKey(created, id)); err != nil {
		return err
	}
	if len(parents) == 0 {
		parents = []manifest.Digest{rootParent}
	}
	for _, p := range parents {
		if err := byParent.Delete(edgeKey(p, id)); err != nil {
			return err
		}
	}
	return nil
}
