//go:build unix

package cas

import (
	"bytes"
	"testing"
)

// Reads leave the pages around each chunk's head mapped, and drop the
// whole map once they pass mappedBudget (leaveMapped): the reads after a
// drop, in the same transaction's window and in later ones, take their
// bytes from pages mapped again, and must read the blob back exactly.
func TestBolt_Get_ReadsBackAcrossDropsOfTheMap(t *testing.T) {
	_, s := openStore(t, "", Options{})
	b := payload(21, 8<<20)
	d, err := s.PutBytes(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := s.Chunks(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	// Enough reads to pass the budget twice: each reads every head (too
	// large to pack; a tail is packed).
	heads := 0
	for _, c := range chunks {
		if c.Size > packMax {
			heads++
		}
	}
	reads := 2*mappedBudget/(faultAround*heads) + 1
	for i := range reads {
		got, err := s.Get(ctx, d)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("read %d of %d: %d bytes of %d, %v", i, reads, len(got), len(b), err)
		}
	}
}
