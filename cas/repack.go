package cas

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/processfork/pf/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// RepackReport says what RepackSparse did.
type RepackReport struct {
	Packs int   // packs rewritten
	Bytes int64 // bytes of deleted values they held, now free
}

// Bounds of one repacking transaction, so that writers wait at most for
// one batch.
const (
	repackBatchBytes = 4 * packTarget
	repackBatchPacks = 256
)

// RepackSparse rewrites the packs that deletes have left less than half
// live: their live values go into new packs, and the old ones are freed.
// A provisional pack is left to the lease that wrote it. It runs in
// transactions of bounded size; values only move, so readers and writers
// may go on meanwhile.
func (s *Bolt) RepackSparse(ctx context.Context) (RepackReport, error) {
	var rep RepackReport
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		var ids [][]byte
		done := true
		err := s.db.View(func(tx *bolt.Tx) error {
			live, err := db.Bucket(tx, db.BucketPackLive)
			if err != nil {
				return err
			}
			prov, err := db.Bucket(tx, db.BucketProvisional)
			if err != nil {
				return err
			}
			var batchBytes int64
			c := live.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil; k, v = c.Next() {
				if len(ids) == repackBatchPacks || batchBytes >= repackBatchBytes {
					done = false
					break
				}
				after = append(after[:0], k...)
				l, err := parsePackLive(0, v)
				if err != nil {
					return err
				}
				if !l.sparse() || prov.Get(append([]byte{'p'}, k...)) != nil {
					continue
				}
				ids = append(ids, bytes.Clone(k))
				batchBytes += l.bytes
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		if len(ids) > 0 {
			var used []*pack
			var batch RepackReport
			err = s.db.Update(ctx, func(tx *bolt.Tx) error {
				batch = RepackReport{}
				used = used[:0]
				return repack(tx, ids, &batch, &used)
			})
			for _, p := range used {
				p.recycle()
			}
			if err != nil {
				return rep, err
			}
			rep.Packs += batch.Packs
			rep.Bytes += batch.Bytes
		}
		if done {
			return rep, nil
		}
	}
}

// repack moves the live values of the packs ids into new packs and
// deletes the old ones, checking again that each is still sparse and
// settled. The new packs' buffers are added to *used: bbolt reads them
// until the commit.
func repack(tx *bolt.Tx, ids [][]byte, rep *RepackReport, used *[]*pack) error {
	live, err := db.Bucket(tx, db.BucketPackLive)
	if err != nil {
		return err
	}
	packs, err := db.Bucket(tx, db.BucketPacks)
	if err != nil {
		return err
	}
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return err
	}
	var p *pack
	flush := func() error {
		if p == nil {
			return nil
		}
		_, _, err := writePack(tx, p, keepAll)
		p = nil
		return err
	}
	for _, key := range ids {
		v := live.Get(key)
		if v == nil || prov.Get(append([]byte{'p'}, key...)) != nil {
			continue
		}
		l, err := parsePackLive(0, v)
		if err != nil || !l.sparse() {
			return err
		}
		pb := packs.Bucket(key)
		if pb == nil {
			return corruptPack(key, "counted in packlive/ but missing")
		}
		data, members := pb.Get(packDataKey), pb.Get(packMembersKey)
		for ; len(members) >= 33; members = members[33:] {
			ref, ok := parseValueRefKey(members[:33])
			if !ok {
				return corruptPack(key, "bad members list")
			}
			b, err := db.Bucket(tx, ref.bucket())
			if err != nil {
				return err
			}
			cur := b.Get(ref.digest[:])
			if cur == nil {
				continue
			}
			r, err := parsePackedRef(ref.digest, cur)
			if err != nil {
				return err
			}
			if !bytes.Equal(packKey(r.pack), key) {
				continue
			}
			if r.offset+r.length > len(data) {
				return corrupt(ref.digest, "packed at %d+%d in a pack of %d bytes", r.offset, r.length, len(data))
			}
			if p == nil {
				p = newPack()
				*used = append(*used, p)
			}
			p.add(ref, data[r.offset:r.offset+r.length])
			if p.full() {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := packs.DeleteBucket(key); err != nil {
			return err
		}
		if err := live.Delete(key); err != nil {
			return err
		}
		rep.Packs++
		rep.Bytes += l.size - l.bytes
	}
	return flush()
}

// CheckPacksTx checks the packs against what refers to them: every
// packed reference lies inside a pack that exists; each pack's packlive
// entry counts exactly the values and bytes that refer to it and gives
// its length; no pack is without an entry, nor an entry without its
// pack. Each finding goes to problem, with the thing it is about.
func CheckPacksTx(tx *bolt.Tx, problem func(subject, msg string)) error {
	type count struct{ values, bytes int64 }
	refs := map[uint64]*count{}
	packs, err := db.Bucket(tx, db.BucketPacks)
	if err != nil {
		return err
	}
	for _, bucket := range [][]byte{db.BucketBlobs, db.BucketChunks} {
		b, err := db.Bucket(tx, bucket)
		if err != nil {
			return err
		}
		kind := "blob "
		if bytes.Equal(bucket, db.BucketChunks) {
			kind = "chunk "
		}
		err = b.ForEach(func(k, v []byte) error {
			if v == nil || len(k) != len(manifest.Digest{}) {
				return nil // a value in a bucket of its own, or a bad key values() reports
			}
			d := manifest.Digest(k)
			r, err := parsePackedRef(d, v)
			if err != nil {
				problem(kind+d.String(), err.Error())
				return nil
			}
			if _, err := unpack(tx, d, v); err != nil {
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
	live, err := db.Bucket(tx, db.BucketPackLive)
	if err != nil {
		return err
	}
	err = live.ForEach(func(k, v []byte) error {
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
		pb := packs.Bucket(k)
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
	return packs.ForEachBucket(func(k []byte) error {
		if live.Get(k) == nil {
			problem(fmt.Sprintf("pack %x", k), "in packs/ without a packlive/ entry")
		}
		return nil
	})
}
