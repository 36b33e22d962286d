// Package indextest builds stores of many images quickly, for the
// benchmarks of history queries. It writes manifests and index entries
// straight into the store file in large transactions, as Commit would
// write them but without one commit and fsync per image, so that a
// million images take about a minute instead of an hour.
package indextest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/internal/migrations"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Epoch is the created_at of the first image; each next image is one
// second later.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// batch is how many images one transaction writes.
const batch = 50_000

// version names the shape of the history Build writes; change it when
// that shape changes, so cached stores of the old shape are not reused.
const version = 1

// Build creates a store at path (which must not exist) holding n images
// whose layers all name the empty blob. The history is mostly one long
// line: every image's parent is the one before it, except that every
// 10,000th image is a new root, every 50th forks from ten images back, and
// every 500th merges the one before it with the one twenty back.
func Build(path string, n int) error {
	s, err := pf.Open(path, nil)
	if err != nil {
		return err
	}
	empty, err := s.Blobs().PutBytes(context.Background(), nil)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		NoSync:          true, // one fsync at the end is enough for a fixture
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return err
	}
	ids := make([]manifest.Digest, 0, n)
	for start := 0; start < n; start += batch {
		err := bdb.Update(func(tx *bolt.Tx) error {
			return writeBatch(tx, empty, &ids, start, min(n, start+batch))
		})
		if err != nil {
			bdb.Close()
			return err
		}
	}
	if err := bdb.Sync(); err != nil {
		bdb.Close()
		return err
	}
	return bdb.Close()
}

type row struct {
	id    manifest.Digest
	value []byte
	m     *manifest.Manifest
}

func writeBatch(tx *bolt.Tx, empty manifest.Digest, ids *[]manifest.Digest, from, to int) error {
	rows := make([]row, 0, to-from)
	var logical, stored int64
	for i := from; i < to; i++ {
		m := manifest.New(manifest.Agent{Kind: "bench", Version: "1.0.0", Fingerprint: fmt.Sprintf("fp-%d", i)},
			Epoch.Add(time.Duration(i)*time.Second), parentsOf(*ids, i)...)
		for _, l := range m.Layers() {
			m.SetLayer(l.Name, empty)
		}
		raw, err := m.Encode()
		if err != nil {
			return err
		}
		id := manifest.Sum(raw)
		*ids = append(*ids, id)
		rows = append(rows, row{id, cas.EncodeManifest(raw), m})
		logical += int64(len(raw))
	}
	// Keys in order: bbolt fills pages best when appending.
	slices.SortFunc(rows, func(a, b row) int { return bytes.Compare(a.id[:], b.id[:]) })
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := manifests.Put(r.id[:], r.value); err != nil {
			return err
		}
		stored += int64(len(r.value))
	}
	var timeKeys, parentKeys [][]byte
	for _, r := range rows {
		t, p := index.Keys(r.id, r.m.CreatedAt, r.m.Parents)
		timeKeys = append(timeKeys, t)
		parentKeys = append(parentKeys, p...)
	}
	for bucket, keys := range map[string][][]byte{string(db.BucketTime): timeKeys, string(db.BucketParent): parentKeys} {
		b, err := db.Bucket(tx, db.BucketIndex, []byte(bucket))
		if err != nil {
			return err
		}
		slices.SortFunc(keys, bytes.Compare)
		for _, k := range keys {
			if err := b.Put(k, nil); err != nil {
				return err
			}
		}
	}
	for name, delta := range map[string]int64{
		db.CounterImages:       int64(to - from),
		db.CounterImageLogical: logical,
		db.CounterLogical:      logical,
		db.CounterStored:       stored,
	} {
		if err := db.AddCounter(tx, name, delta); err != nil {
			return err
		}
	}
	return nil
}

func parentsOf(ids []manifest.Digest, i int) []manifest.Digest {
	switch {
	case i%10_000 == 0:
		return nil
	case i%500 == 0 && i%10_000 >= 20:
		return []manifest.Digest{ids[i-1], ids[i-20]}
	case i%50 == 0 && i%10_000 >= 10:
		return []manifest.Digest{ids[i-10]}
	}
	return []manifest.Digest{ids[i-1]}
}

// Cached returns the path of a store of n images built by Build, in the
// temporary directory. It is built on first use and kept, so later runs
// of a benchmark skip the build; its name records the shape of the
// history and the store's schema, so a newer pf builds a new one.
func Cached(n int) (string, error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("pf-indextest-v%d-schema%d-%d.pf", version, migrations.Latest(), n))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	os.Remove(tmp)
	if err := Build(tmp, n); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build a store of %d images: %w", n, err)
	}
	return path, os.Rename(tmp, path)
}
