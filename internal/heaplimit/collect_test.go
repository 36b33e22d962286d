package heaplimit_test

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/processfork/pf/internal/heaplimit"
)

// forcedCycles is how many collections the process has been asked for
// (runtime.GC) so far.
func forcedCycles() uint64 {
	sample := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// scannableHeap is what the collector marks: the heap less its objects
// without pointers.
func scannableHeap() int64 {
	sample := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(sample)
	return int64(sample[0].Value.Uint64())
}

// node is a heap object of pointers, which the collector must scan.
type node struct {
	next *node
	_    [6]*node
}

func TestCollectAfterWrite(t *testing.T) {
	tests := []struct {
		name string
		gogc int
		// scanned is how much of a heap of pointers the process keeps.
		scanned int
		// garbage is what the write left, in multiples of the scannable
		// heap as the test finds it.
		garbage float64
		want    bool
	}{
		{"garbage larger than the scannable heap", 100, 1 << 20, 2, true},
		{"garbage three quarters of the scannable heap", 100, 1 << 20, 0.75, true},
		{"garbage under half the scannable heap", 100, 1 << 20, 0.4, false},
		{"garbage a tenth of a large scannable heap", 100, 32 << 20, 0.1, false},
		{"collector off", -1, 1 << 20, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := debug.SetGCPercent(tt.gogc)
			defer debug.SetGCPercent(old)
			var kept *node
			for range tt.scanned / 56 {
				kept = &node{next: kept}
			}
			runtime.GC()
			garbage := int64(tt.garbage * float64(scannableHeap()))
			before := forcedCycles()
			got := heaplimit.CollectAfterWrite(garbage)
			if ran := forcedCycles() > before; got != tt.want || ran != tt.want {
				t.Errorf("CollectAfterWrite(%d) with %d scannable = %v (collected: %v), want %v", garbage, scannableHeap(), got, ran, tt.want)
			}
			runtime.KeepAlive(kept)
		})
	}
}
