package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"time"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/fixture"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// limitHashBolt is the floor of a durable snapshot of the fixture in one
// bbolt file: what any store built as pf is (content addressed by
// SHA-256, one bbolt file, every committed image durable) cannot skip.
// Each snapshot hashes every blob on every core, then commits one
// transaction of a bbolt file opened with pf's options (db.BoltOptions,
// as pf's store) that appends the blobs not stored yet, raw, and the
// image's manifest. A bbolt commit writes its pages, then fdatasyncs
// twice (pages, then the meta page), and a commit that grows the file
// first truncates and fsyncs it. What is stored is known from a map in
// memory and the values go in under increasing keys, so that a commit
// rewrites no page of values it did not add; no index, no compression,
// no lease, no check of what the manifest names: pf does all of that.
const limitHashBolt = "limit: SHA-256 + bbolt"

// snapshotFloor is a bbolt file that fixture snapshots go into as
// limitHashBolt counts them.
type snapshotFloor struct {
	path   string
	bdb    *bolt.DB
	stored map[[32]byte]bool
	key    uint64 // of the last value put
}

var floorBucket = []byte("blobs")

// openSnapshotFloor makes a new bbolt file in dir with pf's options and
// its one bucket; holding, if not nil, is put in it first.
func openSnapshotFloor(dir string, holding *fixture.Fixture) (*snapshotFloor, error) {
	path := filepath.Join(dir, "limit-snapshot.bolt")
	os.Remove(path)
	bdb, err := bolt.Open(path, 0o600, db.BoltOptions(db.DefaultInitialMmapSize))
	if err != nil {
		return nil, err
	}
	s := &snapshotFloor{path: path, bdb: bdb, stored: map[[32]byte]bool{}}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(floorBucket)
		return err
	}); err != nil {
		s.close()
		return nil, err
	}
	if holding != nil {
		if err := s.snapshot(holding, nil); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// snapshot stores f as limitHashBolt counts a snapshot: every blob
// hashed on every core, the missing ones and the manifest put in one
// transaction. manifestRaw is the image's manifest, encoded (nil: none).
func (s *snapshotFloor) snapshot(f *fixture.Fixture, manifestRaw []byte) error {
	blobs := f.Blobs()
	sums := make([][32]byte, len(blobs))
	parallelIdx(len(blobs), func(i int) { sums[i] = sha256.Sum256(blobs[i].Data) })
	return s.bdb.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(floorBucket)
		put := func(v []byte) error {
			s.key++
			return bk.Put(binary.BigEndian.AppendUint64(nil, s.key), v)
		}
		for i, b := range blobs {
			if s.stored[sums[i]] {
				continue
			}
			s.stored[sums[i]] = true
			if err := put(b.Data); err != nil {
				return err
			}
		}
		if manifestRaw == nil {
			return nil
		}
		s.stored[manifest.Sum(manifestRaw)] = true
		return put(manifestRaw)
	})
}

func (s *snapshotFloor) close() error {
	err := s.bdb.Close()
	os.Remove(s.path)
	return err
}

// snapshotFloorRounds measures limitHashBolt on the three fixture
// workloads, as the fixture job times pf: cold, a snapshot of f into a
// new file; warm, snapshots of f, each the child of the one before, into
// a file that holds f; forks, forks snapshots into a file that holds f,
// timed together. Making and filling a file beforehand is not timed.
func (j *job) snapshotFloorRounds(f *fixture.Fixture, forks []*fixture.Fixture) ([]Row, error) {
	manifestOf := func(f *fixture.Fixture, parents ...manifest.Digest) ([]byte, manifest.Digest, error) {
		return fixtureManifest(f, j.now(), parents)
	}
	cold := Row{Workload: wlFixtureCold, System: limitHashBolt}
	var err error
	cold.Seconds, err = j.rounds(limitHashBolt+" cold", j.Policy.Snapshot, func() (time.Duration, error) {
		s, err := openSnapshotFloor(j.Work, nil)
		if err != nil {
			return 0, err
		}
		defer s.close()
		raw, _, err := manifestOf(f)
		if err != nil {
			return 0, err
		}
		syncAll()
		start := time.Now()
		err = s.snapshot(f, raw)
		return time.Since(start), err
	})
	if err != nil {
		return nil, err
	}

	warm := Row{Workload: wlFixtureWarm, System: limitHashBolt}
	s, err := openSnapshotFloor(j.Work, f)
	if err != nil {
		return nil, err
	}
	_, prev, err := manifestOf(f)
	if err == nil {
		warm.Seconds, err = j.rounds(limitHashBolt+" warm", j.Policy.Snapshot, func() (time.Duration, error) {
			raw, id, err := manifestOf(f, prev)
			if err != nil {
				return 0, err
			}
			prev = id
			syncAll()
			start := time.Now()
			err = s.snapshot(f, raw)
			return time.Since(start), err
		})
	}
	if cerr := s.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	forked := Row{Workload: wlFixtureForks, System: limitHashBolt}
	forked.Seconds, err = j.rounds(limitHashBolt+" forks", j.Policy.Forks, func() (time.Duration, error) {
		s, err := openSnapshotFloor(j.Work, f)
		if err != nil {
			return 0, err
		}
		defer s.close()
		_, base, err := manifestOf(f)
		if err != nil {
			return 0, err
		}
		raws := make([][]byte, len(forks))
		for k, fk := range forks {
			if raws[k], _, err = manifestOf(fk, base); err != nil {
				return 0, err
			}
		}
		syncAll()
		start := time.Now()
		for k, fk := range forks {
			if err := s.snapshot(fk, raws[k]); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	})
	if err != nil {
		return nil, err
	}
	return []Row{cold, warm, forked}, nil
}
