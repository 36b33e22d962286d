package heaplimit_test

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/processfork/pf/internal/heaplimit"
	"github.com/processfork/pf/internal/heaplimit/heaplimittest"
)

// Memory the heap maps after AdviseHeap, as it grows, is advised as huge
// pages too, soon after: the kernel lists "hg" in its mapping's VmFlags.
func TestAdviseHeap_AdvisesWhatTheHeapMapsLater(t *testing.T) {
	heaplimit.SetHugeHeap(true)
	t.Cleanup(func() { heaplimit.SetHugeHeap(false) })
	first := make([]byte, 1<<20)
	heaplimit.AdviseHeap(unsafe.Pointer(&first[0]))
	later := make([]byte, 96<<20) // more than the heap has mapped
	at := uintptr(unsafe.Pointer(&later[len(later)-1]))
	deadline := time.Now().Add(5 * time.Second)
	for {
		flags := heaplimittest.VmFlags(t, at)
		if strings.Contains(flags, " hg") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mapping of a buffer made after AdviseHeap has %q after 5 s, want hg (MADV_HUGEPAGE) among them", flags)
		}
		time.Sleep(time.Millisecond)
	}
}

// A hold's advice lasts until its release: then the heap it advised is
// advised back to pages of 4 KiB ("nh"), which khugepaged leaves alone,
// and no more advice follows.
func TestHoldHugeHeap_TakesTheAdviceBack(t *testing.T) {
	release := heaplimit.HoldHugeHeap()
	t.Cleanup(release)
	inner := heaplimit.HoldHugeHeap()
	first := make([]byte, 1<<20)
	heaplimit.AdviseHeap(unsafe.Pointer(&first[0]))
	at := uintptr(unsafe.Pointer(&first[0]))
	if flags := heaplimittest.VmFlags(t, at); !strings.Contains(flags, " hg") {
		t.Fatalf("the heap held huge has %q, want hg (MADV_HUGEPAGE) among them", flags)
	}
	inner()
	if !heaplimit.HugeHeap() {
		t.Fatal("HugeHeap() = false while a hold remains")
	}
	release()
	if heaplimit.HugeHeap() {
		t.Fatal("HugeHeap() = true once every hold is released")
	}
	time.Sleep(20 * time.Millisecond) // longer than the adviser's period
	if flags := heaplimittest.VmFlags(t, at); strings.Contains(flags, " hg") || !strings.Contains(flags, " nh") {
		t.Fatalf("the heap once every hold is released has %q, want nh (MADV_NOHUGEPAGE) and no hg", flags)
	}
}
