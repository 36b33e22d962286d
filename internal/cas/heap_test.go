package cas_test

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
)

// limitSeen reads its bytes from r and notes the process's soft memory
// limit once the put has read past at.
type limitSeen struct {
	r     io.Reader
	read  int64
	at    int64
	limit int64
}

func (l *limitSeen) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.at && l.limit == 0 {
		l.limit = debug.SetMemoryLimit(-1)
	}
	return n, err
}

func TestBolt_Put_HoldsTheHeapOnlyWhileALargeValueStreams(t *testing.T) {
	const spill, headroom = 4 << 20, 48 << 20
	d, err := db.Open(filepath.Join(t.TempDir(), "store.pf"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := cas.New(d, cas.Options{SpillBytes: spill, HeapHeadroom: headroom})
	old := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(old)

	tests := []struct {
		name  string
		size  int64
		bound bool
	}{
		{"a value that stays in memory", spill / 2, false},
		{"a value that writes early", 6 * spill, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The chunker reads ahead of what it has cut: look near the end.
			r := &limitSeen{r: io.LimitReader(rand.NewChaCha8([32]byte{byte(tt.size)}), tt.size), at: tt.size - 1}
			if _, err := s.Put(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if bounded := r.limit != math.MaxInt64; bounded != tt.bound {
				t.Errorf("limit while it streamed = %d: bounded %v, want %v", r.limit, bounded, tt.bound)
			}
			if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
				t.Errorf("limit after the put = %d, want the process's own back", got)
			}
		})
	}
}
