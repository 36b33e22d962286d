package bench

import (
	"fmt"
	"os"
	"time"

	"github.com/processfork/pf/internal/cas"
	bolt "go.etcd.io/bbolt"
)

// limitReadHash is the first checkpoint's own limit: what any first
// checkpoint of the workspace must do at least, done as cheaply as this
// machine can, on the same tree as pf's row, with nothing stored: every
// directory listed and every file opened, read, hashed (SHA-256, as pf's
// format keys a blob) and closed, on every core (see readTree).
//
// Writing the bytes read once more into one file with one fdatasync is
// no floor, so it is not a row: a store that compresses writes fewer.
// Measured on the growing tree (2 GiB of log lines), that write alone
// took 6.7 to 8.1 s here, while pf's whole first checkpoint of it took
// 7.59 s in the last full run, keeping it in 648 MiB.
const limitReadHash = "limit: read + SHA-256"

// limitReadHashZstd is limitReadHash with each file also compressed as
// a put compresses it (zstd at pf's level, the files a put would try:
// 2 KiB or more, not random-looking; a file of more than a chunk in
// pieces of InlineMax), the compressed bytes thrown away: what a first
// checkpoint into a store that compresses as pf does must do at least.
// Without compression pf's store of GOROOT/src would be three times
// its size (127 MB against 42 MB), more than git's.
const limitReadHashZstd = "limit: read + SHA-256 + zstd"

// A treeRead counts what readTree read; Sum is the XOR of every regular
// file's SHA-256, the same whatever order the files were read in.
// Compressed is how many of the bytes went through zstd, Packed what
// zstd made of them, Cut how many are in files a put cuts into chunks.
type treeRead struct {
	Files, Dirs, Links, Bytes int64
	Compressed, Packed, Cut   int64
	Sum                       [32]byte
}

func (r *treeRead) add(o treeRead) {
	r.Files, r.Dirs, r.Links, r.Bytes = r.Files+o.Files, r.Dirs+o.Dirs, r.Links+o.Links, r.Bytes+o.Bytes
	r.Compressed, r.Packed, r.Cut = r.Compressed+o.Compressed, r.Packed+o.Packed, r.Cut+o.Cut
	for i := range r.Sum {
		r.Sum[i] ^= o.Sum[i]
	}
}

// ignoredDir is what the checkpoints' limits leave out, as the trees'
// .gitignore and pf do: the ignored node_modules/, and git's own.
func ignoredDir(name string) bool { return name == "node_modules" || name == ".git" }

