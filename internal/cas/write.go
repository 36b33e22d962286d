package cas

import (
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A spillBatch is what a lease has staged and not yet written: packs of
// small values, and values too large to pack.
type spillBatch struct {
	packs  []*pack
	values []stagedValue
	bytes  int
}

// recycle returns the batch's pack buffers, once it is written or dropped.
func (sb *spillBatch) recycle() {
	for _, p := range sb.packs {
		p.recycle()
	}
	sb.packs = nil
}

// writeValues puts staged values that are not stored yet and returns
// them. For a lease's early write (early), each is marked provisional
// (its ref's key), and packs are written as early packs, which it also
// returns: their references wait for the lease's commit (commitEarly).
func writeValues(tx *bolt.Tx, batch spillBatch, early bool) (stored []valueRef, packs []earlyPack, err error) {
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return nil, nil, err
	}
	var t tally
	for _, sv := range batch.values {
		b, err := db.Bucket(tx, sv.bucket)
		if err != nil {
			return nil, nil, err
		}
		if hasValue(b, sv.digest) {
			continue
		}
		if err := putValue(b, sv.digest, sv.value); err != nil {
			return nil, nil, err
		}
		ref := refIn(sv.bucket, sv.digest)
		if early {
			if err := prov.Put(ref.key(), nil); err != nil {
				return nil, nil, err
			}
		}
		if err := t.add(sv.bucket, sv.digest, sv.value, +1); err != nil {
			return nil, nil, err
		}
		stored = append(stored, ref)
	}
	for _, p := range batch.packs {
		if early {
			ep, err := writeEarlyPack(tx, p)
			if err != nil {
				return nil, nil, err
			}
			packs = append(packs, ep)
			continue
		}
		_, kept, err := writePack(tx, p, func(b *bolt.Bucket, m packMember) bool { return !hasValue(b, m.ref.digest) })
		if err != nil {
			return nil, nil, err
		}
		for _, m := range kept {
			if err := t.add(m.ref.bucket(), m.ref.digest, p.data[m.offset:m.offset+m.length], +1); err != nil {
				return nil, nil, err
			}
			stored = append(stored, m.ref)
		}
	}
	return stored, packs, t.flush(tx)
}

// tally sums what a transaction adds to (sign +1) or deletes from (-1)
// the stats counters, so it writes each counter once.
type tally struct{ blobs, chunks, logical, stored int64 }

func (t *tally) add(bucket []byte, d manifest.Digest, v []byte, sign int64) error {
	ref := refIn(bucket, d)
	if ref.chunk {
		t.count(ref, int64(len(v)), 0, sign)
		return nil
	}
	h, err := parseValue(d, v)
	if err != nil {
		return err
	}
	t.count(ref, int64(len(v)), h.size, sign)
	return nil
}

// count adds one value of stored bytes; logical counts for a blob only.
func (t *tally) count(ref valueRef, stored, logical, sign int64) {
	t.stored += sign * stored
	if ref.chunk {
		t.chunks += sign
		return
	}
	t.blobs += sign
	t.logical += sign * logical
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
	v, err := getValue(b, d)
	if v == nil || err != nil {
		return err
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
