package cas

import (
	"bytes"
	"context"

	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// repackReport says what repackSparse did.
type repackReport struct {
	packs int   // packs rewritten
	bytes int64 // bytes of deleted values they held, now free
}

// Bounds of one repacking transaction, so that writers wait at most for
// one batch.
const (
	repackBatchBytes = 4 * packTarget
	repackBatchPacks = 256
)

// repackSparse rewrites the packs that deletes have left less than half
// live: their live values go into new packs, and the old ones are freed.
// A provisional pack is left to the lease that wrote it. It runs in
// transactions of bounded size; values only move, so readers and writers
// may go on meanwhile.
func (s *Bolt) repackSparse(ctx context.Context) (repackReport, error) {
	var rep repackReport
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		var ids [][]byte
		done := true
		err := s.db.View(func(tx *bolt.Tx) error {
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			var batchBytes int64
			c := bk.packLive.Cursor()
			for k, v := db.SeekAfter(c, after); k != nil; k, v = c.Next() {
				if len(ids) == repackBatchPacks || batchBytes >= repackBatchBytes {
					done = false
					break
				}
				after = append(after[:0], k...)
				l, err := parsePackLive(0, v)
				if err != nil {
					return err
				}
				if !l.sparse() || bk.provisional.Get(packMarkOf(k)) != nil {
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
			var batch repackReport
			err = s.db.Update(ctx, func(tx *bolt.Tx) error {
				batch = repackReport{}
				used = used[:0]
				bk, err := openBuckets(tx)
				if err != nil {
					return err
				}
				return bk.repack(ids, &batch, &used)
			})
			for _, p := range used {
				p.recycle()
			}
			if err != nil {
				return rep, err
			}
			rep.packs += batch.packs
			rep.bytes += batch.bytes
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
func (bk *buckets) repack(ids [][]byte, rep *repackReport, used *[]*pack) error {
	var p *pack
	flush := func() error {
		if p == nil {
			return nil
		}
		_, _, err := bk.writePack(p, keepAll)
		p = nil
		return err
	}
	for _, key := range ids {
		v := bk.packLive.Get(key)
		if v == nil || bk.provisional.Get(packMarkOf(key)) != nil {
			continue
		}
		l, err := parsePackLive(0, v)
		if err != nil || !l.sparse() {
			return err
		}
		pb := bk.packs.Bucket(key)
		if pb == nil {
			return corruptPack(key, "counted in packlive/ but missing")
		}
		data := pb.Get(packDataKey)
		members, err := packMembers(key, pb.Get(packMembersKey))
		if err != nil {
			return err
		}
		for _, ref := range members {
			cur := bk.of(ref).Get(ref.digest[:])
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
			v, err := r.in(ref.digest, data)
			if err != nil {
				return err
			}
			if p == nil {
				p = newPack()
				*used = append(*used, p)
			}
			p.add(ref, v)
			if p.full() {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := bk.packs.DeleteBucket(key); err != nil {
			return err
		}
		if err := bk.packLive.Delete(key); err != nil {
			return err
		}
		rep.packs++
		rep.bytes += l.size - l.bytes
	}
	return flush()
}
