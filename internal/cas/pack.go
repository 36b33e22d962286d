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

// PackMax and PackTarget are packMax and packTarget, for the benchmark's
// limits that pack values as the store does.
const (
	PackMax    = packMax
	PackTarget = packTarget
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

// A pack is built in memory, then written whole by writePack, into a
// buffer with room for the largest pack (packTarget, then one more value
// of up to packMax): a buffer grown as values came was copied at every
// doubling, and its new memory faulted in each time, which cost a
// snapshot of many small files a tenth of its time. The buffers are kept
// in a bufferList for the next packs, as a new one is memory the process
// faults in again.
type pack struct {
	data    []byte
	members []packMember
	tails   bool // begun by a chunk's tail (newTailPack)
}

type packMember struct {
	ref            valueRef
	offset, length int
}

// packRoom is the room of a pack's buffer: a pack is full once it holds
// packTarget bytes, and a value adds at most its header and packMax more.
const packRoom = packTarget + packMax + rawValueRoom

// packBuffers keep the buffers of packs written, for the next ones: a
// lease fills one while one batch waits to be written and one is written,
// each of a pack or two.
var packBuffers = sync.OnceValue(func() *bufferList {
	return &bufferList{max: 4 * (packRoom + bufferStep), huge: true}
})

func newPack() *pack { return &pack{data: packBuffers().get(packRoom)} }

// tailPackRoom is the room of a pack begun by a chunk's tail (pagedhead.go):
// a large blob's put packs a tail of under 4 KiB a chunk, a few in each
// early write, and a buffer of packRoom for them was 4 MiB more memory
// faulted in for a few KiB. Such a pack moves to a buffer of packRoom
// only if it outgrows this one (room).
const tailPackRoom = bufferStep

func newTailPack() *pack { return &pack{data: packBuffers().get(tailPackRoom), tails: true} }

// room makes room in p for a value of up to n bytes and its header: a
// pack begun small moves to a buffer of packRoom, once.
func (p *pack) room(n int) {
	if len(p.data)+rawValueRoom+n <= cap(p.data) {
		return
	}
	grown := append(packBuffers().get(packRoom), p.data...)
	packBuffers().put(p.data)
	p.data = grown
}

// recycle returns p's buffer to packBuffers. Only once no transaction can
// still read it: bbolt keeps a value's slice until its commit.
func (p *pack) recycle() {
	if p.data != nil {
		packBuffers().put(p.data)
	}
	p.data, p.members = nil, nil
}

func (p *pack) full() bool { return len(p.data) >= packTarget }

// add copies v into the pack as ref's value.
func (p *pack) add(ref valueRef, v []byte) {
	p.room(len(v))
	p.members = append(p.members, packMember{ref, len(p.data), len(v)})
	p.data = append(p.data, v...)
}

// addRaw appends b, stored raw, as ref's value: one copy of b where
// encoding to a buffer and then packing would take two.
func (p *pack) addRaw(ref valueRef, b []byte) {
	p.room(len(b))
	off := len(p.data)
	p.data = appendRawValue(p.data, b)
	p.members = append(p.members, packMember{ref, off, len(p.data) - off})
}

// writePack writes p and a reference to it for each member that keep
// accepts, and returns the pack's id and those members; nothing when keep
// refuses all. What keep refuses stays in the pack as dead bytes, counted
// as such in packlive/ for RepackSparse.
func (bk *buckets) writePack(p *pack, keep func(b *bolt.Bucket, m packMember) bool) (id uint64, kept []packMember, err error) {
	var (
		members []byte
		live    int64
	)
	// In key order, as commitEarly says why; offsets are kept per member.
	slices.SortFunc(p.members, func(a, b packMember) int { return bytes.Compare(a.ref.digest[:], b.ref.digest[:]) })
	for _, m := range p.members {
		b := bk.of(m.ref)
		if !keep(b, m) {
			continue
		}
		if id == 0 {
			if id, err = bk.packs.NextSequence(); err != nil {
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
	if err := putPack(bk.packs, id, p.data, members); err != nil {
		return 0, nil, err
	}
	l := packLive{values: int64(len(kept)), bytes: live, size: int64(len(p.data))}
	return id, kept, bk.packLive.Put(packKey(id), l.encode())
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

// keepAll is writePack's keep for values that are moved, not new.
func keepAll(*bolt.Bucket, packMember) bool { return true }

// unpackDelete removes ref's packed reference, packed, and takes the
// value off its pack's count; the pack goes with its last value.
func (bk *buckets) unpackDelete(ref valueRef, packed []byte) error {
	r, err := parsePackedRef(ref.digest, packed)
	if err != nil {
		return err
	}
	if err := bk.of(ref).Delete(ref.digest[:]); err != nil {
		return err
	}
	key := packKey(r.pack)
	l, err := parsePackLive(r.pack, bk.packLive.Get(key))
	if err != nil {
		return err
	}
	l.values--
	l.bytes -= int64(r.length)
	if l.values > 0 {
		return bk.packLive.Put(key, l.encode())
	}
	if err := bk.packLive.Delete(key); err != nil {
		return err
	}
	if err := bk.packs.DeleteBucket(key); err != nil {
		return err
	}
	return bk.provisional.Delete(packMark(r.pack))
}

func corruptPack(key []byte, msg string) error {
	return fmt.Errorf("%w: pack %x: %s", db.ErrCorrupt, key, msg)
}
