// Package indextest builds stores of many images quickly, for the
// benchmarks of history queries. It files images' records with
// index.Put, as Commit does, but straight into the store file in large
// transactions, without one commit and fsync per image, so that a million
// images take about a minute instead of an hour.
package indextest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/processfork/pf"
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
		NoSync:          true,  // one fsync at the end is enough for a fixture
		NoFreelistSync:  false, // as the store writes it: see internal/db
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

func writeBatch(tx *bolt.Tx, empty manifest.Digest, ids *[]manifest.Digest, from, to int) error {
	entries := make([]index.Entry, 0, to-from)
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
		e := index.NewEntry(raw, m)
		*ids = append(*ids, e.ID)
		entries = append(entries, e)
	}
	// Every layer names the empty blob: the images reach no bytes.
	return index.Put(tx, entries...)
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
