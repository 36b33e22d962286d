package cas

import (
	"bytes"

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
		if h.format == formatRaw {
			// The result is the value's own bytes, which are the
			// transaction's; a compressed value is decoded from them.
			h.payload = bytes.Clone(h.payload)
		}
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

// chunkRefsTx reads the chunk list of blob d, reading none of the
// chunks: nil for a blob stored as one value.
func chunkRefsTx(tx *bolt.Tx, d manifest.Digest) ([]chunkRef, error) {
	h, _, err := lookup(tx, d)
	if err != nil || h.format != formatChunks {
		return nil, err
	}
	return parseChunkList(d, h)
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

// ChunksOfTx returns the chunks blob d is stored as, in order: none for a
// blob stored whole. pf verify names the blobs (and so the images) that a
// bad chunk breaks with it.
func ChunksOfTx(tx *bolt.Tx, d manifest.Digest) ([]manifest.Digest, error) {
	refs, err := chunkRefsTx(tx, d)
	if err != nil || refs == nil {
		return nil, err
	}
	out := make([]manifest.Digest, len(refs))
	for i, r := range refs {
		out[i] = r.digest
	}
	return out, nil
}
