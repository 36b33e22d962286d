package cas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A streaming read takes large chunks from the store file rather than its
// memory map (appendMapped): a byte flipped on disk, in place, inside a
// chunk or a large single value must be refused by Open's reads and its
// WriteTo, as by Get.
func TestBolt_LargeValueReadsRefuseAByteFlippedOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.pf")
	d, s := openStore(t, path, Options{})
	chunked := payload(41, 6<<20)
	single := payload(42, 512<<10) // one raw value, past preadMin
	var digests []manifest.Digest
	for _, b := range [][]byte{chunked, single} {
		dg, err := s.Put(ctx, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, dg)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("Get before the flip: %d bytes of %d, %v", len(got), len(b), err)
		}
		digests = append(digests, dg)
	}
	// Where in the file each value's middle byte lies: bbolt maps the
	// file from its first byte.
	var offsets []int64
	err := d.View(func(tx *bolt.Tx) error {
		for i, dg := range digests {
			h, _, err := lookup(tx, dg)
			if err != nil {
				return err
			}
			if i == 0 {
				refs, err := parseChunkList(dg, h)
				if err != nil {
					return err
				}
				chunks, err := db.Bucket(tx, db.BucketChunks)
				if err != nil {
					return err
				}
				// The second large chunk: a chunk's tail is packed.
				i := 1
				for i < len(refs)-1 && refs[i].size < preadMin {
					i++
				}
				if h, err = chunkValue(chunks, dg, i, refs[i]); err != nil {
					return err
				}
			}
			if h.format != formatRaw || len(h.payload) < preadMin {
				t.Fatalf("value %d: format 0x%02x of %d bytes, want a raw one of at least %d", i, h.format, len(h.payload), preadMin)
			}
			at := uintptr(unsafe.Pointer(&h.payload[len(h.payload)/2])) - s.mapBase()
			offsets = append(offsets, int64(at))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d, s = reopenFlipped(t, path, d, s, offsets)
	defer s.Close()
	for i, dg := range digests {
		if got, err := s.Get(ctx, dg); !errors.Is(err, db.ErrCorrupt) {
			t.Errorf("Get of value %d with a byte flipped on disk: %d bytes, %v; want ErrCorrupt", i, len(got), err)
		}
		rc, err := s.Open(ctx, dg)
		if err == nil {
			_, err = io.ReadAll(struct{ io.Reader }{rc}) // Read, not WriteTo
			rc.Close()
		}
		if !errors.Is(err, db.ErrCorrupt) {
			t.Errorf("Open and Read of value %d with a byte flipped on disk: %v; want ErrCorrupt", i, err)
		}
		rc, err = s.Open(ctx, dg)
		if err == nil {
			_, err = io.Copy(io.Discard, rc) // WriteTo, for a chunked blob
			rc.Close()
		}
		if !errors.Is(err, db.ErrCorrupt) {
			t.Errorf("Open and WriteTo of value %d with a byte flipped on disk: %v; want ErrCorrupt", i, err)
		}
	}
}

// Get and ReadTx decode a compressed value straight from the store's
// memory map, inside the read transaction: a byte flipped on disk in the
// compressed bytes of a small value (kept in a pack) or of a large one
// (in its own bucket) must be refused with ErrCorrupt all the same, and
// the undamaged values read back exactly.
func TestBolt_Get_CompressedValueRefusesAByteFlippedOnDisk(t *testing.T) {
	// JSON lines, each with an id of random bytes: they compress, by
	// about half, so the large value stays past what a pack takes.
	lines := func(seed, n int) []byte {
		var b []byte
		for i := 0; len(b) < n; i++ {
			b = fmt.Appendf(b, `{"seq":%d,"tool":"read_file","id":"%x","ok":true}`+"\n", i, payload(uint64(seed*n+i), 24))
		}
		return b[:n]
	}
	path := filepath.Join(t.TempDir(), "store.pf")
	d, s := openStore(t, path, Options{})
	blobs := [][]byte{lines(3, 16<<10), lines(7, InlineMax)}
	var digests []manifest.Digest
	for _, b := range blobs {
		dg, err := s.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, dg)
	}
	var offsets []int64
	err := d.View(func(tx *bolt.Tx) error {
		for i, dg := range digests {
			h, _, err := lookup(tx, dg)
			if err != nil {
				return err
			}
			if h.format != formatZstd {
				t.Fatalf("value %d: format 0x%02x, want zstd", i, h.format)
			}
			blobs, err := db.Bucket(tx, db.BucketBlobs)
			if err != nil {
				return err
			}
			if packed := blobs.Get(dg[:]) != nil; packed != (i == 0) {
				t.Fatalf("value %d: packed %v, want %v", i, packed, i == 0)
			}
			at := uintptr(unsafe.Pointer(&h.payload[len(h.payload)/2])) - s.mapBase()
			offsets = append(offsets, int64(at))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, dg := range digests {
		if got, err := s.Get(ctx, dg); err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("Get of value %d before the flip: %d bytes of %d, %v", i, len(got), len(blobs[i]), err)
		}
	}
	d, s = reopenFlipped(t, path, d, s, offsets)
	defer s.Close()
	for i, dg := range digests {
		if got, err := s.Get(ctx, dg); !errors.Is(err, db.ErrCorrupt) {
			t.Errorf("Get of value %d with a byte flipped on disk: %d bytes, %v; want ErrCorrupt", i, len(got), err)
		}
		err := d.View(func(tx *bolt.Tx) error {
			_, err := ReadTx(tx, dg)
			return err
		})
		if !errors.Is(err, db.ErrCorrupt) {
			t.Errorf("ReadTx of value %d with a byte flipped on disk: %v; want ErrCorrupt", i, err)
		}
	}
}

// reopenFlipped closes the store d and its blob store s, flips the lowest
// bit of the byte at each of offsets in its file at path, and opens it
// again.
func reopenFlipped(t *testing.T, path string, d *db.DB, s *Bolt, offsets []int64) (*db.DB, *Bolt) {
	t.Helper()
	s.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range offsets {
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x01
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return openStore(t, path, Options{})
}
