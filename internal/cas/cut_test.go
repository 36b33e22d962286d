package cas

import (
	"bytes"
	"testing"

	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Cut names the chunks a put stores, each as its head and tail if the put
// keeps it raw (storedPieces), and each stored chunk's key is the
// SHA-256 of its own bytes: the first one's too, which a streamed put
// takes from the whole blob's hash, and every one of a PutBytes, which
// takes the blob's digest before it cuts and hashes only the chunks.
func TestCut_AsAPutStores(t *testing.T) {
	puts := []struct {
		name string
		put  func(s *Bolt, b []byte) (manifest.Digest, error)
	}{
		{"Put", func(s *Bolt, b []byte) (manifest.Digest, error) { return s.Put(ctx, bytes.NewReader(b)) }},
		{"PutBytes", func(s *Bolt, b []byte) (manifest.Digest, error) { return s.PutBytes(ctx, b) }},
	}
	for _, tt := range []struct {
		name string
		size int
	}{
		{"inline", 100 << 10},
		{"just over inline", InlineMax + 1},
		{"4 MiB", 4 << 20},
		{"10 MiB", 10 << 20},
	} {
		b := payload(uint64(tt.size), tt.size)
		var sizes []int // of the chunks a put stores
		cuts, off := 0, 0
		if err := Cut(b, func(c []byte) {
			cuts++
			if &c[0] != &b[off] {
				t.Fatalf("%s: chunk %d is not the slice of b at %d", tt.name, len(sizes), off)
			}
			for _, p := range storedPieces(c) {
				sizes = append(sizes, len(p))
			}
			off += len(c)
		}); err != nil {
			t.Fatal(err)
		}
		for _, p := range puts {
			t.Run(tt.name+"/"+p.name, func(t *testing.T) {
				d, s := openStore(t, "", Options{}) // a store each: the second put would find the blob stored
				dg, err := p.put(s, b)
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
					// Stored as one value, neither head nor tail: the cut
					// left it whole.
					if cuts != 1 {
						t.Fatalf("stored whole, Cut named %d chunks", cuts)
					}
					return
				}
				if len(refs) != len(sizes) {
					t.Fatalf("%d chunks stored, Cut names %d", len(refs), len(sizes))
				}
				off := 0
				for i, r := range refs {
					if int(r.size) != sizes[i] {
						t.Fatalf("chunk %d: stored %d bytes, Cut %d", i, r.size, sizes[i])
					}
					if want := manifest.Sum(b[off : off+sizes[i]]); r.digest != want {
						t.Fatalf("chunk %d: key %s, SHA-256 of its bytes %s", i, r.digest, want)
					}
					off += sizes[i]
				}
				got, err := s.Get(ctx, dg)
				if err != nil || !bytes.Equal(got, b) {
					t.Fatalf("read back: %v", err)
				}
			})
		}
	}
}

// storedPieces returns the chunks a put stores for chunk c, as the chunker
// cut it: c, or its head and tail (pagedHead) if the put keeps c raw.
func storedPieces(c []byte) [][]byte {
	if len(c) == 0 {
		return nil
	}
	if h := headOf(DefaultLevel, c); h < len(c) {
		return [][]byte{c[:h], c[h:]}
	}
	return [][]byte{c}
}
