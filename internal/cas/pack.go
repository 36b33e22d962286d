package cas

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Small values are packed: the values of up to packMax bytes that one
// transaction writes go side by side into packs of about packTarget bytes,
// one bbolt value each, and blobs/ or chunks/ keeps for each digest only a
// reference into its pack. bbolt spends a page allocation, a page header,
// a write call and the rounding up to whole pages on every value: a 4 KiB
// file took two pages, a 16 KiB cache page five, and a snapshot of many
// small blobs spent more time in bbolt's bookkeeping than in writing bytes.
// A pack is written once and never changed: what a delete changes is the
// count in packlive/, and a pack goes when its last value does. Packs that
// deletes leave mostly empty are rewritten by RepackSparse.
const (
	packMax    = 256 << 10
	packTarget = 4 << 20
)

// formatPacked is the first byte of a packed reference, distinct from
// every value format so that neither is ever taken for the other.
const formatPacked byte = 0x03

// Keys inside a pack's bucket.
var (
	packDataKey    = []byte{0}
	packMembersKey = []byte{1}
)

type packedRef struct {
	pack           uint64
	offset, length int
}

func packKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func (r packedRef) encode() []byte {
	b := make([]byte, 1, 1+3*binary.MaxVarintLen64)
	b[0] = formatPacked
	b = binary.AppendUvarint(b, r.pack)
	b = binary.AppendUvarint(b, uint64(r.offset))
	return binary.AppendUvarint(b, uint64(r.length))
}

func parsePackedRef(d manifest.Digest, b []byte) (packedRef, error) {
	if len(b) == 0 || b[0] != formatPacked {
		return packedRef{}, corrupt(d, "stored reference does not start with 0x%02x", formatPacked)
	}
	var fields [3]uint64
	if !readUvarints(b[1:], fields[:]) || fields[1] > 1<<40 || fields[2] > packMax {
		return packedRef{}, corrupt(d, "bad packed reference")
	}
	return packedRef{pack: fields[0], offset: int(fields[1]), length: int(fields[2])}, nil
}

// readUvarints fills fields from b, which must hold exactly that many
// uvarints.
func readUvarints(b []byte, fields []uint64) bool {
	for i := range fields {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return false
		}
		fields[i], b = v, b[n:]
	}
	return len(b) == 0
}

// unpack returns the value a packed reference names, as it lies in the
// transaction's memory.
func unpack(tx *bolt.Tx, d manifest.Digest, ref []byte) ([]byte, error) {
	r, err := parsePackedRef(d, ref)
	if err != nil {
		return nil, err
	}
	data, err := packData(tx, r.pack)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return r.in(d, data)
}

// in returns d's value from data, the pack r names.
func (r packedRef) in(d manifest.Digest, data []byte) ([]byte, error) {
	if r.offset+r.length > len(data) {
		return nil, corrupt(d, "packed at %d+%d in pack %d of %d bytes", r.offset, r.length, r.pack, len(data))
	}
	return data[r.offset : r.offset+r.length : r.offset+r.length], nil
}

