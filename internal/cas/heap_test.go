package cas_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/heaplimit/heaplimittest"
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

// openWithoutMemoryLimit opens a new store whose puts spill to the file
// past spill bytes and hold the heap to 48 MiB over what is live, with
// the process's soft memory limit lifted for the test, so that a put
// that lowers it shows.
func openWithoutMemoryLimit(t *testing.T, spill int) *cas.Bolt {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "store.pf"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	old := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	return cas.New(d, cas.Options{SpillBytes: spill, HeapHeadroom: 48 << 20})
}

func TestBolt_Put_HoldsTheHeapOnlyWhileALargeValueStreams(t *testing.T) {
	const spill = 4 << 20
	s := openWithoutMemoryLimit(t, spill)

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

// TestLease_Put_BytesInMemoryDoNotHoldTheHeap puts values larger than
// SpillBytes that the caller already holds in memory (a listing, bytes)
// beside one streamed from a reader, while a goroutine watches the
// process's soft memory limit: only the streamed put may lower it. A
// process that keeps a large heap (pf serve with a tree of 100,000 files)
// would otherwise collect again and again for each listing it puts.
func TestLease_Put_BytesInMemoryDoNotHoldTheHeap(t *testing.T) {
	const spill, size = 1 << 20, 16 << 20
	s := openWithoutMemoryLimit(t, spill)

	tests := []struct {
		name  string
		put   func(context.Context, *cas.Lease, []byte) error
		bound bool
	}{
		{"PutBytes", func(ctx context.Context, l *cas.Lease, b []byte) error {
			_, err := l.PutBytes(ctx, b)
			return err
		}, false},
		{"PutListing", func(ctx context.Context, l *cas.Lease, b []byte) error {
			_, err := l.PutListing(ctx, b)
			return err
		}, false},
		{"Put from a reader", func(ctx context.Context, l *cas.Lease, b []byte) error {
			_, err := l.Put(ctx, onlyReader{bytes.NewReader(b)})
			return err
		}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, size)
			rand.NewChaCha8([32]byte{byte(i)}).Read(b)
			lowered := heaplimittest.Lowered(func() {
				l := s.NewLease()
				defer l.Abort()
				if err := tt.put(context.Background(), l, b); err != nil {
					t.Fatal(err)
				}
			})
			if lowered != tt.bound {
				t.Errorf("memory limit lowered during the put: %v, want %v", lowered, tt.bound)
			}
		})
	}
}

// onlyReader hides any method of its reader but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
