package cas

import (
	"bytes"
	"testing"

	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Cut names the chunks a put stores, and each stored chunk's key is
// the SHA-256 of its own bytes: the first one's too, which the put takes
// from the whole blob's hash.
func TestCut_AsAPutStores(t *testing.T) {
	d, s := openStore(t, "", Options{})
	for _, tt := range []struct {
		name string
		size int
	}{
		{"inline", 100 << 10},
		{"just over inline", InlineMax + 1},
		{"4 MiB", 4 << 20},
		{"10 MiB", 10 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := payload(uint64(tt.size), tt.size)
			var sizes []int
			off := 0
			if err := Cut(b, func(c []byte) {
				if &c[0] != &b[off] {
					t.Fatalf("chunk %d is not the slice of b at %d", len(sizes), off)
				}
				sizes = append(sizes, len(c))
				off += len(c)
			}); err != nil {
				t.Fatal(err)
			}
			dg, err := s.Put(ctx, bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if dg != manifest.Sum(b) {
				t.Fatalf("digest %s, want the SHA-256 of the bytes", dg)
			}
			var refs []chunkRef
			if err := d.View(func(tx *bolt.Tx) error {
				var err error
				refs, err = chunkRefsTx(tx, dg)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if len(refs) == 0 {
				// Stored as one value: the cut left it whole.
				if len(sizes) != 1 || sizes[0] != len(b) {
					t.Fatalf("stored whole, Cut %v", sizes)
				}
				return
			}
			if len(refs) != len(sizes) {
				t.Fatalf("%d chunks stored, Cut names %d", len(refs), len(sizes))
			}
			off = 0
			for i, r := range refs {
				if int(r.size) != sizes[i] {
					t.Fatalf("chunk %d: stored %d bytes, Cut %d", i, r.size, sizes[i])
				}
				if want := manifest.Sum(b[off : off+sizes[i]]); r.digest != want {
					t.Fatalf("chunk %d: key %s, SHA-256 of its bytes %s", i, r.digest, want)
				}
				off += sizes[i]
			}
		})
	}
}
