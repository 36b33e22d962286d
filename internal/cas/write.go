package cas

import (
	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// writeValues puts staged values that are not stored yet and returns
// them. For a lease's early write (early), each is marked provisional
// (its ref's key), and packs are written as early packs, which it also
// returns: their references wait for the lease's commit (commitEarly).
func (bk *buckets) writeValues(batch spillBatch, early bool) (stored []valueRef, packs []earlyPack, err error) {
	var t tally
	for _, sv := range batch.values {
		b := bk.of(sv.ref)
		if hasValue(b, sv.ref.digest) {
			continue
		}
		if err := putValue(b, sv.ref.digest, sv.value); err != nil {
			return nil, nil, err
		}
		if early {
			if err := bk.provisional.Put(sv.ref.key(), nil); err != nil {
				return nil, nil, err
			}
		}
		if err := t.add(sv.ref, sv.value, +1); err != nil {
			return nil, nil, err
		}
		stored = append(stored, sv.ref)
	}
	for _, p := range batch.packs {
		if early {
			ep, err := bk.writeEarlyPack(p)
			if err != nil {
				return nil, nil, err
			}
			packs = append(packs, ep)
			continue
		}
		_, kept, err := bk.writePack(p, func(b *bolt.Bucket, m packMember) bool { return !hasValue(b, m.ref.digest) })
		if err != nil {
			return nil, nil, err
		}
		for _, m := range kept {
			if err := t.add(m.ref, p.data[m.offset:m.offset+m.length], +1); err != nil {
				return nil, nil, err
			}
			stored = append(stored, m.ref)
		}
	}
	return stored, packs, t.flush(bk.tx)
}

// tally sums what a transaction adds to (sign +1) or deletes from (-1)
// the stats counters, so it writes each counter once.
type tally struct{ blobs, chunks, logical, stored, deleted int64 }

func (t *tally) add(ref valueRef, v []byte, sign int64) error {
	if ref.chunk {
		t.count(ref, int64(len(v)), 0, sign)
		return nil
	}
	h, err := parseValue(ref.digest, v)
	if err != nil {
		return err
	}
	t.count(ref, int64(len(v)), h.size, sign)
	return nil
}

// count adds one value of stored bytes; logical counts for a blob only.
func (t *tally) count(ref valueRef, stored, logical, sign int64) {
	t.stored += sign * stored
	if sign < 0 {
		t.deleted++
	}
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
		db.CounterDeleted: t.deleted,
	} {
		if err := db.AddCounter(tx, name, delta); err != nil {
			return err
		}
	}
	return nil
}

// delete removes ref's value, keeping the counters right; a provisional
// mark for it goes too. A value that is not stored is no error.
func (bk *buckets) delete(ref valueRef) error {
	v, err := getValue(bk.of(ref), ref.digest)
	if v == nil || err != nil {
		return err
	}
	var t tally
	if err := t.add(ref, v, -1); err != nil {
		return err
	}
	if err := bk.deleteValue(ref); err != nil {
		return err
	}
	if err := bk.provisional.Delete(ref.key()); err != nil {
		return err
	}
	return t.flush(bk.tx)
}
