package index_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/internal/migrations"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// ScanTime against the obvious reference: every key, filtered by the
// range and sorted, for many random ranges, cursors and both orders.
func TestScanTime_MatchesFilterAndSort(t *testing.T) {
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "index.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	var all [][]byte
	err = bdb.Update(func(tx *bolt.Tx) error {
		if _, _, err := migrations.Upgrade(tx); err != nil {
			return err
		}
		for i := range 40 {
			created := at(i / 3) // three images to an instant
			if i == 39 {
				created = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) // before the epoch
			}
			m := manifest.New(manifest.Agent{Kind: "test", Version: "1", Fingerprint: fmt.Sprint(i)}, created)
			raw, err := m.Encode()
			if err != nil {
				return err
			}
			e := index.NewEntry(raw, m)
			all = append(all, index.TimeKey(created, e.ID))
			if err := index.Put(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, bytes.Compare)

	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		r := index.TimeRange{Reverse: rng.IntN(2) == 0}
		if rng.IntN(3) > 0 {
			r.Since = at(rng.IntN(16) - 1)
		}
		if rng.IntN(3) > 0 {
			r.Until = at(rng.IntN(16) - 1)
		}
		if rng.IntN(2) == 0 {
			r.After = all[rng.IntN(len(all))]
		}
		var want [][]byte
		for _, k := range all {
			if r.Contains(k) {
				want = append(want, k)
			}
		}
		if !r.Reverse {
			slices.Reverse(want)
		}
		var got [][]byte
		err := bdb.View(func(tx *bolt.Tx) error {
			return index.ScanTime(tx, r, func(k []byte, id manifest.Digest) (bool, error) {
				if !bytes.Equal(k[len(k)-32:], id[:]) {
					t.Fatalf("key %x came with id %s", k, id)
				}
				got = append(got, bytes.Clone(k))
				return true, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("range %+v: got %d keys, want %d", r, len(got), len(want))
		}
	}
}

// TimeRange.Contains is the window's definition: since inclusive, until
// exclusive, After exclusive in the scan's order.
func TestTimeRange_Contains(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	id := manifest.Sum([]byte("x"))
	k := index.TimeKey(t0, id)
	tests := []struct {
		r    index.TimeRange
		want bool
	}{
		{index.TimeRange{}, true},
		{index.TimeRange{Since: t0}, true},
		{index.TimeRange{Since: t0.Add(1)}, false},
		{index.TimeRange{Until: t0}, false},
		{index.TimeRange{Until: t0.Add(1)}, true},
		{index.TimeRange{After: k}, false},
		{index.TimeRange{After: k, Reverse: true}, false},
		{index.TimeRange{After: index.TimeKey(t0.Add(1), id)}, true},
		{index.TimeRange{After: index.TimeKey(t0.Add(1), id), Reverse: true}, false},
	}
	for _, tt := range tests {
		if got := tt.r.Contains(k); got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.r, got, tt.want)
		}
	}
}
