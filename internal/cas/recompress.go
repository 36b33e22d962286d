package cas

import (
	"bytes"
	"context"
	"runtime"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
)

// CompactLevel is the zstd level Recompress writes values with: the
// strongest klauspost/compress has. A snapshot writes at DefaultLevel,
// whose speed it needs; a compaction has the time. On a copy of
// $GOROOT/src it stores 33.1 MB where DefaultLevel stores 38.1 MB.
const CompactLevel = zstd.SpeedBestCompression

// RecompressReport says what Recompress did.
type RecompressReport struct {
	Values int   // values written again, smaller
	Saved  int64 // stored bytes they saved
}

// Bounds of one recompressing transaction, as for repacking: writers
// wait at most for one batch, and memory holds one batch's values twice.
const (
	recompressBatchBytes = 4 * packTarget
	recompressBatchPacks = 64
)

// recompressItem is one value read for recompressing: where it lies, its
// bytes as stored, and what Recompress would store instead (nil: keep).
type recompressItem struct {
	ref      valueRef
	pack     []byte // packs/ key of its pack; nil for a value in a bucket of its own
	old, new []byte
}

// Recompress writes every stored raw or zstd value again at level, or,
// at CompactLevel, against the store's dictionary (trained first if the
// store has none, dict.go), where that makes it smaller: packs are rewritten whole, values in buckets of
// their own in place. Chunk lists and manifests stay as they are. Values
// only change encoding, their digests stay, and each is decoded and
// verified before it is written again. A pack none of whose four largest
// values shrinks is taken as written at level already and left alone, so
// a second run costs four encodes a pack. Provisional values are left to their
// lease. Freed pages go back to bbolt's freelist; a compaction then
// returns them to the file system.
func (s *Bolt) Recompress(ctx context.Context, level zstd.EncoderLevel) (RecompressReport, error) {
	var rep RecompressReport
	enc := recompressor{level: level}
	if level == CompactLevel {
		dict, err := s.compactDict(ctx)
		if err != nil {
			return rep, err
		}
		enc.dict = dict
	}
	if err := s.recompressPacks(ctx, enc, &rep); err != nil {
		return rep, err
	}
	for _, bucket := range [][]byte{db.BucketBlobs, db.BucketChunks} {
		if err := s.recompressOwn(ctx, enc, bucket, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (s *Bolt) recompressPacks(ctx context.Context, enc recompressor, rep *RecompressReport) error {
	var after []byte
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return err
		}
		var items []recompressItem
		var ids [][]byte
		done = true
		err := s.db.View(func(tx *bolt.Tx) error {
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			var batchBytes int64
			c := bk.packLive.Cursor()
			for k, v := db.SeekAfter(c, after); k != nil; k, v = c.Next() {
				if len(ids) == recompressBatchPacks || batchBytes >= recompressBatchBytes {
					done = false
					break
				}
				after = append(after[:0], k...)
				if bk.provisional.Get(packMarkOf(k)) != nil {
					continue
				}
				l, err := parsePackLive(0, v)
				if err != nil {
					return err
				}
				members, err := bk.liveMembers(k)
				if err != nil {
					return err
				}
				if !anyShrinks(enc, members) {
					continue
				}
				ids = append(ids, bytes.Clone(k))
				batchBytes += l.bytes
				items = append(items, members...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			continue
		}
		if err := encodeAll(ctx, enc, items); err != nil {
			return err
		}
		var used []*pack
		var batch RecompressReport
		err = s.db.Update(ctx, func(tx *bolt.Tx) error {
			batch = RecompressReport{}
			used = used[:0]
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			return bk.rewritePacks(ids, items, &batch, &used)
		})
		for _, p := range used {
			p.recycle()
		}
		if err != nil {
			return err
		}
		rep.Values += batch.Values
		rep.Saved += batch.Saved
	}
	return nil
}

// liveMembers returns copies of the values that still lie in pack key.
func (bk *buckets) liveMembers(key []byte) ([]recompressItem, error) {
	pb := bk.packs.Bucket(key)
	if pb == nil {
		return nil, corruptPack(key, "counted in packlive/ but missing")
	}
	data := pb.Get(packDataKey)
	refs, err := packMembers(key, pb.Get(packMembersKey))
	if err != nil {
		return nil, err
	}
	var items []recompressItem
	for _, ref := range refs {
		cur := bk.of(ref).Get(ref.digest[:])
		if cur == nil {
			continue
		}
		r, err := parsePackedRef(ref.digest, cur)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(packKey(r.pack), key) {
			continue
		}
		v, err := r.in(ref.digest, data)
		if err != nil {
			return nil, err
		}
		items = append(items, recompressItem{ref: ref, pack: key, old: bytes.Clone(v)})
	}
	return items, nil
}

// probes is how many of a pack's values anyShrinks tries.
const probes = 4

// anyShrinks reports whether one of the largest raw or zstd values of
// items is stored smaller at level: whether their pack was written at a
// lower level. Several, as one may be a listing of digests, which no
// level compresses further.
func anyShrinks(enc recompressor, items []recompressItem) bool {
	var order []int
	for i, it := range items {
		if len(it.old) > 0 && (it.old[0] == formatRaw || it.old[0] == formatZstd) {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return len(items[b].old) - len(items[a].old) })
	tried := slices.Clone(order[:min(len(order), probes)])
	if enc.dict != nil && len(order) > probes {
		// A dictionary helps the small values most: try some of those too.
		rest := order[probes:]
		for k := range probes {
			tried = append(tried, rest[k*len(rest)/probes])
		}
	}
	for _, i := range tried {
		if v, err := enc.reencode(items[i].ref.digest, items[i].old); err != nil || v != nil {
			return true // an error shows again, and stops, in encodeAll
		}
	}
	return false
}

// A recompressor encodes values at a level, and against a dictionary
// where it has one and that is smaller.
type recompressor struct {
	level zstd.EncoderLevel
	dict  *storeDict // nil: none
}

// reencode returns v's value as enc encodes it if that is smaller, else
// nil. A value that does not decode to its digest is an error:
// Recompress writes nothing it has not verified.
func (enc recompressor) reencode(d manifest.Digest, v []byte) ([]byte, error) {
	h, err := parseValue(d, v)
	if err != nil {
		return nil, err
	}
	if h.format != formatRaw && h.format != formatZstd {
		return nil, nil
	}
	logical, err := decodeValue(d, h)
	if err != nil {
		return nil, err
	}
	n := compressValue(enc.level, logical)
	if enc.dict != nil && len(logical) <= dictValueMax && worthCompressing(logical) {
		h := appendHeader(make([]byte, 0, compressRoom(len(logical))), formatZstd, len(logical))
		if withDict := enc.dict.enc().EncodeAll(logical, h); n == nil || len(withDict) < len(n) {
			n = withDict
		}
	}
	if n == nil || len(n) >= len(v) {
		return nil, nil
	}
	return n, nil
}

// encodeAll fills each item's new value, on every core: the strongest
// level encodes at tens of MB/s a core.
func encodeAll(ctx context.Context, enc recompressor, items []recompressItem) error {
	// The group's context ends once Wait returns: the caller's says
	// whether the work was cut short.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			v, err := enc.reencode(items[i].ref.digest, items[i].old)
			items[i].new = v
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// rewritePacks moves the values of the packs ids, as items holds them,
// into new packs, each in its new encoding where it has one, and deletes
// the old packs. A value that moved or went since items was read is
// left where it is now.
func (bk *buckets) rewritePacks(ids [][]byte, items []recompressItem, rep *RecompressReport, used *[]*pack) error {
	var p *pack
	flush := func() error {
		if p == nil {
			return nil
		}
		_, _, err := bk.writePack(p, keepAll)
		p = nil
		return err
	}
	var saved int64
	for _, it := range items {
		cur := bk.of(it.ref).Get(it.ref.digest[:])
		if cur == nil {
			continue
		}
		r, err := parsePackedRef(it.ref.digest, cur)
		if err != nil {
			return err
		}
		if !bytes.Equal(packKey(r.pack), it.pack) || r.length != len(it.old) {
			continue
		}
		v := it.old
		if it.new != nil {
			v = it.new
			saved += int64(len(it.old) - len(it.new))
			rep.Values++
		}
		if p == nil {
			p = newPack()
			*used = append(*used, p)
		}
		p.add(it.ref, v)
		if p.full() {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for _, key := range ids {
		if err := bk.packs.DeleteBucket(key); err != nil {
			return err
		}
		if err := bk.packLive.Delete(key); err != nil {
			return err
		}
	}
	rep.Saved += saved
	return db.AddCounter(bk.tx, db.CounterStored, -saved)
}

// recompressOwn recompresses the values in bucket that have buckets of
// their own, in place.
func (s *Bolt) recompressOwn(ctx context.Context, enc recompressor, bucket []byte, rep *RecompressReport) error {
	var after []byte
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return err
		}
		var items []recompressItem
		done = true
		err := s.db.View(func(tx *bolt.Tx) error {
			b, err := db.Bucket(tx, bucket)
			if err != nil {
				return err
			}
			prov, err := db.Bucket(tx, db.BucketProvisional)
			if err != nil {
				return err
			}
			var batchBytes int64
			c := b.Cursor()
			for k, v := db.SeekAfter(c, after); k != nil; k, v = c.Next() {
				if batchBytes >= recompressBatchBytes {
					done = false
					break
				}
				after = append(after[:0], k...)
				if v != nil || len(k) != len(manifest.Digest{}) {
					continue // packed
				}
				ref := refIn(bucket, manifest.Digest(k))
				if prov.Get(ref.key()) != nil {
					continue
				}
				val := b.Bucket(k).Get(valueKey)
				if len(val) == 0 || (val[0] != formatRaw && val[0] != formatZstd) {
					continue
				}
				items = append(items, recompressItem{ref: ref, old: bytes.Clone(val)})
				batchBytes += int64(len(val))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(items) == 0 {
			continue
		}
		if err := encodeAll(ctx, enc, items); err != nil {
			return err
		}
		var saved int64
		var values int
		err = s.db.Update(ctx, func(tx *bolt.Tx) error {
			saved, values = 0, 0
			b, err := db.Bucket(tx, bucket)
			if err != nil {
				return err
			}
			for _, it := range items {
				if it.new == nil {
					continue
				}
				vb := b.Bucket(it.ref.digest[:])
				if vb == nil || !bytes.Equal(vb.Get(valueKey), it.old) {
					continue
				}
				if err := vb.Put(valueKey, it.new); err != nil {
					return err
				}
				saved += int64(len(it.old) - len(it.new))
				values++
			}
			return db.AddCounter(tx, db.CounterStored, -saved)
		})
		if err != nil {
			return err
		}
		rep.Values += values
		rep.Saved += saved
	}
	return nil
}
