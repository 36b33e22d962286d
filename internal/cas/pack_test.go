package cas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Tests of packing (pack.go): small values side by side in packs/, their
// counts in packlive/, provisional packs and their marks. Each test checks
// the whole store with checkPacked, which recomputes from what blobs/ and
// chunks/ refer to everything that packs/, packlive/, provisional/ and the
// stats counters should say.

// packedState is what checkPacked found.
type packedState struct {
	packs      map[uint64]packLive // every pack but early ones, with its packlive/ entry
	early      map[uint64]int      // early packs, with the number of values each holds
	packMarks  map[uint64]bool     // 'p' marks in provisional/
	valueMarks int                 // 'b' and 'c' marks in provisional/
	packed     int                 // values held in packs
	alone      int                 // values in a bucket of their own

	blobs, chunks, logical, stored int64 // the stats counters
}

func (st packedState) marks() int { return len(st.packMarks) + st.valueMarks }

// checkPacked walks the store and reports (as test errors) every
// disagreement between the values, the packs that hold them, the packlive/
// entries, the provisional marks and the counters.
func checkPacked(t *testing.T, d *db.DB) packedState {
	t.Helper()
	st := packedState{packs: map[uint64]packLive{}, early: map[uint64]int{}, packMarks: map[uint64]bool{}}
	err := d.View(func(tx *bolt.Tx) error {
		packs := tx.Bucket(db.BucketPacks)
		live := tx.Bucket(db.BucketPackLive)
		prov := tx.Bucket(db.BucketProvisional)
		type count struct{ values, bytes int64 }
		refs := map[uint64]*count{}
		var blobs, chunks, logical, stored int64
		for _, name := range [][]byte{db.BucketBlobs, db.BucketChunks} {
			b := tx.Bucket(name)
			err := b.ForEach(func(k, v []byte) error {
				dg := manifest.Digest(k)
				ref := refIn(name, dg)
				var value []byte
				if v == nil {
					st.alone++
					value = b.Bucket(k).Get(valueKey)
					if value == nil {
						t.Errorf("%s %s: bucket without a value", name, dg.Short())
						return nil
					}
					h, err := parseValue(dg, value)
					if err != nil {
						t.Errorf("%s %s: %v", name, dg.Short(), err)
						return nil
					}
					// Whatever fits in a pack goes into one.
					if len(value) <= packMax && (h.format != formatRaw || len(h.payload) <= maxRawPacked) {
						t.Errorf("%s %s: a value of %d bytes (format %d) in a bucket of its own", name, dg.Short(), len(value), h.format)
					}
				} else {
					st.packed++
					r, err := parsePackedRef(dg, v)
					if err != nil {
						t.Errorf("%s %s: %v", name, dg.Short(), err)
						return nil
					}
					pb := packs.Bucket(packKey(r.pack))
					if pb == nil {
						t.Errorf("%s %s: refers to pack %d, which is missing", name, dg.Short(), r.pack)
						return nil
					}
					data := pb.Get(packDataKey)
					if r.offset+r.length > len(data) {
						t.Errorf("%s %s: at %d+%d in pack %d of %d bytes", name, dg.Short(), r.offset, r.length, r.pack, len(data))
						return nil
					}
					value = data[r.offset : r.offset+r.length]
					if !memberOf(pb.Get(packMembersKey), ref) {
						t.Errorf("%s %s: not in the members of its pack %d", name, dg.Short(), r.pack)
					}
					c := refs[r.pack]
					if c == nil {
						c = &count{}
						refs[r.pack] = c
					}
					c.values++
					c.bytes += int64(r.length)
				}
				h, err := parseValue(dg, value)
				if err != nil {
					t.Errorf("%s %s: %v", name, dg.Short(), err)
					return nil
				}
				stored += int64(len(value))
				if ref.chunk {
					chunks++
				} else {
					blobs++
					logical += h.size
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		// verify's own check must agree that the store is whole.
		if _, err := CheckTx(tx, CheckOptions{Problem: func(subject, msg string) { t.Errorf("CheckTx: %s: %s", subject, msg) }}); err != nil {
			return err
		}
		st.blobs, st.chunks = db.Counter(tx, db.CounterBlobs), db.Counter(tx, db.CounterChunks)
		st.logical, st.stored = db.Counter(tx, db.CounterLogical), db.Counter(tx, db.CounterStored)
		if st.blobs != blobs || st.chunks != chunks || st.logical != logical || st.stored != stored {
			t.Errorf("counters blobs %d chunks %d logical %d stored %d; the values say %d, %d, %d, %d",
				st.blobs, st.chunks, st.logical, st.stored, blobs, chunks, logical, stored)
		}
		err := packs.ForEachBucket(func(k []byte) error {
			if len(k) != 8 {
				t.Errorf("pack key %x", k)
				return nil
			}
			id := binary.BigEndian.Uint64(k)
			pb := packs.Bucket(k)
			data, members := pb.Get(packDataKey), pb.Get(packMembersKey)
			if len(data) == 0 || len(data) > packTarget+packMax {
				t.Errorf("pack %d holds %d bytes", id, len(data))
			}
			if len(members) == 0 || len(members)%33 != 0 {
				t.Errorf("pack %d: members list of %d bytes", id, len(members))
			}
			v := live.Get(k)
			if v == nil && prov.Get(append([]byte{'p'}, k...)) != nil {
				// An early pack: nothing may refer to it before its
				// lease commits.
				st.early[id] = len(members) / len(valueRef{}.key())
				if c := refs[id]; c != nil {
					t.Errorf("early pack %d: %d values refer to it", id, c.values)
				}
				delete(refs, id)
				return nil
			}
			if v == nil {
				t.Errorf("pack %d has no packlive entry", id)
				return nil
			}
			l, err := parsePackLive(id, v)
			if err != nil {
				t.Errorf("pack %d: %v", id, err)
				return nil
			}
			st.packs[id] = l
			c := refs[id]
			if c == nil {
				c = &count{}
			}
			if l.values != c.values || l.bytes != c.bytes || l.size != int64(len(data)) {
				t.Errorf("pack %d: packlive says %d values, %d bytes, size %d; %d values of %d bytes refer to it, it holds %d bytes",
					id, l.values, l.bytes, l.size, c.values, c.bytes, len(data))
			}
			if c.values == 0 {
				t.Errorf("pack %d outlived its last value", id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for id := range refs {
			if _, ok := st.packs[id]; !ok {
				t.Errorf("pack %d is referred to but not listed", id)
			}
		}
		err = live.ForEach(func(k, _ []byte) error {
			if packs.Bucket(k) == nil {
				t.Errorf("packlive entry %x without its pack", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return prov.ForEach(func(k, _ []byte) error {
			if ref, ok := parseValueRefKey(k); ok {
				st.valueMarks++
				if b := tx.Bucket(ref.bucket()); b.Bucket(ref.digest[:]) == nil {
					t.Errorf("provisional mark %c %s names no value in a bucket of its own", k[0], ref.digest.Short())
				}
				return nil
			}
			if len(k) != 9 || k[0] != 'p' {
				t.Errorf("provisional key %x", k)
				return nil
			}
			id := binary.BigEndian.Uint64(k[1:])
			st.packMarks[id] = true
			if packs.Bucket(k[1:]) == nil {
				t.Errorf("provisional mark of pack %d, which is gone", id)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func memberOf(members []byte, ref valueRef) bool {
	key := ref.key()
	for ; len(members) >= 33; members = members[33:] {
		if bytes.Equal(members[:33], key) {
			return true
		}
	}
	return false
}

// entryOf returns what bucket (blobs/ or chunks/) holds under dg: the
// packed reference, or alone if dg's value has a bucket of its own.
func entryOf(t *testing.T, d *db.DB, bucket []byte, dg manifest.Digest) (ref packedRef, packed, alone bool) {
	t.Helper()
	err := d.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if v := b.Get(dg[:]); v != nil {
			r, err := parsePackedRef(dg, v)
			ref, packed = r, true
			return err
		}
		alone = b.Bucket(dg[:]) != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ref, packed, alone
}

func settled(t *testing.T, d *db.DB, dg manifest.Digest) bool {
	t.Helper()
	var ok bool
	err := d.View(func(tx *bolt.Tx) error {
		isSettled, err := SettledTx(tx)
		if err != nil {
			return err
		}
		ok, err = isSettled(dg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func readsBack(t *testing.T, s *Bolt, dg manifest.Digest, want []byte) {
	t.Helper()
	got, err := s.Get(ctx, dg)
	if err != nil {
		t.Fatalf("get %s (%d bytes): %v", dg.Short(), len(want), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("get %s: %d bytes that differ from the %d put", dg.Short(), len(got), len(want))
	}
}

// jsonLike returns about n bytes of JSON lines that zstd shrinks several
// times over, different for each seed.
func jsonLike(seed, n int) []byte {
	b := make([]byte, 0, n+128)
	for i := 0; len(b) < n; i++ {
		b = strconv.AppendInt(append(b, `{"seq":`...), int64(i), 10)
		b = strconv.AppendInt(append(b, `,"seed":`...), int64(seed), 10)
		b = strconv.AppendInt(append(b, `,"role":"tool","content":"ls -la returned `...), int64((i*7+seed)%97), 10)
		b = strconv.AppendInt(append(b, ` entries","ts":`...), int64(1700000000+i*13), 10)
		b = append(b, "}\n"...)
	}
	return b[:n]
}

// smallBlobs returns n blobs of 1 to about 12 KiB, random and compressible
// alternately, different for each seed.
func smallBlobs(seed, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		size := 1000 + (i*3571+seed*131)%11000
		if i%2 == 0 {
			out[i] = payload(uint64(seed*100000+i+1), size)
		} else {
			out[i] = jsonLike(seed*100000+i, size)
		}
	}
	return out
}

// Many small blobs through one lease share few packs; each reads back,
// and the counters and packlive/ agree with what refers to the packs.
func TestPack_ManySmallBlobsShareFewPacks(t *testing.T) {
	tests := []struct {
		name  string
		blobs [][]byte
		put   string // "bytes", "batch", "stream", or "parallel"
	}{
		{"PutBytes", smallBlobs(1, 60), "bytes"},
		{"PutBatch", smallBlobs(2, 200), "batch"},
		{"Put streamed", smallBlobs(3, 40), "stream"},
		{"parallel PutBytes", smallBlobs(4, 160), "parallel"},
		{"tiny, empty and duplicate", [][]byte{
			{}, []byte("x"), bytes.Repeat([]byte("a"), 63), bytes.Repeat([]byte("a"), 64),
			[]byte("x"), {}, jsonLike(5, 5000), jsonLike(5, 5000),
		}, "bytes"},
		{"PutBatch with duplicates", [][]byte{
			[]byte("same"), jsonLike(7, 3000), []byte("same"), {}, jsonLike(7, 3000), {},
		}, "batch"},
		{"largest raw value that packs", [][]byte{payload(6, maxRawPacked), []byte("neighbour")}, "bytes"},
		{"more than one pack's worth", func() [][]byte {
			var bs [][]byte
			for i := range 72 { // 4.5 MiB of random bytes
				bs = append(bs, payload(uint64(700+i), 64<<10))
			}
			return bs
		}(), "batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, s := openStore(t, "", Options{})
			l := s.NewLease()
			ds := make([]manifest.Digest, len(tt.blobs))
			switch tt.put {
			case "batch":
				var err error
				if ds, err = l.PutBatch(ctx, tt.blobs); err != nil {
					t.Fatal(err)
				}
			case "parallel":
				var wg sync.WaitGroup
				errs := make([]error, len(tt.blobs))
				for w := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; i < len(tt.blobs); i += 8 {
							ds[i], errs[i] = l.PutBytes(ctx, tt.blobs[i])
						}
					}()
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
			default:
				for i, b := range tt.blobs {
					var err error
					if tt.put == "stream" {
						ds[i], err = l.Put(ctx, bytes.NewReader(b))
					} else {
						ds[i], err = l.PutBytes(ctx, b)
					}
					if err != nil {
						t.Fatal(err)
					}
					if ds[i] != manifest.Sum(b) {
						t.Fatalf("blob %d: digest %s, want %s", i, ds[i].Short(), manifest.Sum(b).Short())
					}
				}
			}
			if err := l.Commit(ctx, nil); err != nil {
				t.Fatal(err)
			}

			unique := map[manifest.Digest]int64{}
			for i, b := range tt.blobs {
				unique[ds[i]] = int64(len(b))
				readsBack(t, s, ds[i], b)
			}
			var logical int64
			for _, n := range unique {
				logical += n
			}
			st := checkPacked(t, d)
			if st.blobs != int64(len(unique)) || st.logical != logical || st.chunks != 0 {
				t.Errorf("counters: %d blobs of %d bytes, %d chunks; want %d blobs of %d bytes",
					st.blobs, st.logical, st.chunks, len(unique), logical)
			}
			if st.packed != len(unique) || st.alone != 0 {
				t.Errorf("%d values packed, %d alone; want all %d packed", st.packed, st.alone, len(unique))
			}
			var size, live int64
			for _, pl := range st.packs {
				size += pl.size
				live += pl.bytes
			}
			if live != st.stored || size != st.stored {
				t.Errorf("packs hold %d bytes, %d of them live; %d stored: a fresh pack has no dead bytes", size, live, st.stored)
			}
			if maxPacks := int(st.stored/packTarget) + 1; len(st.packs) > maxPacks || len(st.packs) == 0 {
				t.Errorf("%d bytes in %d packs, want 1 to %d", st.stored, len(st.packs), maxPacks)
			}
			if st.marks() != 0 {
				t.Errorf("%d provisional marks after the commit", st.marks())
			}
			for dg, n := range unique {
				info, err := s.Stat(ctx, dg)
				ref, packed, _ := entryOf(t, d, db.BucketBlobs, dg)
				if err != nil || !packed || info.Size != n || info.Stored != int64(ref.length) || info.Chunks != 0 {
					t.Errorf("stat %s: %+v, %v; packed %v at %+v", dg.Short(), info, err, packed, ref)
				}
			}
		})
	}
}

// A pack goes with its last value, and with it its packlive/ entry; until
// then packlive/ counts exactly the values left.
func TestPack_DeleteMembers(t *testing.T) {
	tests := []struct {
		name     string
		del      []int // indices of the eight blobs to delete
		separate bool  // one transaction per delete
		twice    bool  // delete each again afterwards
	}{
		{"none", nil, false, false},
		{"one", []int{3}, false, false},
		{"half", []int{0, 2, 4, 6}, true, false},
		{"all but one", []int{0, 1, 2, 3, 4, 5, 7}, false, false},
		{"all in one transaction", []int{0, 1, 2, 3, 4, 5, 6, 7}, false, false},
		{"all one at a time", []int{7, 6, 5, 4, 3, 2, 1, 0}, true, false},
		{"all, then again", []int{0, 1, 2, 3, 4, 5, 6, 7}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, s := openStore(t, "", Options{})
			bs := smallBlobs(10, 8)
			l := s.NewLease()
			ds, err := l.PutBatch(ctx, bs)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(ctx, nil); err != nil {
				t.Fatal(err)
			}
			before := checkPacked(t, d)
			if len(before.packs) != 1 {
				t.Fatalf("%d packs for eight small blobs, want 1", len(before.packs))
			}
			refs := make([]packedRef, len(ds))
			for i, dg := range ds {
				refs[i], _, _ = entryOf(t, d, db.BucketBlobs, dg)
			}
			id := refs[0].pack

			deleteAll := func() {
				del := func(tx *bolt.Tx, i int) error { return deleteValueIn(tx, db.BucketBlobs, ds[i]) }
				if tt.separate {
					for _, i := range tt.del {
						if err := d.Update(ctx, func(tx *bolt.Tx) error { return del(tx, i) }); err != nil {
							t.Fatal(err)
						}
					}
					return
				}
				err := d.Update(ctx, func(tx *bolt.Tx) error {
					for _, i := range tt.del {
						if err := del(tx, i); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			deleteAll()
			if tt.twice {
				deleteAll()
			}

			st := checkPacked(t, d)
			var values, liveBytes, logical int64
			for i, dg := range ds {
				if slices.Contains(tt.del, i) {
					if has(t, s, dg) {
						t.Errorf("blob %d survived its delete", i)
					}
					continue
				}
				readsBack(t, s, dg, bs[i])
				values++
				liveBytes += int64(refs[i].length)
				logical += int64(len(bs[i]))
			}
			if st.blobs != values || st.logical != logical || st.stored != liveBytes {
				t.Errorf("counters %d blobs, %d logical, %d stored; want %d, %d, %d", st.blobs, st.logical, st.stored, values, logical, liveBytes)
			}
			pl, ok := st.packs[id]
			if values == 0 {
				if ok || len(st.packs) != 0 {
					t.Errorf("pack %d (of %d) outlived all its values: %+v", id, len(st.packs), pl)
				}
				return
			}
			want := packLive{values: values, bytes: liveBytes, size: before.packs[id].size}
			if !ok || pl != want || len(st.packs) != 1 {
				t.Errorf("pack %d: packlive %+v (present %v, %d packs), want %+v", id, pl, ok, len(st.packs), want)
			}
		})
	}
}

// The values of an early pack are found by no one before their lease
// commits: not by Has, nor by a delete (gc's), which leaves the pack as
// it was. The lease then ends either way.
func TestPack_EarlyPackUnseenUntilCommit(t *testing.T) {
	for _, end := range []string{"abort", "commit"} {
		t.Run(end, func(t *testing.T) {
			d, s := openStore(t, "", Options{SpillBytes: 64 << 10})
			l := s.NewLease()
			bs := smallBlobs(20, 24)
			ds, err := l.PutBatch(ctx, bs)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.waitSpill(); err != nil {
				t.Fatal(err)
			}
			before := checkPacked(t, d)
			if len(before.early) == 0 || len(before.packMarks) != len(before.early) || len(before.packs) != 0 {
				t.Fatalf("%d early packs, %d pack marks, %d packs; want early packs only, each marked",
					len(before.early), len(before.packMarks), len(before.packs))
			}
			err = d.Update(ctx, func(tx *bolt.Tx) error {
				for _, dg := range ds {
					if err := deleteValueIn(tx, db.BucketBlobs, dg); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, dg := range ds {
				if has(t, s, dg) {
					t.Errorf("blob %d found before its lease committed", i)
				}
			}
			if st := checkPacked(t, d); fmt.Sprint(st) != fmt.Sprint(before) {
				t.Fatalf("the deletes changed the store:\n%+v\nwas\n%+v", st, before)
			}
			if end == "abort" {
				err = l.Abort()
			} else {
				err = l.Commit(ctx, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			st := checkPacked(t, d)
			if st.marks() != 0 || len(st.early) != 0 {
				t.Errorf("%d marks, %d early packs after the lease ended", st.marks(), len(st.early))
			}
			if end == "abort" {
				if st.blobs != 0 || len(st.packs) != 0 {
					t.Errorf("after the abort: %d blobs, %d packs", st.blobs, len(st.packs))
				}
				return
			}
			if st.blobs != int64(len(bs)) {
				t.Errorf("after the commit: %d blobs, want %d", st.blobs, len(bs))
			}
			for id, n := range before.early {
				if pl, ok := st.packs[id]; !ok || pl.values != int64(n) {
					t.Errorf("early pack %d of %d values after the commit: %+v (present %v)", id, n, pl, ok)
				}
			}
			for i, dg := range ds {
				readsBack(t, s, dg, bs[i])
			}
		})
	}
}

// A lease that writes packs early and then ends: an abort leaves the store
// as it was before the lease; a commit keeps everything, settled.
func TestPack_SpilledLeaseEnds(t *testing.T) {
	for _, spill := range []int{1, 64 << 10, 200 << 10} {
		for _, end := range []string{"abort", "commit"} {
			t.Run(fmt.Sprintf("spill %d %s", spill, end), func(t *testing.T) {
				d, s := openStore(t, "", Options{SpillBytes: spill})
				// Committed first: small ones, random and compressible, and
				// one too large to pack; the lease puts two of them again.
				base := [][]byte{[]byte("committed before"), payload(40, 300<<10), jsonLike(41, 9000)}
				var baseDs []manifest.Digest
				for _, b := range base {
					dg, err := s.PutBytes(ctx, b)
					if err != nil {
						t.Fatal(err)
					}
					baseDs = append(baseDs, dg)
				}
				before := checkPacked(t, d)

				l := s.NewLease()
				bs := append(smallBlobs(42, 30), payload(43, 300<<10), base[0], base[2])
				ds := make([]manifest.Digest, len(bs))
				for i, b := range bs {
					var err error
					if ds[i], err = l.PutBytes(ctx, b); err != nil {
						t.Fatal(err)
					}
				}
				if err := l.waitSpill(); err != nil {
					t.Fatal(err)
				}
				mid := checkPacked(t, d)
				if len(mid.early) == 0 || len(mid.packMarks) != len(mid.early) || mid.valueMarks > 1 {
					t.Fatalf("%d early packs, %d pack marks, %d value marks while the lease runs",
						len(mid.early), len(mid.packMarks), mid.valueMarks)
				}
				if fmt.Sprint(mid.packs) != fmt.Sprint(before.packs) {
					t.Errorf("early writes changed the committed packs: %v, were %v", mid.packs, before.packs)
				}
				for _, dg := range baseDs {
					if !settled(t, d, dg) {
						t.Errorf("committed blob %s became provisional", dg.Short())
					}
				}
				if has(t, s, ds[0]) {
					t.Error("first blob found before its lease committed")
				}

				if end == "abort" {
					if err := l.Abort(); err != nil {
						t.Fatal(err)
					}
				} else if err := l.Commit(ctx, nil); err != nil {
					t.Fatal(err)
				}
				after := checkPacked(t, d)
				for i, dg := range baseDs {
					readsBack(t, s, dg, base[i])
				}
				if after.marks() != 0 {
					t.Errorf("%d provisional marks after the lease ended", after.marks())
				}
				if end == "abort" {
					for i, dg := range ds[:31] {
						if has(t, s, dg) {
							t.Errorf("blob %d survived the abort", i)
						}
					}
					if fmt.Sprint(after) != fmt.Sprint(before) {
						t.Errorf("after the abort:\n%+v\nbefore the lease:\n%+v", after, before)
					}
					return
				}
				for i, dg := range ds {
					readsBack(t, s, dg, bs[i])
					if !settled(t, d, dg) {
						t.Errorf("blob %d provisional after the commit", i)
					}
				}
				if after.blobs != int64(len(base)+31) {
					t.Errorf("%d blobs after the commit, want %d", after.blobs, len(base)+31)
				}
			})
		}
	}
}

// Lease A writes x early in a pack with values of its own; lease B puts
// the same bytes, does not find them (no one finds an early pack's values)
// and stores its own. Whichever of the two commits second keeps x's bytes
// only as dead bytes in its pack; an abort or a failure of either leaves
// x to the other.
func TestPack_CrossLeaseEarlyPack(t *testing.T) {
	tests := []struct {
		name     string
		aFirst   bool // A commits before B does
		bFails   bool // B's commit fails
		aCommits bool // A commits instead of aborting
	}{
		{"B commits, A aborts", false, false, false},
		{"B commits, then A", false, false, true},
		{"A commits, then B", true, false, true},
		{"B fails, A aborts", false, true, false},
		{"B fails, A commits", false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, s := openStore(t, "", Options{SpillBytes: 4 * 10000})
			x := payload(50, 10000)
			// x and these fill SpillBytes exactly at the last put: one pack.
			own := [][]byte{payload(51, 10000), payload(52, 10000), payload(53, 10000)}
			y := payload(54, 3000) // B's own blob
			a, b := s.NewLease(), s.NewLease()
			var ownDs []manifest.Digest
			for _, blob := range append([][]byte{x}, own...) {
				dg, err := a.PutBytes(ctx, blob)
				if err != nil {
					t.Fatal(err)
				}
				ownDs = append(ownDs, dg)
			}
			xd, ownDs := ownDs[0], ownDs[1:]
			if err := a.waitSpill(); err != nil {
				t.Fatal(err)
			}
			st := checkPacked(t, d)
			if len(st.early) != 1 || len(st.packs) != 0 || has(t, s, xd) {
				t.Fatalf("after A's early write: %d early packs, %d packs, x found %v; want 1, 0, false",
					len(st.early), len(st.packs), has(t, s, xd))
			}
			var early uint64
			for id := range st.early {
				early = id
			}
			if _, err := b.PutBytes(ctx, x); err != nil {
				t.Fatal(err)
			}
			yd, err := b.PutBytes(ctx, y)
			if err != nil {
				t.Fatal(err)
			}
			endA := func() {
				if tt.aCommits {
					err = a.Commit(ctx, nil)
				} else {
					err = a.Abort()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if tt.aFirst {
				endA()
			}
			var fn func(*bolt.Tx) error
			boom := errors.New("boom")
			if tt.bFails {
				fn = func(*bolt.Tx) error { return boom }
			}
			if err := b.Commit(ctx, fn); tt.bFails != errors.Is(err, boom) || (!tt.bFails && err != nil) {
				t.Fatalf("B's commit: %v", err)
			}
			if !tt.aFirst {
				st = checkPacked(t, d)
				if !tt.bFails {
					if ref, packed, _ := entryOf(t, d, db.BucketBlobs, xd); !packed || ref.pack == early {
						t.Errorf("after B's commit: x packed %v in pack %d, A's early pack is %d", packed, ref.pack, early)
					}
				}
				if st.early[early] != 1+len(own) {
					t.Errorf("B's commit changed A's early pack: %v", st.early)
				}
				endA()
			}

			st = checkPacked(t, d)
			if st.marks() != 0 || len(st.early) != 0 {
				t.Errorf("%d provisional marks, %d early packs once both leases ended", st.marks(), len(st.early))
			}
			xSurvives := tt.aCommits || !tt.bFails
			if xSurvives {
				readsBack(t, s, xd, x)
				if !settled(t, d, xd) {
					t.Error("x provisional after both leases ended")
				}
			} else if has(t, s, xd) {
				t.Error("x survived: only aborted or failed leases held it")
			}
			for i, dg := range ownDs {
				switch {
				case tt.aCommits:
					readsBack(t, s, dg, own[i])
				case has(t, s, dg):
					t.Errorf("A's blob %d survived A's abort", i)
				}
			}
			if tt.aCommits {
				// x is A's unless B committed it first: then it is dead
				// bytes in A's pack.
				pl := st.packs[early]
				wantValues := int64(len(own))
				if tt.bFails || tt.aFirst {
					wantValues++
				}
				if pl.values != wantValues || (pl.bytes == pl.size) != (wantValues == int64(1+len(own))) {
					t.Errorf("A's pack after both commits: %+v; want %d values", pl, wantValues)
				}
			}
			if !tt.bFails {
				readsBack(t, s, yd, y)
			}
			want := int64(0)
			if xSurvives {
				want++
			}
			if !tt.bFails {
				want++
			}
			if tt.aCommits {
				want += int64(len(own))
			}
			if st.blobs != want {
				t.Errorf("%d blobs left, want %d", st.blobs, want)
			}
		})
	}
}

// What a crashed lease wrote early, packed or alone, is deleted by
// ReclaimAbandoned on the next open, and counted one per value. Another
// lease that put one of its blobs, x, before the crash or during the
// reclaim keeps it: a value alone it found and holds, a packed one it
// stored again.
func TestPack_ReclaimAbandonedPacks(t *testing.T) {
	tests := []struct {
		name    string
		spill   int
		small   int  // small blobs the crashed lease puts
		large   bool // and one too large to pack, first
		settleX bool // another lease commits x before the crash
		holdX   bool // a live lease puts x before the reclaim, then commits
		xLarge  bool // x is the large blob, else the first small one
	}{
		{"one pack of five", 5 * 8000, 5, false, false, false, false},
		{"a pack per value", 1, 6, false, false, false, false},
		{"packs and a large value", 3 * 8000, 7, true, false, false, false},
		{"a packed value committed by another lease", 5 * 8000, 5, false, true, false, false},
		{"a packed value put by a live lease", 5 * 8000, 5, false, false, true, false},
		{"a large value settled by another lease", 5 * 8000, 5, true, true, false, true},
		{"a large value held by a live lease", 5 * 8000, 5, true, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.pf")
			d, s := openStore(t, path, Options{SpillBytes: tt.spill})
			kept, err := s.PutBytes(ctx, []byte("kept"))
			if err != nil {
				t.Fatal(err)
			}
			l := s.NewLease()
			var ds []manifest.Digest
			var bs [][]byte
			if tt.large {
				b := payload(60, 300<<10)
				dg, err := l.PutBytes(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				ds, bs = append(ds, dg), append(bs, b)
			}
			for i := range tt.small {
				b := payload(uint64(61+i), 8000)
				dg, err := l.PutBytes(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				ds, bs = append(ds, dg), append(bs, b)
			}
			if err := l.waitSpill(); err != nil {
				t.Fatal(err)
			}
			st := checkPacked(t, d)
			written := st.alone
			for _, n := range st.early {
				written += n
			}
			if written < 5 || len(st.early) == 0 || len(st.packMarks) != len(st.early) {
				t.Fatalf("%d of %d values written early, %d early packs, %d pack marks", written, len(ds), len(st.early), len(st.packMarks))
			}
			want := written
			var xd manifest.Digest
			var x []byte
			if tt.settleX || tt.holdX {
				i := len(ds) - tt.small
				if tt.xLarge {
					i = 0
				}
				xd, x = ds[i], bs[i]
			}
			if tt.settleX {
				o := s.NewLease()
				if _, err := o.PutBytes(ctx, x); err != nil {
					t.Fatal(err)
				}
				if err := o.Commit(ctx, nil); err != nil {
					t.Fatal(err)
				}
				if tt.xLarge {
					want-- // settled where it lies
				}
			}
			// The process "dies": the lease is never committed or aborted.
			d.Close()
			d, s = openStore(t, path, Options{})
			var holder *Lease
			if tt.holdX {
				holder = s.NewLease()
				if _, err := holder.PutBytes(ctx, x); err != nil {
					t.Fatal(err)
				}
				if tt.xLarge {
					want-- // held where it lies
				}
			}
			n, err := s.ReclaimAbandoned(ctx)
			if err != nil || n != want {
				t.Fatalf("reclaimed %d, %v; want %d", n, err, want)
			}
			if holder != nil {
				if has(t, s, xd) != tt.xLarge {
					t.Fatalf("after the reclaim, x found %v, want %v", !tt.xLarge, tt.xLarge)
				}
				if err := holder.Commit(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			st = checkPacked(t, d)
			wantBlobs, wantPacks, wantAlone := int64(1), 1, 0
			if tt.settleX || tt.holdX {
				wantBlobs++
				if tt.xLarge {
					wantAlone++
				} else {
					wantPacks++
				}
				readsBack(t, s, xd, x)
				if !settled(t, d, xd) {
					t.Error("the blob another lease committed is provisional")
				}
			}
			if st.marks() != 0 || len(st.early) != 0 || st.blobs != wantBlobs || len(st.packs) != wantPacks || st.alone != wantAlone {
				t.Errorf("after reclaim: %d marks, %d early packs, %d blobs, %d packs, %d values alone; want 0, 0, %d, %d, %d",
					st.marks(), len(st.early), st.blobs, len(st.packs), st.alone, wantBlobs, wantPacks, wantAlone)
			}
			readsBack(t, s, kept, []byte("kept"))
			for i, dg := range ds {
				if dg != xd && has(t, s, dg) {
					t.Errorf("value %d of the crashed lease survived", i)
				}
			}
			if n, err := s.ReclaimAbandoned(ctx); err != nil || n != 0 {
				t.Errorf("second reclaim: %d, %v", n, err)
			}
		})
	}
}

// A value too large to pack and small ones in one lease; a compressible
// blob of InlineMax whose zstd value fits a pack; a chunked compressible
// blob, whose chunks and chunk list fit packs too.
func TestPack_MixedSizes(t *testing.T) {
	for _, spill := range []int{64 << 10, 0} {
		t.Run(fmt.Sprintf("spill %d", spill), func(t *testing.T) {
			if spill == 0 && testing.Short() {
				t.Skip("short: the early-writing run covers the same values")
			}
			d, s := openStore(t, "", Options{SpillBytes: spill})
			large := payload(70, 300<<10)
			json := jsonLike(71, InlineMax)
			chunked := jsonLike(72, 3<<20)
			small := smallBlobs(73, 12)
			l := s.NewLease()
			all := append([][]byte{large, json, chunked}, small...)
			ds := make([]manifest.Digest, len(all))
			for i, b := range all {
				var err error
				if ds[i], err = l.PutBytes(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Commit(ctx, nil); err != nil {
				t.Fatal(err)
			}
			for i, dg := range ds {
				readsBack(t, s, dg, all[i])
			}
			r, err := s.Open(ctx, ds[2])
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, chunked) {
				t.Fatalf("streaming the chunked blob: %v", err)
			}

			if _, packed, alone := entryOf(t, d, db.BucketBlobs, ds[0]); packed || !alone {
				t.Errorf("300 KiB of random bytes: packed %v, alone %v; want a bucket of its own", packed, alone)
			}
			ref, packed, _ := entryOf(t, d, db.BucketBlobs, ds[1])
			if !packed || ref.length > packMax {
				t.Errorf("1 MiB of JSON: packed %v, %d bytes; want packed", packed, ref.length)
			}
			if info, err := s.Stat(ctx, ds[1]); err != nil || info.Size != InlineMax || info.Stored != int64(ref.length) {
				t.Errorf("stat of the JSON blob: %+v, %v; packed in %d bytes", info, err, ref.length)
			}
			info, err := s.Stat(ctx, ds[2])
			if err != nil || info.Chunks < 1 || info.Size != int64(len(chunked)) {
				t.Fatalf("stat of the chunked blob: %+v, %v", info, err)
			}
			var chunks []manifest.Digest
			if err := d.View(func(tx *bolt.Tx) (err error) { chunks, err = ChunksOfTx(tx, ds[2]); return err }); err != nil {
				t.Fatal(err)
			}
			for _, c := range chunks {
				if _, packed, _ := entryOf(t, d, db.BucketChunks, c); !packed {
					t.Errorf("chunk %s of compressible JSON not packed", c.Short())
				}
			}
			for i, dg := range ds[3:] {
				if _, packed, _ := entryOf(t, d, db.BucketBlobs, dg); !packed {
					t.Errorf("small blob %d not packed", i)
				}
			}
			st := checkPacked(t, d)
			if st.alone != 1 || st.marks() != 0 || st.blobs != int64(len(all)) || st.chunks != int64(len(chunks)) {
				t.Errorf("%d values alone, %d marks, %d blobs, %d chunks; want 1, 0, %d, %d",
					st.alone, st.marks(), st.blobs, st.chunks, len(all), len(chunks))
			}
			t.Logf("JSON blob of %d bytes packed in %d; %d chunks; %d packs", len(json), ref.length, len(chunks), len(st.packs))
		})
	}
}

// A chunked blob written early, its chunks and its chunk list in early
// packs: no one finds it, nor its chunks, before its lease commits; an
// abort leaves nothing of it, a commit all of it.
func TestPack_ChunkedBlobWrittenEarly(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		// FastCDC never finds a cut in zeros: they go in chunks of
		// chunkMax, the first two the same.
		{"zeros: one chunk repeated", make([]byte, 2*chunkMax+chunkMin)},
		{"JSON", jsonLike(100, 3<<20)},
	} {
		for _, end := range []string{"abort", "commit"} {
			t.Run(tt.name+" "+end, func(t *testing.T) {
				d, s := openStore(t, "", Options{SpillBytes: 1})
				l := s.NewLease()
				dg, err := l.PutBytes(ctx, tt.b)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.waitSpill(); err != nil {
					t.Fatal(err)
				}
				st := checkPacked(t, d)
				if len(st.early) < 2 || len(st.packs) != 0 || st.alone != 0 || has(t, s, dg) {
					t.Fatalf("%d early packs, %d packs, %d values alone, blob found %v: want a chunked blob in early packs only",
						len(st.early), len(st.packs), st.alone, has(t, s, dg))
				}
				if end == "abort" {
					if err := l.Abort(); err != nil {
						t.Fatal(err)
					}
					if st := checkPacked(t, d); fmt.Sprint(st) != fmt.Sprint(packedState{packs: map[uint64]packLive{}, early: map[uint64]int{}, packMarks: map[uint64]bool{}}) {
						t.Errorf("after the abort: %+v; want an empty store", st)
					}
					return
				}
				if err := l.Commit(ctx, nil); err != nil {
					t.Fatal(err)
				}
				readsBack(t, s, dg, tt.b)
				var chunks []manifest.Digest
				if err := d.View(func(tx *bolt.Tx) (err error) { chunks, err = ChunksOfTx(tx, dg); return err }); err != nil {
					t.Fatal(err)
				}
				for _, c := range chunks {
					if _, packed, _ := entryOf(t, d, db.BucketChunks, c); !packed {
						t.Errorf("chunk %s gone or not packed", c.Short())
					}
				}
				if st := checkPacked(t, d); st.marks() != 0 || len(st.early) != 0 || st.blobs != 1 || !settled(t, d, dg) {
					t.Errorf("after the commit: %d marks, %d early packs, %d blobs, settled %v", st.marks(), len(st.early), st.blobs, settled(t, d, dg))
				}
			})
		}
	}
}

// Settle refuses to make permanent a chunk list written early whose chunk
// lies in another lease's early pack: the blob would not be whole, and
// would lose the chunk with that lease's failure. (A chunk list large
// enough to lie alone describes a blob of gigabytes, so the test writes
// one by hand.)
func TestPack_SettleRefusesUnseenChunk(t *testing.T) {
	d, s := openStore(t, "", Options{})
	chunks := [][]byte{[]byte("a chunk in an early pack"), []byte("and another")}
	var refs []chunkRef
	p := &pack{}
	for _, b := range chunks {
		refs = append(refs, chunkRef{manifest.Sum(b), int64(len(b))})
		p.add(valueRef{chunk: true, digest: manifest.Sum(b)}, appendRawValue(nil, b))
	}
	c := refs[0].digest
	whole := bytes.Join(chunks, nil)
	list := encodeChunkList(int64(len(whole)), refs)
	blob := manifest.Sum(whole)
	err := d.Update(ctx, func(tx *bolt.Tx) error {
		bk, err := openBuckets(tx)
		if err != nil {
			return err
		}
		if _, err := bk.writeEarlyPack(p); err != nil {
			return err
		}
		if err := putValue(bk.blobs, blob, list); err != nil {
			return err
		}
		return tx.Bucket(db.BucketProvisional).Put(valueRef{digest: blob}.key(), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Update(ctx, func(tx *bolt.Tx) error { return s.Settle(tx, blob) })
	if !errors.Is(err, db.ErrNotFound) || !strings.Contains(err.Error(), c.String()) {
		t.Fatalf("Settle: %v; want ErrNotFound naming chunk %s", err, c)
	}
	if settled(t, d, blob) {
		t.Fatal("the failed settle left the chunk list settled")
	}
}

// bbolt keeps a pack's bytes by reference until the transaction commits:
// a pooled pack buffer handed back before that, and taken and overwritten
// by another put meanwhile, corrupts the values it held. The commit's own
// function stands in for that other put here.
func TestPack_BuffersOutliveTheCommit(t *testing.T) {
	scribble := func(*bolt.Tx) error {
		var taken []*pack
		for range 2 {
			p := newPack()
			p.data = append(p.data[:0], 0xa5)
			for len(p.data) < cap(p.data) {
				p.data = p.data[:min(2*len(p.data), cap(p.data))]
				copy(p.data[len(p.data)/2:], p.data)
			}
			taken = append(taken, p)
		}
		for _, p := range taken {
			p.recycle()
		}
		return nil
	}
	t.Run("staged pack", func(t *testing.T) {
		_, s := openStore(t, "", Options{})
		bs := smallBlobs(80, 10)
		l := s.NewLease()
		ds, err := l.PutBatch(ctx, bs)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(ctx, scribble); err != nil {
			t.Fatal(err)
		}
		for i, dg := range ds {
			readsBack(t, s, dg, bs[i])
		}
	})
	t.Run("settled value moved", func(t *testing.T) {
		rounds := 8
		if testing.Short() {
			rounds = 3
		}
		for round := range rounds {
			d, s := openStore(t, "", Options{SpillBytes: 2 * 10000})
			x, other := payload(uint64(81+2*round), 10000), payload(uint64(82+2*round), 10000)
			a := s.NewLease()
			xd, _ := a.PutBytes(ctx, x)
			a.PutBytes(ctx, other)
			if err := a.waitSpill(); err != nil {
				t.Fatal(err)
			}
			b := s.NewLease()
			if _, err := b.PutBytes(ctx, x); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(ctx, scribble); err != nil {
				t.Fatal(err)
			}
			if err := a.Abort(); err != nil {
				t.Fatal(err)
			}
			readsBack(t, s, xd, x)
			checkPacked(t, d)
		}
	})
}

// Leases putting overlapping blobs at once, writing early, committing or
// aborting: afterwards every blob some lease committed reads back, no
// other survives, and no mark is left.
func TestPack_ConcurrentLeasesOverlap(t *testing.T) {
	d, s := openStore(t, "", Options{SpillBytes: 16 << 10})
	pool := smallBlobs(90, 24)
	for i := range pool {
		pool[i] = pool[i][:min(len(pool[i]), 4000)]
	}
	var mu sync.Mutex
	committed := map[int]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	workers, rounds := 8, 6
	if testing.Short() {
		rounds = 3
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				l := s.NewLease()
				var picked []int
				for k := range 8 {
					i := (w*5 + r*7 + k*3) % len(pool)
					if _, err := l.PutBytes(ctx, pool[i]); err != nil {
						errs <- err
						return
					}
					picked = append(picked, i)
				}
				if (w+r)%3 == 0 {
					if err := l.Abort(); err != nil {
						errs <- err
						return
					}
					continue
				}
				if err := l.Commit(ctx, nil); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, i := range picked {
					committed[i] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := checkPacked(t, d)
	if st.marks() != 0 {
		t.Errorf("%d provisional marks once every lease ended", st.marks())
	}
	for i, b := range pool {
		dg := manifest.Sum(b)
		switch {
		case committed[i]:
			readsBack(t, s, dg, b)
			if !settled(t, d, dg) {
				t.Errorf("committed blob %d is provisional", i)
			}
		case has(t, s, dg):
			t.Errorf("blob %d survived: no lease that put it committed", i)
		}
	}
	if st.blobs != int64(len(committed)) {
		t.Errorf("%d blobs stored, %d committed", st.blobs, len(committed))
	}
}

func TestPack_RefEncoding(t *testing.T) {
	var dg manifest.Digest
	for _, r := range []packedRef{
		{1, 0, 0}, {1, 0, 2}, {7, 4 << 20, packMax}, {1<<64 - 1, 1 << 40, 1}, {300, 12345, 6789},
	} {
		got, err := parsePackedRef(dg, r.encode())
		if err != nil || got != r {
			t.Errorf("%+v encoded as %x parses to %+v, %v", r, r.encode(), got, err)
		}
	}
	ok := packedRef{5, 10, 20}.encode()
	for _, bad := range [][]byte{
		nil, {}, {formatPacked}, {formatRaw, 1, 2, 3}, {formatZstd, 1, 2, 3}, {formatChunks, 1, 2, 3},
		ok[:len(ok)-1], append(bytes.Clone(ok), 0),
		packedRef{1, 0, packMax + 1}.encode(),
		packedRef{1, 1<<40 + 1, 1}.encode(),
		append([]byte{formatPacked}, bytes.Repeat([]byte{0xff}, 10)...),
		append([]byte{formatPacked, 1, 1}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02),
	} {
		if r, err := parsePackedRef(dg, bad); err == nil || !errors.Is(err, db.ErrCorrupt) {
			t.Errorf("%x parses to %+v, %v; want ErrCorrupt", bad, r, err)
		}
	}
	for _, l := range []packLive{{0, 0, 0}, {1, 2, 3}, {5000, 4 << 20, 5 << 20}, {1 << 50, 1 << 50, 1 << 50}} {
		got, err := parsePackLive(9, l.encode())
		if err != nil || got != l {
			t.Errorf("%+v encoded as %x parses to %+v, %v", l, l.encode(), got, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {1, 2}, {0x80}, packLive{1<<50 + 1, 0, 0}.encode()} {
		if l, err := parsePackLive(9, bad); err == nil || !errors.Is(err, db.ErrCorrupt) {
			t.Errorf("packlive %x parses to %+v, %v; want ErrCorrupt", bad, l, err)
		}
	}
}

// FuzzPackedRef feeds arbitrary bytes to the parsers of packed references
// and packlive/ entries: they refuse or return what encodes back to the
// same thing, and never panic.
func FuzzPackedRef(f *testing.F) {
	for _, r := range []packedRef{{1, 0, 2}, {7, 4 << 20, packMax}, {1<<64 - 1, 1 << 40, 1}, {1, 0, packMax + 1}} {
		f.Add(r.encode())
	}
	for _, l := range []packLive{{1, 2, 3}, {5000, 4 << 20, 5 << 20}} {
		f.Add(l.encode())
	}
	f.Add([]byte{})
	f.Add([]byte{formatPacked})
	f.Add([]byte{formatPacked, 0x81, 0x00, 0x80, 0x00, 0x02}) // not minimal
	f.Add([]byte{formatPacked, 1, 2, 3, 4})
	f.Add(append([]byte{formatPacked}, bytes.Repeat([]byte{0xff}, 11)...))
	f.Add(encodeValue(DefaultLevel, []byte("a value, not a reference")))
	f.Fuzz(func(t *testing.T, b []byte) {
		dg := manifest.Sum(b)
		if r, err := parsePackedRef(dg, b); err == nil {
			if b[0] != formatPacked || r.length > packMax || r.offset > 1<<40 || r.offset < 0 || r.length < 0 {
				t.Fatalf("%x accepted as %+v", b, r)
			}
			enc := r.encode()
			if len(enc) > len(b) || enc[0] != formatPacked {
				t.Fatalf("%+v from %x encodes as %x", r, b, enc)
			}
			got, err := parsePackedRef(dg, enc)
			if err != nil || got != r {
				t.Fatalf("%x: %+v encodes as %x, which parses to %+v, %v", b, r, enc, got, err)
			}
		} else if !errors.Is(err, db.ErrCorrupt) {
			t.Fatalf("%x refused with %v, not ErrCorrupt", b, err)
		}
		if l, err := parsePackLive(1, b); err == nil {
			if l.values < 0 || l.bytes < 0 || l.size < 0 {
				t.Fatalf("%x accepted as %+v", b, l)
			}
			got, err := parsePackLive(1, l.encode())
			if err != nil || got != l {
				t.Fatalf("%x: %+v encodes as %x, which parses to %+v, %v", b, l, l.encode(), got, err)
			}
		} else if !errors.Is(err, db.ErrCorrupt) {
			t.Fatalf("packlive %x refused with %v, not ErrCorrupt", b, err)
		}
	})
}

// A lease that found the store empty puts with no look at it (Lease.empty):
// a blob another lease commits meanwhile is staged again, and stored once,
// whether the first lease writes it at its commit or early, in a pack.
func TestLease_PutBytes_StoredMeanwhileAfterEmptyLook(t *testing.T) {
	tests := []struct {
		name  string
		spill int
		x     []byte
	}{
		{"written at the commit", 0, jsonLike(31, 6000)},
		{"written early, packed", 4 << 10, jsonLike(32, 6000)},
		{"written early, alone", 4 << 10, payload(33, maxRawPacked+1)},
		{"written at the commit, alone", 0, payload(34, maxRawPacked+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, s := openStore(t, "", Options{SpillBytes: tt.spill})
			first, other := jsonLike(30, 5000), s.NewLease()
			a := s.NewLease()
			if _, err := a.PutBytes(ctx, first); err != nil { // finds the store empty
				t.Fatal(err)
			}
			if _, err := other.PutBytes(ctx, tt.x); err != nil {
				t.Fatal(err)
			}
			if err := other.Commit(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.PutBytes(ctx, tt.x); err != nil {
				t.Fatal(err)
			}
			if err := a.Commit(ctx, nil); err != nil {
				t.Fatal(err)
			}
			readsBack(t, s, manifest.Sum(first), first)
			readsBack(t, s, manifest.Sum(tt.x), tt.x)
			st := checkPacked(t, d)
			if want := int64(len(first) + len(tt.x)); st.blobs != 2 || st.logical != want {
				t.Errorf("counters: %d blobs of %d bytes; want 2 of %d", st.blobs, st.logical, want)
			}
			if st.marks() != 0 {
				t.Errorf("%d provisional marks after both commits", st.marks())
			}
		})
	}
}

// A pack begun by a chunk's tail starts small and moves once to a buffer
// of packRoom when it outgrows it, every value where its member says.
func TestPack_Add_TailPackOutgrowsItsBuffer(t *testing.T) {
	p := newTailPack()
	defer p.recycle()
	if cap(p.data) >= packRoom {
		t.Fatalf("a tail pack begins with room for %d bytes, as much as any pack", cap(p.data))
	}
	var values [][]byte
	for i := 0; len(p.data) < 2*tailPackRoom; i++ {
		b := payload(uint64(i+1), 3000+i)
		values = append(values, b)
		p.addRaw(valueRef{chunk: true, digest: manifest.Sum(b)}, b)
	}
	if cap(p.data) < packRoom {
		t.Fatalf("a tail pack of %d bytes has room for %d", len(p.data), cap(p.data))
	}
	for i, m := range p.members {
		h, err := parseValue(m.ref.digest, p.data[m.offset:m.offset+m.length])
		if err != nil || !bytes.Equal(h.payload, values[i]) {
			t.Fatalf("value %d of the pack: %v", i, err)
		}
	}
}
