package bench

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// limitReadHashBolt is limitReadHash with every file's bytes also stored
// as a store built as pf is must store them, and as cheaply as this
// machine does it (storeTreePacks): raw, side by side in packs of about
// cas.PackTarget, one bbolt value each, and one index entry per distinct
// file keyed by its SHA-256, in one new bbolt file opened with pf's
// options, one commit. It is measured where a put would keep every file
// raw (none compressed: the 100,000 small files); a store that
// compresses writes fewer bytes than these, so elsewhere it is no floor.
const limitReadHashBolt = "limit: read + SHA-256 + bbolt"

// A packEntry is where one file's bytes lie: in treePacks.packs[pack]
// at off, n bytes long; pack is -1 for a file too large to pack, whose
// bytes are treePacks.large[off].
type packEntry struct {
	sum    [32]byte
	pack   int
	off, n int
}

// treePacks is what readTreePacked keeps of the bytes it read: full
// packs, the files too large to pack (more than cas.PackMax, each a
// value of its own as the store keeps them), and an entry per file.
type treePacks struct {
	mu      sync.Mutex
	packs   [][]byte
	large   [][]byte
	entries []packEntry
}

// A workerPack is the pack one of readTree's workers fills, and the
// entries of the files in it, whose pack is set when it is handed off:
// each worker fills its own, with no lock per file.
type workerPack struct {
	data    []byte
	entries []packEntry
}

// keep copies data, the bytes of the file whose SHA-256 is sum, into the
// worker's pack p, handing p off once it holds cas.PackTarget bytes; a
// file larger than cas.PackMax is kept in a copy of its own.
func (tp *treePacks) keep(p *workerPack, sum [32]byte, data []byte) {
	if len(data) > cas.PackMax {
		tp.mu.Lock()
		tp.entries = append(tp.entries, packEntry{sum: sum, pack: -1, off: len(tp.large), n: len(data)})
		tp.large = append(tp.large, slices.Clone(data))
		tp.mu.Unlock()
		return
	}
	if p.data == nil {
		// Room for a full pack and one more value: never grown.
		p.data = make([]byte, 0, cas.PackTarget+cas.PackMax)
	}
	p.entries = append(p.entries, packEntry{sum: sum, off: len(p.data), n: len(data)})
	p.data = append(p.data, data...)
	if len(p.data) >= cas.PackTarget {
		tp.handOff(p)
	}
}

// handOff adds the worker's pack p, if it holds anything, to the packs,
// and empties p.
func (tp *treePacks) handOff(p *workerPack) {
	if len(p.entries) == 0 {
		return
	}
	tp.mu.Lock()
	id := len(tp.packs)
	tp.packs = append(tp.packs, p.data)
	for _, e := range p.entries {
		e.pack = id
		tp.entries = append(tp.entries, e)
	}
	tp.mu.Unlock()
	p.data, p.entries = nil, p.entries[:0]
}

// Buckets of the limit's bbolt file, as the store's packs/, values of
// their own and blobs/ index.
var (
	floorPacks = []byte("packs")
	floorLarge = []byte("values")
	floorIndex = []byte("blobs")
)

// openPackFloor makes a new bbolt file in dir with pf's options and the
// buckets storeTreePacks fills: what `pf init` does, not timed.
func openPackFloor(dir string) (*bolt.DB, string, error) {
	path := filepath.Join(dir, "limit-first.bolt")
	os.Remove(path)
	bdb, err := bolt.Open(path, 0o600, db.BoltOptions(db.DefaultInitialMmapSize))
	if err != nil {
		return nil, "", err
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{floorPacks, floorLarge, floorIndex} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		bdb.Close()
		os.Remove(path)
		return nil, "", err
	}
	return bdb, path, nil
}

// storeTreePacks commits what readTreePacked kept into bdb (from
// openPackFloor) in one transaction, as cheaply as a store built as pf is
// can: each pack a value under its number; each large file a value
// under its digest; then, in key order (bbolt appends at the end of its
// leaves, filled whole: FillPercent 1), an index entry per distinct
// digest (a file's bytes stored twice are left where they lie) naming
// its pack, offset and length as varints, all in one buffer. No value
// format, no compression check, no members list, no counts, no check
// of what was stored before: the file is new. It returns how many
// values it indexed.
func storeTreePacks(bdb *bolt.DB, tp *treePacks) (int, error) {
	slices.SortFunc(tp.entries, func(a, b packEntry) int { return bytes.Compare(a.sum[:], b.sum[:]) })
	entries := slices.CompactFunc(tp.entries, func(a, b packEntry) bool { return a.sum == b.sum })
	refs := make([]byte, 0, len(entries)*3*binary.MaxVarintLen64)
	err := bdb.Update(func(tx *bolt.Tx) error {
		packs := tx.Bucket(floorPacks)
		for i, p := range tp.packs {
			if err := packs.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), p); err != nil {
				return err
			}
		}
		large, index := tx.Bucket(floorLarge), tx.Bucket(floorIndex)
		index.FillPercent = db.FillPercent
		for i := range entries {
			e := &entries[i]
			if e.pack < 0 {
				if err := large.Put(e.sum[:], tp.large[e.off]); err != nil {
					return err
				}
			}
			// bbolt keeps the slice until the commit: refs never grows
			// past its capacity, so no entry's bytes move.
			start := len(refs)
			refs = binary.AppendVarint(refs, int64(e.pack))
			refs = binary.AppendUvarint(refs, uint64(e.off))
			refs = binary.AppendUvarint(refs, uint64(e.n))
			if err := index.Put(e.sum[:], refs[start:len(refs):len(refs)]); err != nil {
				return err
			}
		}
		return nil
	})
	return len(entries), err
}
