package index_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
)

// A summary reads back as written, for roots, merges and empty or long
// agent fields; every value cut short, or with bytes to spare, is damage.
func TestSummary_RoundTripAndDamage(t *testing.T) {
	created := time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC)
	long := string(make([]byte, 300)) // a length of two varint bytes
	for _, m := range []*manifest.Manifest{
		manifest.New(manifest.Agent{Kind: "k"}, created),
		manifest.New(manifest.Agent{Kind: "claude-code", Version: "2.1", Fingerprint: long}, created, manifest.Sum([]byte("p"))),
		manifest.New(manifest.Agent{Kind: "k", Version: "v", Fingerprint: "f"}, created, manifest.Sum([]byte("into")), manifest.Sum([]byte("from"))),
	} {
		id := manifest.Sum([]byte(m.Agent.Fingerprint))
		key, v := index.TimeKey(m.CreatedAt, id), index.EncodeSummary(m)
		s, ok, err := index.DecodeSummary(key, v)
		if err != nil || !ok {
			t.Fatalf("%+v: %v, %v", m.Agent, ok, err)
		}
		if s.ID != id || !s.CreatedAt.Equal(created) || s.Agent != m.Agent || !slices.Equal(s.Parents, m.Parents) {
			t.Fatalf("summary %+v of %+v", s, m)
		}
		for cut := 1; cut < len(v); cut++ {
			if _, _, err := index.DecodeSummary(key, v[:cut]); !errors.Is(err, db.ErrCorrupt) {
				t.Fatalf("%+v cut to %d bytes: %v, want corrupt", m.Agent, cut, err)
			}
		}
		if _, _, err := index.DecodeSummary(key, append(slices.Clone(v), 0)); !errors.Is(err, db.ErrCorrupt) {
			t.Fatalf("%+v with a byte more: %v, want corrupt", m.Agent, err)
		}
	}
	// An empty value is an image filed without a summary: not damage.
	id := manifest.Sum([]byte("old"))
	s, ok, err := index.DecodeSummary(index.TimeKey(created, id), []byte{})
	if err != nil || ok || s.ID != id || !s.CreatedAt.Equal(created) {
		t.Fatalf("empty value: %+v, %v, %v", s, ok, err)
	}
}
