package bench

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// limitReadHashZstdBolt is limitReadHashZstd with the bytes a put would
// store also written into a store, as cheaply as this machine does it
// (valueSink): each compressed piece (a file a put keeps raw, or a piece
// zstd saves less than one part in 16 of, raw) a bbolt value of its own,
// or, up to cas.PackMax, side by side in a pack, in one new bbolt file
// opened with pf's options, in commits of cas.DefaultSpillBytes as a put
// writes early, each fsync'd, one in flight while the next fills, as
// the bytes are compressed; the last commit also holds an index entry
// per distinct file, keyed by its SHA-256, naming where its pieces lie.
// No chunking, no second hash, no value format, no pack members list,
// no counts, no provisional marks, no stat cache, no tree: what a first
// checkpoint into any store that compresses as pf's does and keeps its
// bytes in such a file must do at least. It is measured where a put
// compresses some of the files.
const limitReadHashZstdBolt = "limit: read + SHA-256 + zstd + bbolt"

// limitReadCutHashZstdBolt is limitReadHashZstdBolt with what pf's
// format asks of a file over cas.InlineMax: cut into content-defined
// chunks as a put cuts it, each chunk hashed (SHA-256) as well as the
// whole file, and each chunk compressed and stored in place of the
// floor's pieces of a fixed size. Those chunks are what lets a later
// checkpoint store only the parts of a file that changed (the growing
// tree's turns); the floor stores them under sequence numbers still, not
// under their digests. It is measured where the tree has such a file.
const limitReadCutHashZstdBolt = "limit: read + cut + SHA-256 ×2 + zstd + bbolt"

// A valueLoc is where one stored piece lies: the value under key, or,
// if packed, n bytes at off in the pack under key; zstd says it is a
// zstd frame, not the piece's bytes.
type valueLoc struct {
	key    uint64
	packed bool
	zstd   bool
	off, n int
}

// A sinkBatch is what valueSink commits at once: a pack of small
// values, values of their own, and, in the last batch, the index.
type sinkBatch struct {
	packKey uint64
	pack    []byte
	keys    []uint64
	values  [][]byte
	bytes   int
	index   []sinkEntry
}

// A sinkEntry is one file's index entry: its SHA-256 and where its
// pieces lie, encoded.
type sinkEntry struct {
	sum  [32]byte
	locs []byte
}

// valueSink stores what readTree's compressing workers hand it into a
// bbolt file from openPackFloor: the values of a batch are committed
// together once they reach cas.DefaultSpillBytes, on a goroutine of
// their own, one commit in flight; a worker whose batch fills while the
// one before is being written waits, as a put's early write does.
type valueSink struct {
	bdb     *bolt.DB
	buffers sync.Pool // []byte of cas.InlineMax and a frame's room
	full    chan *sinkBatch
	done    chan struct{}

	mu      sync.Mutex
	batch   *sinkBatch
	seq     uint64
	entries []sinkEntry

	// Owned by the committing goroutine until done is closed.
	err     error
	commits int
	stored  int64
}

// newValueSink starts the committing goroutine on bdb.
func newValueSink(bdb *bolt.DB) *valueSink {
	s := &valueSink{bdb: bdb, full: make(chan *sinkBatch), done: make(chan struct{}), batch: &sinkBatch{}}
	go s.run()
	return s
}

// buffer returns a buffer a worker compresses a piece into, and hands
// to keep.
func (s *valueSink) buffer() []byte {
	if b, ok := s.buffers.Get().([]byte); ok {
		return b[:0]
	}
	return make([]byte, 0, cas.InlineMax+cas.InlineMax/16)
}

// keep stores v, a buffer from s.buffer that keep takes over, and
// returns where it lies.
func (s *valueSink) keep(v []byte) valueLoc {
	s.mu.Lock()
	b := s.batch
	var loc valueLoc
	if len(v) <= cas.PackMax {
		if b.pack == nil {
			b.packKey, s.seq = s.seq, s.seq+1
			b.pack = make([]byte, 0, cas.PackTarget+cas.PackMax)
		}
		loc = valueLoc{key: b.packKey, packed: true, off: len(b.pack), n: len(v)}
		b.pack = append(b.pack, v...)
		s.buffers.Put(v[:0])
	} else {
		loc = valueLoc{key: s.seq, n: len(v)}
		s.seq++
		b.keys = append(b.keys, loc.key)
		b.values = append(b.values, v)
	}
	b.bytes += len(v)
	if b.bytes < cas.DefaultSpillBytes {
		s.mu.Unlock()
		return loc
	}
	s.batch = &sinkBatch{}
	s.mu.Unlock()
	s.full <- b
	return loc
}

