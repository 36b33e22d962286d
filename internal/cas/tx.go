package cas

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Functions for callers that work inside a store transaction of their own
// (committing an image, checking the store): they see exactly what that
// transaction sees.

// SizeTx returns the logical size of blob d, or an error wrapping
// db.ErrNotFound.
func SizeTx(tx *bolt.Tx, d manifest.Digest) (int64, error) {
	h, _, err := lookup(tx, d)
	return h.size, err
}

// ReadTx returns the verified bytes of blob d, whole.
func ReadTx(tx *bolt.Tx, d manifest.Digest) ([]byte, error) {
	h, _, err := lookup(tx, d)
	if err != nil {
		return nil, err
	}
	if h.format != formatChunks {
		h.payload = bytes.Clone(h.payload)
		return decodeValue(d, h)
	}
	refs, err := parseChunkList(d, h)
	if err != nil {
		return nil, err
	}
	chunks, err := db.Bucket(tx, db.BucketChunks)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, h.size)
	for i, r := range refs {
		b, err := readChunk(chunks, d, i, r)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	if manifest.Sum(out) != d {
		return nil, corrupt(d, "chunks hash to %s", manifest.Sum(out))
	}
	return out, nil
}

// ChunksTx lists the chunks of blob d; nil for a blob stored as one value.
func ChunksTx(tx *bolt.Tx, d manifest.Digest) ([]manifest.Digest, error) {
	h, _, err := lookup(tx, d)
	if err != nil || h.format != formatChunks {
		return nil, err
	}
	refs, err := parseChunkList(d, h)
	out := make([]manifest.Digest, len(refs))
	for i, r := range refs {
		out[i] = r.digest
	}
	return out, err
}

// StoredTx returns the stored size of d's value in bucket (blobs/ or
// chunks/), 0 if it is not there.
func StoredTx(tx *bolt.Tx, bucket []byte, d manifest.Digest) (int64, error) {
	b, err := db.Bucket(tx, bucket)
	if err != nil {
		return 0, err
	}
	v, err := getValue(b, d)
	return int64(len(v)), err
}

// VerifyTx re-reads blob d and checks it against its digest, a chunk at
// a time, so memory stays bounded whatever its size.
func VerifyTx(tx *bolt.Tx, d manifest.Digest) error {
	h, _, err := lookup(tx, d)
	if err != nil {
		return err
	}
	if h.format != formatChunks {
		h.payload = bytes.Clone(h.payload)
		_, err := decodeValue(d, h)
		return err
	}
	refs, err := parseChunkList(d, h)
	if err != nil {
		return err
	}
	chunks, err := db.Bucket(tx, db.BucketChunks)
	if err != nil {
		return err
	}
	whole := sha256.New()
	for i, r := range refs {
		b, err := readChunk(chunks, d, i, r)
		if err != nil {
			return err
		}
		whole.Write(b)
	}
	var got manifest.Digest
	whole.Sum(got[:0])
	if got != d {
		return corrupt(d, "chunks hash to %s", got)
	}
	return nil
}

// VerifyChunkTx checks one chunk value against its digest.
func VerifyChunkTx(tx *bolt.Tx, c manifest.Digest) error {
	chunks, err := db.Bucket(tx, db.BucketChunks)
	if err != nil {
		return err
	}
	v, err := getValue(chunks, c)
	if err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("chunk %s: %w", c, db.ErrNotFound)
	}
	h, err := parseValue(c, v)
	if err != nil {
		return err
	}
	if h.format == formatChunks {
		return corrupt(c, "a chunk that is itself a chunk list")
	}
	h.payload = bytes.Clone(h.payload)
	_, err = decodeValue(c, h)
	return err
}

// ValueHeaderTx returns the logical size and stored bytes of d's value in
// bucket, for recounting the stats counters.
func ValueHeaderTx(tx *bolt.Tx, bucket []byte, d manifest.Digest) (size, stored int64, err error) {
	b, err := db.Bucket(tx, bucket)
	if err != nil {
		return 0, 0, err
	}
	v, err := getValue(b, d)
	if err != nil {
		return 0, 0, err
	}
	if v == nil {
		return 0, 0, fmt.Errorf("value %s in %s: %w", d, bucket, db.ErrNotFound)
	}
	h, err := parseValue(d, v)
	return h.size, int64(len(v)), err
}

func readChunk(chunks *bolt.Bucket, d manifest.Digest, i int, r chunkRef) ([]byte, error) {
	h, _, err := copyChunk(chunks, d, i, r)
	if err != nil {
		return nil, err
	}
	return decodeValue(r.digest, h)
}

// copyChunk finds chunk i of blob d, checks it is the value the list
// names, and copies its payload out of the transaction; mapped is the
// payload as it lies in the store's map.
func copyChunk(chunks *bolt.Bucket, d manifest.Digest, i int, r chunkRef) (h header, mapped []byte, err error) {
	if h, err = chunkValue(chunks, d, i, r); err != nil {
		return header{}, nil, err
	}
	mapped = h.payload
	h.payload = bytes.Clone(mapped)
	return h, mapped, nil
}

// chunkValue finds chunk i of blob d and checks it is the value the list
// names; its payload lies in the transaction's memory.
func chunkValue(chunks *bolt.Bucket, d manifest.Digest, i int, r chunkRef) (h header, err error) {
	v, err := getValue(chunks, r.digest)
	if err != nil {
		return header{}, err
	}
	if v == nil {
		return header{}, corrupt(d, "chunk %d (%s) is missing", i, r.digest)
	}
	if h, err = parseValue(r.digest, v); err != nil {
		return header{}, err
	}
	if h.format == formatChunks || h.size != r.size {
		return header{}, corrupt(d, "chunk %d (%s) is not the %d-byte value the list names", i, r.digest, r.size)
	}
	return h, nil
}
