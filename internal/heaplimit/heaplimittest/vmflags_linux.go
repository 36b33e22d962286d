package heaplimittest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// VmFlags returns the VmFlags line of the mapping of /proc/self/smaps
// that holds at (among them "hg": advised as huge pages, MADV_HUGEPAGE);
// it fails t if none does.
func VmFlags(t testing.TB, at uintptr) string {
	t.Helper()
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
