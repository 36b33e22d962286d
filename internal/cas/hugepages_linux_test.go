package cas

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/processfork/pf/internal/heaplimit"
	"github.com/processfork/pf/internal/heaplimit/heaplimittest"
)

// A list of one size (packs, chunkers' buffers) makes a buffer of a huge
// page or more on a huge page's boundary, with exactly the room asked
// for; a smaller one is a plain allocation.
func TestBufferList_Get_LargeOnHugePageBoundary(t *testing.T) {
	cases := []struct {
		name    string
		n       int
		aligned bool
	}{
		{"pack", packRoom, true},
		{"chunker", chunkerBuffer, true},
		{"one huge page", hugePage, true},
		{"head", InlineMax + 1, false},
		{"small", 4 << 10, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := &bufferList{max: 16 << 20, huge: true}
			b := l.get(c.n)
			want := (c.n + bufferStep - 1) / bufferStep * bufferStep
			if len(b) != 0 || cap(b) != want {
				t.Fatalf("get(%d) = len %d cap %d, want len 0 cap %d", c.n, len(b), cap(b), want)
			}
			b = b[:1]
			if at := uintptr(unsafe.Pointer(&b[0])) % hugePage; c.aligned && at != 0 {
				t.Fatalf("get(%d) starts %d bytes past a huge page's boundary, want on it", c.n, at)
			}
			full := b[:cap(b)]
			full[len(full)-1] = 1 // the whole room is there to write
			l.put(b)
			if again := l.get(c.n); cap(again) != want || &again[:1][0] != &b[0] {
				t.Fatalf("get(%d) after put did not reuse the buffer", c.n)
			}
		})
	}
}

// A new buffer of a list of many sizes, in a process that chose huge
// pages for its heap, leaves the heap mapping it lies in advised as huge
// pages: the kernel lists "hg" in its VmFlags.
func TestBufferList_Get_AdvisesHeapAround(t *testing.T) {
	heaplimit.SetHugeHeap(true)
	t.Cleanup(func() { heaplimit.SetHugeHeap(false) })
	l := &bufferList{max: 16 << 20}
	b := l.get(3 << 20)[:1]
	if flags := heaplimittest.VmFlags(t, uintptr(unsafe.Pointer(&b[0]))); !strings.Contains(flags, " hg") {
		t.Fatalf("the buffer's mapping has %q, want hg (MADV_HUGEPAGE) among them", flags)
	}
}