// packMembers lists the values pack key was written with, from its
// members list; some may have moved or gone since.
func packMembers(key, list []byte) ([]valueRef, error) {
	const size = 1 + len(manifest.Digest{})
	if len(list)%size != 0 {
		return nil, corruptPack(key, fmt.Sprintf("members list of %d bytes", len(list)))
	}
	refs := make([]valueRef, 0, len(list)/size)
	for ; len(list) > 0; list = list[size:] {
		ref, ok := parseValueRefKey(list[:size])
		if !ok {
			return nil, corruptPack(key, "bad members list")
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

func packData(tx *bolt.Tx, id uint64) ([]byte, error) {
	packs, err := db.Bucket(tx, db.BucketPacks)
	if err != nil {
		return nil, err
	}
	pb := packs.Bucket(packKey(id))
	if pb == nil {
		return nil, fmt.Errorf("%w: pack %d is missing", db.ErrCorrupt, id)
	}
	return pb.Get(packDataKey), nil
}

// packLive is a pack's entry in packlive/.
type packLive struct {
	values, bytes, size int64
}

func (l packLive) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(l.values))
	b = binary.AppendUvarint(b, uint64(l.bytes))
	return binary.AppendUvarint(b, uint64(l.size))
}

func parsePackLive(id uint64, b []byte) (packLive, error) {
	var fields [3]uint64
	if !readUvarints(b, fields[:]) || max(fields[0], fields[1], fields[2]) > 1<<50 {
		return packLive{}, fmt.Errorf("%w: packlive entry of pack %d", db.ErrCorrupt, id)
	}
	return packLive{int64(fields[0]), int64(fields[1]), int64(fields[2])}, nil
}

// sparse reports whether less than half of the pack is live.
func (l packLive) sparse() bool { return 2*l.bytes < l.size }

// A pack is built in memory, then written whole by writePack. Its buffer
// has room for packTarget bytes and one more value, so appending never
// moves it; buffers are pooled, because zeroing 4 MiB for a snapshot that
// writes a few KiB would cost more than the snapshot.
type pack struct {
	data    []byte
	members []packMember
}

type packMember struct {
	ref            valueRef
	offset, length int
}

var packBuffers = sync.Pool{New: func() any { return &pack{data: make([]byte, 0, packTarget+packMax)} }}

func newPack() *pack { return packBuffers.Get().(*pack) }

// recycle returns p's buffer to the pool. Only once no transaction can
// still read it: bbolt keeps a value's slice until its commit.
func (p *pack) recycle() {
	p.data, p.members = p.data[:0], p.members[:0]
	packBuffers.Put(p)
}

func (p *pack) full() bool { return len(p.data) >= packTarget }

// add copies v into the pack as ref's value.
func (p *pack) add(ref valueRef, v []byte) {
	p.members = append(p.members, packMember{ref, len(p.data), len(v)})
	p.data = append(p.data, v...)
}

// addRaw appends b, stored raw, as ref's value: one copy of b where
// encoding to a buffer and then packing would take two.
func (p *pack) addRaw(ref valueRef, b []byte) {
	off := len(p.data)
	p.data = appendRawValue(p.data, b)
	p.members = append(p.members, packMember{ref, off, len(p.data) - off})
}

// writePack writes p and a reference to it for each member that keep
// accepts, and returns the pack's id and those members; nothing when keep
// refuses all. What keep refuses stays in the pack as dead bytes, counted
// as such in packlive/ for RepackSparse.
func writePack(tx *bolt.Tx, p *pack, keep func(b *bolt.Bucket, m packMember) bool) (id uint64, kept []packMember, err error) {
	packs, err := db.Bucket(tx, db.BucketPacks)
	if err != nil {
		return 0, nil, err
	}
	var (
		members []byte
		live    int64
	)
	// In key order, as commitEarly says why; offsets are kept per member.
	slices.SortFunc(p.members, func(a, b packMember) int { return bytes.Compare(a.ref.digest[:], b.ref.digest[:]) })
	for _, m := range p.members {
		b, err := db.Bucket(tx, m.ref.bucket())
		if err != nil {
			return 0, nil, err
		}
		if !keep(b, m) {
			continue
		}
		if id == 0 {
			if id, err = packs.NextSequence(); err != nil {
				return 0, nil, err
			}
		}
		if err := b.Put(m.ref.digest[:], packedRef{id, m.offset, m.length}.encode()); err != nil {
			return 0, nil, err
		}
		kept = append(kept, m)
		members = append(members, m.ref.key()...)
		live += int64(m.length)
	}
	if len(kept) == 0 {
		return 0, nil, nil
	}
	counts, err := db.Bucket(tx, db.BucketPackLive)
	if err != nil {
		return 0, nil, err
	}
	if err := putPack(packs, id, p.data, members); err != nil {
		return 0, nil, err
	}
	l := packLive{values: int64(len(kept)), bytes: live, size: int64(len(p.data))}
	return id, kept, counts.Put(packKey(id), l.encode())
}

func putPack(packs *bolt.Bucket, id uint64, data, members []byte) error {
	pb, err := packs.CreateBucket(packKey(id))
	if err != nil {
		return fmt.Errorf("%w: new pack %d: %v", db.ErrCorrupt, id, err)
	}
	if err := pb.Put(packDataKey, data); err != nil {
		return err
	}
	return pb.Put(packMembersKey, members)
}

// An earlyPack is a pack that a lease wrote before its commit: it lies in
// packs/ with its mark in provisional/, but nothing refers to it and it
// has no packlive/ entry, so no one finds its values until the lease's
// commit writes their references (commitEarly); if the lease fails,
// the pack goes whole (dropEarlyPack). Writing the references at each
// early write instead rewrote most leaves of blobs/ every time, as new
// digests fall all over it: a bulk load of 10,000 blobs of 16 KiB, in 20
// early writes, made 2,208 page writes that way and makes 394 this way
// (strace -c), and runs about 8% faster.
type earlyPack struct {
	id      uint64
	size    int64
	members []earlyMember
}

type earlyMember struct {
	packMember
	logical int64 // the blob's size, for the counters; none for a chunk
}

// writeEarlyPack writes p as an early pack, its mark included.
func writeEarlyPack(tx *bolt.Tx, p *pack) (earlyPack, error) {
	packs, err := db.Bucket(tx, db.BucketPacks)
	if err != nil {
		return earlyPack{}, err
	}
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return earlyPack{}, err
	}
	id, err := packs.NextSequence()
	if err != nil {
		return earlyPack{}, err
	}
	ep := earlyPack{id: id, size: int64(len(p.data)), members: make([]earlyMember, len(p.members))}
	members := make([]byte, 0, len(p.members)*len(valueRef{}.key()))
	for i, m := range p.members {
		ep.members[i].packMember = m
		if !m.ref.chunk {
			h, err := parseValue(m.ref.digest, p.data[m.offset:m.offset+m.length])
			if err != nil {
				return earlyPack{}, err
			}
			ep.members[i].logical = h.size
		}
		members = append(members, m.ref.key()...)
	}
	if err := putPack(packs, id, p.data, members); err != nil {
		return earlyPack{}, err
	}
	return ep, prov.Put(packMark(id), nil)
}