// firstLimit times readTree on the workspace ws, as makeWorkspace left
// it (as each system's job finds it before its first checkpoint), each
// round after a sync, as each first checkpoint round starts: once
// reading and hashing (limitReadHash), once compressing too
// (limitReadHashZstd), a row where a put would compress any of the files;
// where it would compress none, once storing the bytes too
// (limitReadHashBolt, firstBoltLimit). There are none where the system
// lacks the calls.
func (j *job) firstLimit(t CkptTree, ws string) (rows []Row, err error) {
	if !canReadTree {
		return nil, nil
	}
	for _, compress := range []bool{false, true} {
		row := Row{Workload: ckptWorkload(t.Job, stepFirst), System: limitReadHash}
		what := "read and hash every file"
		if compress {
			row.System, what = limitReadHashZstd, "read, hash and compress every file"
		}
		// A limit takes the best case: a warm-up round, not counted.
		p := j.Policy.CkptFirst
		p.Warmup = true
		var read treeRead
		row.Seconds, err = j.rounds(what, p, func() (time.Duration, error) {
			syncAll()
			start := time.Now()
			r, err := readTree(ws, ignoredDir, treeWorkers(), compress)
			read = r
			return time.Since(start), err
		})
		if err != nil {
			return nil, err
		}
		row.Note = fmt.Sprintf("%s files, %s dirs, %s read, %s links; %d goroutines",
			commas(int(read.Files)), commas(int(read.Dirs)), fmtBytes(read.Bytes), commas(int(read.Links)), treeWorkers())
		if compress {
			// A tree whose files a put keeps raw (the 100,000 small
			// files, each under 2 KiB) has no second floor: it would be
			// the first one again.
			if read.Compressed == 0 {
				row, err := j.firstBoltLimit(t, ws)
				if err != nil {
					return nil, err
				}
				rows = append(rows, row)
				continue
			}
			row.Note = fmt.Sprintf("%s of the %s read compressed into %s; %d goroutines",
				fmtBytes(read.Compressed), fmtBytes(read.Bytes), fmtBytes(read.Packed), treeWorkers())
			stored, err := j.firstZstdBoltLimit(t, ws, false)
			if err != nil {
				return nil, err
			}
			rows = append(rows, row, stored)
			if read.Cut > 0 {
				cut, err := j.firstZstdBoltLimit(t, ws, true)
				if err != nil {
					return nil, err
				}
				rows = append(rows, cut)
			}
			continue
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// firstBoltLimit times limitReadHashBolt on the workspace ws as
// firstLimit times its other rows: readTreePacked, then storeTreePacks
// (boltFloorRounds).
func (j *job) firstBoltLimit(t CkptTree, ws string) (Row, error) {
	row := Row{Workload: ckptWorkload(t.Job, stepFirst), System: limitReadHashBolt}
	var read treeRead
	var packs, indexed int
	var err error
	row.Seconds, err = j.boltFloorRounds("read, hash and store every file", func(bdb *bolt.DB) error {
		r, tp, err := readTreePacked(ws, ignoredDir, treeWorkers())
		if err != nil {
			return err
		}
		if indexed, err = storeTreePacks(bdb, tp); err != nil {
			return err
		}
		read, packs = r, len(tp.packs)
		return nil
	})
	if err != nil {
		return Row{}, err
	}
	row.Note = fmt.Sprintf("%s read into %s packs, %s index entries, one commit; %d goroutines",
		fmtBytes(read.Bytes), commas(packs), commas(indexed), treeWorkers())
	return row, nil
}

// firstZstdBoltLimit times limitReadHashZstdBolt, or with cut
// limitReadCutHashZstdBolt, on the workspace ws as firstLimit times its
// other rows: readTreeStored into a valueSink, its last commit in the
// time (boltFloorRounds).
func (j *job) firstZstdBoltLimit(t CkptTree, ws string, cut bool) (Row, error) {
	row := Row{Workload: ckptWorkload(t.Job, stepFirst), System: limitReadHashZstdBolt}
	what := "read, hash, compress and store every file"
	if cut {
		row.System, what = limitReadCutHashZstdBolt, "read, cut, hash, compress and store every file"
	}
	var read treeRead
	var commits int
	var stored int64
	var err error
	row.Seconds, err = j.boltFloorRounds(what, func(bdb *bolt.DB) error {
		sink := newValueSink(bdb)
		r, err := readTreeStored(ws, ignoredDir, treeWorkers(), sink, cut)
		if cerr := sink.close(); err == nil {
			err = cerr
		}
		read, commits, stored = r, sink.commits, sink.stored
		return err
	})
	if err != nil {
		return Row{}, err
	}
	row.Note = fmt.Sprintf("%s of the %s read compressed, %s stored in %s commits of %s; %d goroutines",
		fmtBytes(read.Compressed), fmtBytes(read.Bytes), fmtBytes(stored), commas(commits), sizeName(cas.DefaultSpillBytes), treeWorkers())
	return row, nil
}

// boltFloorRounds times fill on a new bbolt file from openPackFloor in
// the job's work directory (on the stores' file system), made before
// each round and removed after, neither timed, each round after a sync,
// a warm-up round not counted, as firstLimit times its other rows.
func (j *job) boltFloorRounds(what string, fill func(bdb *bolt.DB) error) ([]float64, error) {
	p := j.Policy.CkptFirst
	p.Warmup = true
	return j.rounds(what, p, func() (time.Duration, error) {
		bdb, path, err := openPackFloor(j.Work)
		if err != nil {
			return 0, err
		}
		defer os.Remove(path)
		defer bdb.Close()
		syncAll()
		start := time.Now()
		if err := fill(bdb); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	})
}
