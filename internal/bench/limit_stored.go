package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// The stored-bytes limit of incompressible data (limitLeastBolt): the
// size of the least bbolt file that holds what a store built as pf is
// must hold. pf keeps every value in one bbolt file under the value's
// 32-byte SHA-256, a blob over cas.InlineMax cut by FastCDC as pf cuts
// it, each chunk a value of its own; on random bytes no store can keep
// fewer bytes of data, so what is left to weigh is how little bbolt can
// spend around them. The file holds:
//
//   - every distinct value's bytes, raw, side by side in one bbolt
//     value under an 8-byte key (a pack as large as bbolt takes a value,
//     2 GiB; more would make more of them): a value alone takes whole
//     pages (a 16 KiB one five, a chunk half a page more on average), a
//     pack spreads its last page over all it holds, and pf's own packs
//     of 4 MiB leave one such page in two or three packs (measured: on
//     the 16 KiB blobs 70 KB more than one pack, on the 1 GiB blob
//     233 KB);
//   - for each value, its digest and where it lies (pack, offset and
//     length as uvarints, as pf's packed references are): what a read by
//     digest needs;
//   - for each cut blob, its digest and the digests of its chunks in
//     order;
//
// every bucket filled whole in key order (bbolt's FillPercent 1.0, as
// compaction copies), in a new file opened with pf's options. Nothing
// else: no format byte, no counters, no list of a pack's members, no
// schema. Its size is its allocated blocks, as `du` counts every row's.

const (
	limitLeastBolt = "limit: least bbolt file"
	// leastPackMax is the most a pack of the least file holds: the
	// largest value bbolt takes.
	leastPackMax = bolt.MaxValueSize
)

var (
	leastPacks  = []byte("packs")
	leastIndex  = []byte("index")
	leastBlobsB = []byte("blobs")
)

// A leastValue is one value the least file holds: its digest and bytes.
type leastValue struct {
	key   [32]byte
	bytes []byte
}

