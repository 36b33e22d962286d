package cas

import (
	"bytes"

	"github.com/processfork/pf/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// writeValues puts staged values that are not stored yet, each marked
// provisional when the lease that staged them has not committed.
func writeValues(tx *bolt.Tx, batch []stagedValue, provisional bool) error {
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return err
	}
	var t tally
	for _, sv := range batch {
		b, err := db.Bucket(tx, sv.bucket)
		if err != nil {
			return err
		}
		if hasValue(b, sv.digest) {
			continue
		}
		if err := putValue(b, sv.digest, sv.value); err != nil {
			return err
		}
		if provisional {
			if err := prov.Put(refIn(sv.bucket, sv.digest).key(), nil); err != nil {
				return err
			}
		}
		if err := t.add(sv.bucket, sv.digest, sv.value, +1); err != nil {
			return err
		}
	}
	return t.flush(tx)
}

// tally sums what a transaction adds to (sign +1) or deletes from (-1)
// the stats counters, so it writes each counter once.
type tally struct{ blobs, chunks, logical, stored int64 }

func (t *tally) add(bucket []byte, d manifest.Digest, v []byte, sign int64) error {
	t.stored += sign * int64(len(v))
	if bytes.Equal(bucket, db.BucketChunks) {
		t.chunks += sign
		return nil
	}
	h, err := parseValue(d, v)
	if err != nil {
		return err
	}
	t.blobs += sign
	t.logical += sign * h.size
	return nil
}

func (t *tally) flush(tx *bolt.Tx) error {
	for name, delta := range map[string]int64{
		db.CounterBlobs: t.blobs, db.CounterChunks: t.chunks,
		db.CounterLogical: t.logical, db.CounterStored: t.stored,
	} {
		if err := db.AddCounter(tx, name, delta); err != nil {
			return err
		}
	}
	return nil
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
		if err := prov.Delete(refIn(bucket, d).key()); err != nil {
			return err
		}
	}
	return t.flush(tx)
}
