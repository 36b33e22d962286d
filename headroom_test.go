package pf_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/heaplimit/heaplimittest"
)

// TestOpen_HeapHeadroom streams a blob that writes early into stores
// opened with each kind of HeapHeadroom while a goroutine watches the
// process's soft memory limit: by default the put bounds the heap, as
// pf's CLI does; a negative headroom leaves it to the collector.
func TestOpen_HeapHeadroom(t *testing.T) {
	old := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(old)
	b := make([]byte, 24<<20)
	rand.NewChaCha8([32]byte{7}).Read(b)

	tests := []struct {
		name     string
		headroom int64
		bound    bool
	}{
		{"default", 0, true},
		{"set", 16 << 20, true},
		{"off", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pf.Open(filepath.Join(t.TempDir(), "store.pf"), &pf.Options{HeapHeadroom: tt.headroom})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			lowered := heaplimittest.Lowered(func() {
				if _, err := s.Blobs().Put(ctx, bytes.NewReader(b)); err != nil {
					t.Error(err)
				}
			})
			if lowered != tt.bound {
				t.Errorf("memory limit lowered during the put: %v, want %v", lowered, tt.bound)
			}
			if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
				t.Errorf("limit after the put = %d, want the process's own back", got)
			}
		})
	}
}