// index records the entry of the file whose SHA-256 is sum, its pieces
// at locs, for the last commit: for each piece, its key, its offset in
// the pack (-1: a value of its own), and its stored length shifted left
// by one, the low bit set for a zstd frame.
func (s *valueSink) index(sum [32]byte, locs []valueLoc) {
	enc := make([]byte, 0, len(locs)*3*binary.MaxVarintLen64)
	for _, l := range locs {
		off := int64(-1)
		if l.packed {
			off = int64(l.off)
		}
		enc = binary.AppendUvarint(enc, l.key)
		enc = binary.AppendVarint(enc, off)
		n := uint64(l.n) << 1
		if l.zstd {
			n |= 1
		}
		enc = binary.AppendUvarint(enc, n)
	}
	s.mu.Lock()
	s.entries = append(s.entries, sinkEntry{sum, enc})
	s.mu.Unlock()
}

// close commits what is left with the index, once the workers are done,
// and returns the first error.
func (s *valueSink) close() error {
	b := s.batch
	slices.SortFunc(s.entries, func(a, b sinkEntry) int { return bytes.Compare(a.sum[:], b.sum[:]) })
	b.index = slices.CompactFunc(s.entries, func(a, b sinkEntry) bool { return a.sum == b.sum })
	s.full <- b
	close(s.full)
	<-s.done
	return s.err
}

// run commits each batch it is handed, in one transaction each, and
// gives the buffers back; after an error it drops the rest.
func (s *valueSink) run() {
	defer close(s.done)
	for b := range s.full {
		if s.err == nil {
			s.err = s.commit(b)
		}
		for _, v := range b.values {
			s.buffers.Put(v[:0])
		}
	}
}

// commit writes b in one transaction: the pack, each value of its own
// under its key, the index entries in key order (bbolt appends at the
// end of its leaves, filled whole), and fsyncs it as bbolt's commit
// does.
func (s *valueSink) commit(b *sinkBatch) error {
	err := s.bdb.Update(func(tx *bolt.Tx) error {
		if b.pack != nil {
			if err := tx.Bucket(floorPacks).Put(binary.BigEndian.AppendUint64(nil, b.packKey), b.pack); err != nil {
				return err
			}
		}
		values := tx.Bucket(floorLarge)
		for i, v := range b.values {
			if err := values.Put(binary.BigEndian.AppendUint64(nil, b.keys[i]), v); err != nil {
				return err
			}
		}
		index := tx.Bucket(floorIndex)
		index.FillPercent = db.FillPercent
		for i := range b.index {
			if err := index.Put(b.index[i].sum[:], b.index[i].locs); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.commits++
		s.stored += int64(b.bytes)
	}
	return err
}

// keepPiece stores piece as a put would: z, what zstd made of it, lying
// in a buffer from s.buffer that keepPiece takes over, if it saves at
// least one part in 16, piece raw otherwise.
func (s *valueSink) keepPiece(piece, z []byte) valueLoc {
	if len(z) < len(piece)-len(piece)/16 {
		loc := s.keep(z)
		loc.zstd = true
		return loc
	}
	s.buffers.Put(z[:0])
	return s.keepRaw(piece)[0]
}

// keepRaw stores data raw, in pieces of at most cas.InlineMax, each
// copied: data lies in a buffer its reader reuses, or a map.
func (s *valueSink) keepRaw(data []byte) []valueLoc {
	var locs []valueLoc
	for off := 0; off < len(data) || off == 0; off += cas.InlineMax {
		buf := append(s.buffer(), data[off:min(len(data), off+cas.InlineMax)]...)
		locs = append(locs, s.keep(buf))
	}
	return locs
}
