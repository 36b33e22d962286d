package cas

import (
	"bytes"

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

func deleteValue(b *bolt.Bucket, d manifest.Digest) error {
	if ref := b.Get(d[:]); ref != nil {
		return unpackDelete(b, d, ref)
	}
	return b.DeleteBucket(d[:])
}
