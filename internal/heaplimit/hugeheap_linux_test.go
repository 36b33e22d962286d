package heaplimit_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/processfork/pf/internal/heaplimit"
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
		flags := vmFlags(t, at)
		if strings.Contains(flags, " hg") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mapping of a buffer made after AdviseHeap has %q after 5 s, want hg (MADV_HUGEPAGE) among them", flags)
		}
		time.Sleep(time.Millisecond)
	}
}

// vmFlags returns the VmFlags line of the mapping of /proc/self/smaps
// that holds at.
func vmFlags(t *testing.T, at uintptr) string {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var inside bool
	for _, line := range strings.Split(string(smaps), "\n") {
		var start, end uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &start, &end); n == 2 && !strings.HasPrefix(line, "VmFlags") {
			inside = start <= at && at < end
			continue
		}
		if inside && strings.HasPrefix(line, "VmFlags:") {
			return line
		}
	}
	t.Fatalf("no mapping of /proc/self/smaps holds %#x", at)
	return ""
}
