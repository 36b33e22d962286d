package cas

import (
	"encoding/binary"
	"fmt"

	"github.com/processfork/pf/manifest"
)

// checkPacks checks the packs against what refers to them: every
// packed reference lies inside a pack that exists; each pack's packlive
// entry counts exactly the values and bytes that refer to it and gives
// its length; no pack is without an entry but an early pack (a lease's,
// not committed yet), nor an entry without its pack. Each finding goes to
// problem, with the thing it is about.
func (bk *buckets) checkPacks(problem func(subject, msg string)) error {
	type count struct{ values, bytes int64 }
	refs := map[uint64]*count{}
	for _, chunk := range []bool{false, true} {
		b, kind := bk.of(valueRef{chunk: chunk}), "blob "
		if chunk {
			kind = "chunk "
		}
		err := b.ForEach(func(k, v []byte) error {
			if v == nil || len(k) != len(manifest.Digest{}) {
				return nil // a value in a bucket of its own, or a bad key values() reports
			}
			d := manifest.Digest(k)
			r, err := parsePackedRef(d, v)
			if err != nil {
				problem(kind+d.String(), err.Error())
				return nil
			}
			data, err := packData(bk.tx, r.pack)
			if err == nil {
				_, err = r.in(d, data)
			}
			if err != nil {
				problem(kind+d.String(), err.Error())
			}
			c := refs[r.pack]
			if c == nil {
				c = &count{}
				refs[r.pack] = c
			}
			c.values++
			c.bytes += int64(r.length)
			return nil
		})
		if err != nil {
			return err
		}
	}
	err := bk.packLive.ForEach(func(k, v []byte) error {
		subject := fmt.Sprintf("pack %x", k)
		if len(k) != 8 {
			problem("packlive", fmt.Sprintf("key of %d bytes", len(k)))
			return nil
		}
		id := binary.BigEndian.Uint64(k)
		l, err := parsePackLive(id, v)
		if err != nil {
			problem(subject, err.Error())
			return nil
		}
		c := refs[id]
		if c == nil {
			c = &count{}
		}
		delete(refs, id)
		if c.values != l.values || c.bytes != l.bytes {
			problem(subject, fmt.Sprintf("packlive/ counts %d values of %d bytes, %d values of %d bytes refer to it",
				l.values, l.bytes, c.values, c.bytes))
		}
		pb := bk.packs.Bucket(k)
		switch {
		case pb == nil:
			problem(subject, "counted in packlive/ but missing from packs/")
		case int64(len(pb.Get(packDataKey))) != l.size:
			problem(subject, fmt.Sprintf("holds %d bytes, packlive/ says %d", len(pb.Get(packDataKey)), l.size))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, c := range refs {
		problem(fmt.Sprintf("pack %016x", id), fmt.Sprintf("%d values refer to it, packlive/ has no entry", c.values))
	}
	return bk.packs.ForEachBucket(func(k []byte) error {
		if bk.packLive.Get(k) == nil && !bk.isEarlyPack(k) {
			problem(fmt.Sprintf("pack %x", k), "in packs/ without a packlive/ entry")
		}
		return nil
	})
}
