package castest

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Helpers that damage a bbolt store behind its back, as a bad disk or a
// buggy program would, for the tests of what notices. They follow the
// layout drawn in package db's doc, not package cas's code, so that a
// change of layout that the doc does not follow breaks them.

// Damage flips the last byte of d's value in bucket (blobs/ or chunks/),
// wherever the store keeps it: in a pack, or in a bucket of its own.
func Damage(tx *bolt.Tx, bucket []byte, d manifest.Digest) error {
	holder, key, at, err := locate(tx, bucket, d)
	if err != nil {
		return err
	}
	v := bytes.Clone(holder.Get(key))
	if at < 0 {
		at = len(v) - 1
	}
	if at < 0 || at >= len(v) {
		return fmt.Errorf("%s: value of %s is not where its reference says", bucket, d)
	}
	v[at] ^= 0xff
	return holder.Put(key, v)
}

// Remove deletes d's entry from bucket, leaving its bytes, the counters
// and the pack's counts as they were.
func Remove(tx *bolt.Tx, bucket []byte, d manifest.Digest) error {
	b := tx.Bucket(bucket)
	if b.Get(d[:]) != nil {
		return b.Delete(d[:])
	}
	return b.DeleteBucket(d[:])
}

// locate returns the bucket and key holding d's value and, for a packed
// value, the offset of its last byte in the pack (else -1).
func locate(tx *bolt.Tx, bucket []byte, d manifest.Digest) (*bolt.Bucket, []byte, int, error) {
	b := tx.Bucket(bucket)
	if inner := b.Bucket(d[:]); inner != nil {
		return inner, []byte{0}, -1, nil
	}
	ref := b.Get(d[:])
	if len(ref) == 0 || ref[0] != 0x03 {
		return nil, nil, 0, fmt.Errorf("%s: no value %s", bucket, d)
	}
	var fields [3]uint64
	rest := ref[1:]
	for i := range fields {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, nil, 0, fmt.Errorf("%s: bad reference for %s", bucket, d)
		}
		fields[i], rest = v, rest[n:]
	}
	pack := tx.Bucket(db.BucketPacks).Bucket(binary.BigEndian.AppendUint64(nil, fields[0]))
	if pack == nil {
		return nil, nil, 0, fmt.Errorf("%s: pack of %s missing", bucket, d)
	}
	return pack, []byte{0}, int(fields[1] + fields[2] - 1), nil
}
