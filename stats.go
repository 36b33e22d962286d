package pf

import (
	"context"
	"os"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/migrations"
	bolt "go.etcd.io/bbolt"
)

// Stats sums up a store. Byte counts are of content: bbolt's own page
// overhead and free pages show only in FileSize.
type Stats struct {
	Images int64
	Blobs  int64
	Chunks int64
	// Logical is the uncompressed bytes of every distinct blob and
	// manifest, stored once each.
	Logical int64
	// ImageLogical is what the images would take if each were stored
	// whole: the sum over images of the bytes each reaches.
	ImageLogical int64
	// Stored is the bytes of the stored values (compressed, chunked).
	Stored   int64
	FileSize int64
	Schema   int
}

// DedupeRatio is ImageLogical over Logical: how many times over sharing
// between images saves.
func (st Stats) DedupeRatio() float64 { return ratio(st.ImageLogical, st.Logical) }

// CompressionRatio is Logical over Stored.
func (st Stats) CompressionRatio() float64 { return ratio(st.Logical, st.Stored) }

func ratio(a, b int64) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Stats reads the store's counters, kept up to date by every commit.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.db.View(func(tx *bolt.Tx) error {
		st = Stats{
			Images:       db.Counter(tx, db.CounterImages),
			Blobs:        db.Counter(tx, db.CounterBlobs),
			Chunks:       db.Counter(tx, db.CounterChunks),
			Logical:      db.Counter(tx, db.CounterLogical),
			ImageLogical: db.Counter(tx, db.CounterImageLogical),
			Stored:       db.Counter(tx, db.CounterStored),
		}
		var err error
		st.Schema, err = migrations.Version(tx)
		return err
	})
	if err != nil {
		return st, err
	}
	if info, err := os.Stat(s.db.Path()); err == nil {
		st.FileSize = info.Size()
	}
	return st, nil
}