// leastValues returns the distinct values a store built as pf is holds
// for blobs, in key order, and the chunk list of each cut blob (its
// digest, then its chunks' digests).
func leastValues(blobs [][]byte) (values []leastValue, lists map[[32]byte][]byte, err error) {
	var mu sync.Mutex
	seen := map[[32]byte]bool{}
	lists = map[[32]byte][]byte{}
	for _, b := range blobs {
		var chunks [][32]byte
		var offsets []int // each chunk's place in b: cutAndHash hands them on out of order
		digest, err := cutAndHash(b, func(key [32]byte, c []byte) error {
			mu.Lock()
			defer mu.Unlock()
			chunks = append(chunks, key)
			offsets = append(offsets, offsetIn(b, c))
			if !seen[key] {
				seen[key] = true
				values = append(values, leastValue{key, c})
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if len(b) > cas.InlineMax {
			order := make([]int, len(chunks))
			for i := range order {
				order[i] = i
			}
			slices.SortFunc(order, func(x, y int) int { return offsets[x] - offsets[y] })
			list := make([]byte, 0, 32*len(chunks))
			for _, i := range order {
				list = append(list, chunks[i][:]...)
			}
			lists[digest] = list
		}
	}
	slices.SortFunc(values, func(x, y leastValue) int { return bytes.Compare(x.key[:], y.key[:]) })
	return values, lists, nil
}

// offsetIn is where c, a slice of b, starts in b.
func offsetIn(b, c []byte) int { return cap(b) - cap(c) }

// leastBoltBytes writes the least file for blobs in dir and returns its
// allocated bytes, its size and the bytes of the values it holds; the
// file is removed. It checks that the file holds every value's bytes.
func leastBoltBytes(dir string, blobs [][]byte) (disk, apparent, held int64, err error) {
	values, lists, err := leastValues(blobs)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, v := range values {
		held += int64(len(v.bytes))
	}
	path := filepath.Join(dir, "limit-least.bolt")
	os.Remove(path)
	defer os.Remove(path)
	bdb, err := bolt.Open(path, 0o600, db.BoltOptions(0))
	if err != nil {
		return 0, 0, 0, err
	}
	defer bdb.Close()

	// One transaction: bbolt writes a leaf whole again whenever a key
	// lands in it, and a leaf of large values holds two or three, so
	// packs put over several transactions leave the earlier copies of
	// each last leaf as free pages (a tenth of the file on the 16 KiB
	// blobs, in transactions of 64 MiB).
	if err := bdb.Update(func(tx *bolt.Tx) error {
		packs, err := tx.CreateBucket(leastPacks)
		if err != nil {
			return err
		}
		packs.FillPercent = 1.0
		index, err := tx.CreateBucket(leastIndex)
		if err != nil {
			return err
		}
		index.FillPercent = 1.0
		var packID uint64
		for next := 0; next < len(values); {
			packID++
			var pack []byte
			for next < len(values) && (len(pack) == 0 || len(pack)+len(values[next].bytes) <= leastPackMax) {
				v := values[next]
				ref := binary.AppendUvarint(binary.AppendUvarint(binary.AppendUvarint(nil, packID), uint64(len(pack))), uint64(len(v.bytes)))
				if err := index.Put(v.key[:], ref); err != nil {
					return err
				}
				pack = append(pack, v.bytes...)
				next++
			}
			if err := packs.Put(binary.BigEndian.AppendUint64(nil, packID), pack); err != nil {
				return err
			}
		}
		if len(lists) == 0 {
			return nil
		}
		bl, err := tx.CreateBucket(leastBlobsB)
		if err != nil {
			return err
		}
		bl.FillPercent = 1.0
		keys := make([][32]byte, 0, len(lists))
		for k := range lists {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
		for _, k := range keys {
			if err := bl.Put(k[:], lists[k]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, 0, 0, err
	}
	if err := checkLeast(bdb, values); err != nil {
		return 0, 0, 0, err
	}
	if err := bdb.Close(); err != nil {
		return 0, 0, 0, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return 0, 0, 0, err
	}
	return allocated(info), info.Size(), held, nil
}

// checkLeast reads every value back through the index and checks its
// digest: the file is a store, not a count of bytes.
func checkLeast(bdb *bolt.DB, values []leastValue) error {
	return bdb.View(func(tx *bolt.Tx) error {
		index, packs := tx.Bucket(leastIndex), tx.Bucket(leastPacks)
		if index.Stats().KeyN != len(values) {
			return fmt.Errorf("least file: %d index entries for %d values", index.Stats().KeyN, len(values))
		}
		for _, v := range values {
			ref := index.Get(v.key[:])
			f, ok := parseLeastRef(ref)
			if ref == nil || !ok {
				return fmt.Errorf("least file: no index entry for %x", v.key)
			}
			pack := packs.Get(binary.BigEndian.AppendUint64(nil, f[0]))
			if f[1]+f[2] > uint64(len(pack)) || sha256.Sum256(pack[f[1]:f[1]+f[2]]) != v.key {
				return fmt.Errorf("least file: value %x does not read back", v.key)
			}
		}
		return nil
	})
}

// parseLeastRef reads a reference of the least file's index: pack,
// offset and length, three uvarints and nothing after them.
func parseLeastRef(ref []byte) (f [3]uint64, ok bool) {
	for i := range f {
		v, n := binary.Uvarint(ref)
		if n <= 0 {
			return f, false
		}
		f[i], ref = v, ref[n:]
	}
	return f, len(ref) == 0
}

// leastRow measures limitLeastBolt for blobs as a row of workload.
func (j *job) leastRow(workload string, blobs [][]byte) (Row, error) {
	disk, apparent, held, err := leastBoltBytes(j.Work, blobs)
	if err != nil {
		return Row{}, fmt.Errorf("%s: %w", limitLeastBolt, err)
	}
	return Row{Workload: workload, System: limitLeastBolt, Stored: int64p(disk), StoredApparent: int64p(apparent),
		Note: leastNote(held, disk)}, nil
}

// leastNote says, in the row of a least file of disk bytes, what it
// holds: held bytes of values, and the rest, exactly, since the figures
// it is weighed against differ by less than the table's MiB.
func leastNote(held, disk int64) string {
	return fmt.Sprintf("the values' %s bytes and %s more: each distinct value raw, side by side in one bbolt value, "+
		"an index of 32-byte digest → pack, offset, length, a cut blob's chunk list; bbolt pages filled whole",
		commas(int(held)), commas(int(disk-held)))
}
