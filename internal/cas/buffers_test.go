package cas

import "testing"

// A request is served by the smallest free buffer with room for it, unless
// that buffer is twice its size or more; past the bound, the buffers given
// back longest ago go.
func TestBufferList_BestFitWithinTwice(t *testing.T) {
	l := &bufferList{max: 3 << 20}
	small, large := l.get(512<<10), l.get(1<<20)
	if cap(small) != 512<<10 || cap(large) != 1<<20 {
		t.Fatalf("new buffers of %d and %d bytes, want 512 KiB and 1 MiB", cap(small), cap(large))
	}
	l.put(large)
	l.put(small)
	if b := l.get(300 << 10); cap(b) != 512<<10 {
		t.Fatalf("300 KiB got a buffer of %d bytes, want the free 512 KiB one", cap(b))
	}
	if b := l.get(256 << 10); cap(b) != 256<<10 {
		t.Fatalf("256 KiB got a buffer of %d bytes, want a new one: the free 1 MiB is four times its size", cap(b))
	}
	if b := l.get(700 << 10); cap(b) != 1<<20 {
		t.Fatalf("700 KiB got a buffer of %d bytes, want the free 1 MiB one", cap(b))
	}
	for range 4 {
		l.put(make([]byte, 0, 1<<20))
	}
	if l.held != 3<<20 || len(l.free) != 3 {
		t.Fatalf("list holds %d bytes in %d buffers, want its bound of 3 MiB in 3", l.held, len(l.free))
	}
}

// ReleaseBuffers drops what every list keeps once it is more than keep
// bytes, and nothing when it is not.
func TestReleaseBuffers_DropsAllOnlyOverKeep(t *testing.T) {
	valueBuffers().put(make([]byte, 0, 1<<20))
	packBuffers().put(make([]byte, 0, 2<<20))
	held := heldInLists()
	if n := ReleaseBuffers(held); n != 0 || heldInLists() != held {
		t.Fatalf("ReleaseBuffers(%d) of lists holding %d bytes dropped %d, leaving %d; want none dropped", held, held, n, heldInLists())
	}
	if n := ReleaseBuffers(held - 1); n != held || heldInLists() != 0 {
		t.Fatalf("ReleaseBuffers(%d) of lists holding %d bytes dropped %d, leaving %d; want all dropped", held-1, held, n, heldInLists())
	}
}

// heldInLists is how many bytes every list keeps.
func heldInLists() int {
	held := 0
	for _, l := range bufferLists() {
		l.mu.Lock()
		held += l.held
		l.mu.Unlock()
	}
	return held
}
