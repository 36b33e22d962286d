package heaplimit_test

import (
	"testing"

	"github.com/processfork/pf/internal/heaplimit"
)

// A program that embeds pf runs on: its heap takes no huge pages unless it
// asks, and what it asks is kept until it asks otherwise.
func TestSetHugeHeap_OffUnlessSet(t *testing.T) {
	if heaplimit.HugeHeap() {
		t.Fatal("HugeHeap() = true in a process that never set it, want false")
	}
	heaplimit.SetHugeHeap(true)
	t.Cleanup(func() { heaplimit.SetHugeHeap(false) })
	if !heaplimit.HugeHeap() {
		t.Fatal("HugeHeap() = false after SetHugeHeap(true)")
	}
	heaplimit.SetHugeHeap(false)
	if heaplimit.HugeHeap() {
		t.Fatal("HugeHeap() = true after SetHugeHeap(false)")
	}
}
