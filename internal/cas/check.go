package cas

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// CheckOptions choose how far CheckTx looks.
type CheckOptions struct {
	// Deep also re-reads every value and re-hashes it.
	Deep bool
	// Problem is told each thing found wrong: what it is about ("blob
	// <digest>", "chunk <digest>", "pack <id>") and what is wrong.
	Problem func(subject, detail string)
	// Tick, when set, is called once for each value re-hashed; an error
	// it returns (a cancelled context) stops the check.
	Tick func() error
}

// Totals are what the values in blobs/ and chunks/ add up to, in the
// terms of the stats counters: the caller adds what it keeps itself
// (manifests) and compares.
type Totals struct {
	Blobs, Chunks int64
	Logical       int64 // logical bytes of the blobs
	Stored        int64 // bytes of the values
}

// CheckTx checks cas's own values as tx sees them: every key is a digest
// and every value's header parses; deep, every blob and chunk re-hashes to
// its digest, a chunk at a time; and the packs agree with what refers to
// them (checkPacks). It returns what the values add up to.
func CheckTx(tx *bolt.Tx, opts CheckOptions) (Totals, error) {
	var t Totals
	bk, err := openBuckets(tx)
	if err != nil {
		return t, err
	}
	for _, chunk := range []bool{false, true} {
		kind := "blob "
		if chunk {
			kind = "chunk "
		}
		b := bk.of(valueRef{chunk: chunk})
		err := b.ForEach(func(k, _ []byte) error {
			if len(k) != len(manifest.Digest{}) {
				opts.Problem(string(valueRef{chunk: chunk}.bucket()), fmt.Sprintf("key of %d bytes", len(k)))
				return nil
			}
			ref := valueRef{chunk: chunk, digest: manifest.Digest(k)}
			subject := kind + ref.digest.String()
			size, stored, err := bk.valueHeader(ref)
			if err != nil {
				opts.Problem(subject, err.Error())
				return nil
			}
			t.Stored += stored
			if chunk {
				t.Chunks++
			} else {
				t.Blobs++
				t.Logical += size
			}
			if !opts.Deep {
				return nil
			}
			if opts.Tick != nil {
				if err := opts.Tick(); err != nil {
					return err
				}
			}
			if chunk {
				err = verifyChunk(tx, ref.digest)
			} else {
				err = verifyBlob(tx, ref.digest)
			}
			if err != nil {
				opts.Problem(subject, err.Error())
			}
			return nil
		})
		if err != nil {
			return t, err
		}
	}
	return t, bk.checkPacks(opts.Problem)
}

// CheckStoredTx reports whether blob d is stored whole, without reading
// its content: its value, and each chunk its list names, present and of
// the size the list says. The error names the first thing missing or
// wrong, and wraps db.ErrNotFound for a missing blob.
func CheckStoredTx(tx *bolt.Tx, d manifest.Digest) error {
	refs, err := chunkRefsTx(tx, d)
	if err != nil || refs == nil {
		return err
	}
	chunks, err := db.Bucket(tx, db.BucketChunks)
	if err != nil {
		return err
	}
	for i, r := range refs {
		if _, err := chunkValue(chunks, d, i, r); err != nil {
			return err
		}
	}
	return nil
}

// verifyBlob re-reads blob d and checks it against its digest, a chunk at
// a time, so memory stays bounded whatever its size.
func verifyBlob(tx *bolt.Tx, d manifest.Digest) error {
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

// verifyChunk checks one chunk value against its digest.
func verifyChunk(tx *bolt.Tx, c manifest.Digest) error {
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

// valueHeader returns the logical size and stored bytes of ref's value.
func (bk *buckets) valueHeader(ref valueRef) (size, stored int64, err error) {
	v, err := getValue(bk.of(ref), ref.digest)
	if err != nil {
		return 0, 0, err
	}
	if v == nil {
		return 0, 0, fmt.Errorf("value %s in %s: %w", ref.digest, ref.bucket(), db.ErrNotFound)
	}
	h, err := parseValue(ref.digest, v)
	return h.size, int64(len(v)), err
}
