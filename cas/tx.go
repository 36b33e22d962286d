package cas

import (
	"bytes"

	"github.com/processfork/pf/db"
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
		v := getValue(chunks, r.digest)
		if v == nil {
			return nil, corrupt(d, "chunk %d (%s) is missing", i, r.digest)
		}
		ch, err := parseValue(r.digest, v)
		if err != nil {
			return nil, err
		}
		if ch.format == formatChunks || ch.size != r.size {
			return nil, corrupt(d, "chunk %d (%s) is not the %d-byte value the list names", i, r.digest, r.size)
		}
		ch.payload = bytes.Clone(ch.payload)
		b, err := decodeValue(r.digest, ch)
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
	return int64(len(getValue(b, d))), nil
}

// DeleteValueIn removes d from one bucket, blobs/ or chunks/, keeping the
// counters right; a provisional mark for it goes too.
func DeleteValueIn(tx *bolt.Tx, bucket []byte, d manifest.Digest) error {
	b, err := db.Bucket(tx, bucket)
	if err != nil {
		return err
	}
	v := getValue(b, d)
	if v == nil {
		return nil
	}
	var t tally
	if err := t.add(bucket, d, v, -1); err != nil {
		return err
	}
	if err := deleteValue(b, d); err != nil {
		return err
	}
	if prov := tx.Bucket(db.BucketProvisional); prov != nil {
		if err := prov.Delete(d[:]); err != nil {
			return err
		}
	}
	return t.flush(tx)
}
