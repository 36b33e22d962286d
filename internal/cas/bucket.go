package cas

import (
	"bytes"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A value too large to pack (pack.go) sits alone in a bucket of its own,
// under valueKey. bbolt rewrites a leaf whole whenever one of its keys
// changes, and a leaf of large values holds up to four of them: stored side
// by side under random digests, every insert would copy its neighbours
// again (we measured several times the bytes written on a chunked ingest).
// A bucket per value keeps the value's pages untouched after they are first
// written; only the small bucket headers share leaves.
var valueKey = []byte{0}

// getValue returns d's value in b (blobs/ or chunks/), from its pack or
// its own bucket; nil if b has no d.
func getValue(b *bolt.Bucket, d manifest.Digest) ([]byte, error) {
	if ref := b.Get(d[:]); ref != nil {
		return unpack(b.Tx(), d, ref)
	}
	vb := b.Bucket(d[:])
	if vb == nil {
		return nil, nil
	}
	return vb.Get(valueKey), nil
}

// hasValue seeks instead of opening the value's bucket: an existence check
// then allocates nothing, and finds packed and unpacked values alike.
func hasValue(b *bolt.Bucket, d manifest.Digest) bool {
	k, _ := b.Cursor().Seek(d[:])
	return bytes.Equal(k, d[:])
}

func putValue(b *bolt.Bucket, d manifest.Digest, v []byte) error {
	vb, err := b.CreateBucket(d[:])
	if err != nil {
		return err
	}
	return vb.Put(valueKey, v)
}

// deleteValue removes ref's value from its pack or its own bucket.
func (bk *buckets) deleteValue(ref valueRef) error {
	b := bk.of(ref)
	if packed := b.Get(ref.digest[:]); packed != nil {
		return bk.unpackDelete(ref, packed)
	}
	return b.DeleteBucket(ref.digest[:])
}

// buckets are the buckets cas keeps its values in, looked up once for a
// transaction that writes or scans them. A read of one value looks up
// only what it needs instead: bbolt does not remember the buckets a read
// transaction opened, and each look-up is a seek.
type buckets struct {
	tx          *bolt.Tx
	blobs       *bolt.Bucket
	chunks      *bolt.Bucket
	provisional *bolt.Bucket
	packs       *bolt.Bucket
	packLive    *bolt.Bucket
}

// openBuckets looks up cas's buckets in tx. A missing one means the
// file's structure is damaged: the migrations create every bucket.
func openBuckets(tx *bolt.Tx) (*buckets, error) {
	bk := &buckets{tx: tx}
	for _, b := range []struct {
		dst  **bolt.Bucket
		name []byte
	}{
		{&bk.blobs, db.BucketBlobs},
		{&bk.chunks, db.BucketChunks},
		{&bk.provisional, db.BucketProvisional},
		{&bk.packs, db.BucketPacks},
		{&bk.packLive, db.BucketPackLive},
	} {
		var err error
		if *b.dst, err = db.Bucket(tx, b.name); err != nil {
			return nil, err
		}
	}
	return bk, nil
}

// of returns the bucket ref's value lies in: blobs/ or chunks/.
func (bk *buckets) of(ref valueRef) *bolt.Bucket {
	if ref.chunk {
		return bk.chunks
	}
	return bk.blobs
}