// commitEarly makes a lease's early packs permanent, in its commit: a
// reference for each member that no one stored meanwhile, counted in t,
// and a packlive/ entry in place of each mark. The members no one refers
// to are dead bytes in their pack, and a pack of nothing but those goes.
// It returns the values it made findable. The references go in in key
// order: bbolt inserts into a node's sorted slice, so a bulk load into an
// empty blobs/ in random order moved most of the node on every insert.
func commitEarly(tx *bolt.Tx, early []earlyPack, t *tally) ([]valueRef, error) {
	if len(early) == 0 {
		return nil, nil
	}
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return nil, err
	}
	blobs, err := db.Bucket(tx, db.BucketBlobs)
	if err != nil {
		return nil, err
	}
	chunks, err := db.Bucket(tx, db.BucketChunks)
	if err != nil {
		return nil, err
	}
	type placed struct {
		m    *earlyMember
		pack int // index in early
	}
	var all []placed
	live := make([]packLive, len(early))
	for i := range early {
		live[i].size = early[i].size
		for j := range early[i].members {
			all = append(all, placed{&early[i].members[j], i})
		}
	}
	// By digest alone: what goes into each bucket is then in order too.
	slices.SortFunc(all, func(a, b placed) int { return bytes.Compare(a.m.ref.digest[:], b.m.ref.digest[:]) })
	var stored []valueRef
	for _, p := range all {
		m, b := p.m, blobs
		if m.ref.chunk {
			b = chunks
		}
		if hasValue(b, m.ref.digest) {
			continue
		}
		if err := b.Put(m.ref.digest[:], packedRef{early[p.pack].id, m.offset, m.length}.encode()); err != nil {
			return nil, err
		}
		live[p.pack].values++
		live[p.pack].bytes += int64(m.length)
		t.count(m.ref, int64(m.length), m.logical, +1)
		stored = append(stored, m.ref)
	}
	packs, err := db.Bucket(tx, db.BucketPacks)
	if err != nil {
		return nil, err
	}
	counts, err := db.Bucket(tx, db.BucketPackLive)
	if err != nil {
		return nil, err
	}
	for i, ep := range early {
		key := packKey(ep.id)
		if err := prov.Delete(packMarkOf(key)); err != nil {
			return nil, err
		}
		if live[i].values == 0 {
			err = packs.DeleteBucket(key)
		} else {
			err = counts.Put(key, live[i].encode())
		}
		if err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// isEarlyPack reports whether the pack at key in packs/ is an early pack
// not committed: marked, and without a packlive/ entry.
func isEarlyPack(prov, live *bolt.Bucket, key []byte) bool {
	return prov.Get(packMarkOf(key)) != nil && live.Get(key) == nil
}

// dropEarlyPack deletes the pack at key, and its mark, if it is still an
// early pack (a commit that made it permanent deleted the mark), and
// returns how many values it held.
func dropEarlyPack(tx *bolt.Tx, key []byte) (int, error) {
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return 0, err
	}
	live, err := db.Bucket(tx, db.BucketPackLive)
	if err != nil {
		return 0, err
	}
	if !isEarlyPack(prov, live, key) {
		return 0, nil
	}
	packs, err := db.Bucket(tx, db.BucketPacks)
	if err != nil {
		return 0, err
	}
	n := 0
	if pb := packs.Bucket(key); pb != nil {
		n = len(pb.Get(packMembersKey)) / len(valueRef{}.key())
		if err := packs.DeleteBucket(key); err != nil {
			return 0, err
		}
	}
	return n, prov.Delete(packMarkOf(key))
}

// keepAll is writePack's keep for values that are moved, not new.
func keepAll(*bolt.Bucket, packMember) bool { return true }

// unpackDelete removes a packed value's reference from b and takes it off
// its pack's count; the pack goes with its last value.
func unpackDelete(b *bolt.Bucket, d manifest.Digest, ref []byte) error {
	r, err := parsePackedRef(d, ref)
	if err != nil {
		return err
	}
	if err := b.Delete(d[:]); err != nil {
		return err
	}
	tx := b.Tx()
	live, err := db.Bucket(tx, db.BucketPackLive)
	if err != nil {
		return err
	}
	key := packKey(r.pack)
	l, err := parsePackLive(r.pack, live.Get(key))
	if err != nil {
		return err
	}
	l.values--
	l.bytes -= int64(r.length)
	if l.values > 0 {
		return live.Put(key, l.encode())
	}
	if err := live.Delete(key); err != nil {
		return err
	}
	packs, err := db.Bucket(tx, db.BucketPacks)
	if err != nil {
		return err
	}
	if err := packs.DeleteBucket(key); err != nil {
		return err
	}
	prov, err := db.Bucket(tx, db.BucketProvisional)
	if err != nil {
		return err
	}
	return prov.Delete(packMark(r.pack))
}

func corruptPack(key []byte, msg string) error {
	return fmt.Errorf("%w: pack %x: %s", db.ErrCorrupt, key, msg)
}
