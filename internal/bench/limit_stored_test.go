package bench

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/processfork/pf/internal/cas"
)

// The least file's values are what a store built as pf is holds: each
// blob up to cas.InlineMax whole, a larger one as the chunks pf cuts,
// each distinct value once, and for a cut blob the list of its chunks,
// which put together give the blob again.
func TestLimitLeastBolt_HoldsEachValueOnce(t *testing.T) {
	src := rand.NewChaCha8([32]byte{9})
	var blobs [][]byte
	for _, size := range []int{0, 1000, cas.InlineMax, cas.InlineMax + 1, 5 << 20} {
		b := make([]byte, size)
		src.Read(b)
		blobs = append(blobs, b)
	}
	blobs = append(blobs, blobs[4], blobs[1]) // stored once each
	values, lists, err := leastValues(blobs)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[[32]byte][]byte{}
	for i, v := range values {
		if sha256.Sum256(v.bytes) != v.key {
			t.Errorf("value %d is not under its digest", i)
		}
		if i > 0 && bytes.Compare(values[i-1].key[:], v.key[:]) >= 0 {
			t.Errorf("value %d out of key order", i)
		}
		byKey[v.key] = v.bytes
	}
	var want int
	for _, b := range blobs[:5] {
		if len(b) <= cas.InlineMax {
			want++
			if _, ok := byKey[sha256.Sum256(b)]; !ok {
				t.Errorf("blob of %d bytes not held whole", len(b))
			}
			continue
		}
		list, ok := lists[sha256.Sum256(b)]
		if !ok || len(list)%32 != 0 {
			t.Fatalf("blob of %d bytes: chunk list of %d bytes", len(b), len(list))
		}
		var again []byte
		for ; len(list) > 0; list = list[32:] {
			want++
			again = append(again, byKey[[32]byte(list[:32])]...)
		}
		if !bytes.Equal(again, b) {
			t.Errorf("blob of %d bytes: its chunks give %d other bytes", len(b), len(again))
		}
	}
	if len(values) != want || len(lists) != 2 {
		t.Errorf("%d values, %d chunk lists; want %d, 2", len(values), len(lists), want)
	}
}

// The least file holds every byte of the values (it reads each back
// through its index and checks its digest), and takes less than the
// values each alone in bbolt's pages (a 16 KiB value takes five) and no
// less than their bytes and a 32-byte digest each.
func TestLimitLeastBolt_Size(t *testing.T) {
	src := rand.NewChaCha8([32]byte{3})
	const n, size = 1000, 16 << 10
	blobs := make([][]byte, n)
	for i := range blobs {
		blobs[i] = make([]byte, size)
		src.Read(blobs[i])
	}
	disk, apparent, held, err := leastBoltBytes(t.TempDir(), blobs)
	if err != nil {
		t.Fatal(err)
	}
	data := int64(n * size)
	if held != data {
		t.Errorf("holds %d bytes of values, want %d", held, data)
	}
	if apparent < data+n*32 || disk > data*101/100+64<<10 {
		t.Errorf("%d bytes allocated (%d apparent) for %d bytes of values", disk, apparent, data)
	}
	if alone := int64(n * 5 * 4096); disk >= alone {
		t.Errorf("%d bytes allocated, no less than the %d of each value alone", disk, alone)
	}
}
