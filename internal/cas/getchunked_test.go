package cas

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// TestBolt_Get_ChunkedRefusesAByteFlippedAnywhere: Get proves a chunked
// blob by its chunks' digests, on every core at once, not by one hash of
// the whole. A byte flipped on disk in any one chunk, raw or in zstd, or
// in the chunk list (a chunk's digest or its size), is refused with
// ErrCorrupt, a damaged chunk named; undamaged, the blob reads back exactly.
func TestBolt_Get_ChunkedRefusesAByteFlippedAnywhere(t *testing.T) {
	var b []byte
	for i := range 4 {
		if i%2 == 0 {
			b = append(b, payload(uint64(50+i), 3<<20)...)
		} else {
			b = append(b, bytes.Repeat([]byte("a line of text, again and again\n"), 3<<20/32)...)
		}
	}
	template := filepath.Join(t.TempDir(), "store.pf")
	d, s := openStore(t, template, Options{})
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, dg); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("Get: %d bytes of %d, %v", len(got), len(b), err)
	}
	type damage struct {
		name  string
		at    int64           // the byte flipped, in the store file
		chunk manifest.Digest // the chunk the error must name, if any
	}
	var (
		cases []damage
		edges bool // the cases at a raw chunk's piece edges are in
	)
	formats := map[byte]bool{}
	err = d.View(func(tx *bolt.Tx) error {
		at := func(p []byte, i int) int64 { return int64(uintptr(unsafe.Pointer(&p[i])) - s.mapBase()) }
		list, refs, err := chunkListOf(tx, dg)
		if err != nil {
			return err
		}
		cases = append(cases,
			damage{name: "a chunk's digest in the list", at: at(list.payload, 5)},
			damage{name: "a chunk's size in the list", at: at(list.payload, 32)})
		chunks, err := db.Bucket(tx, db.BucketChunks)
		if err != nil {
			return err
		}
		for i, r := range refs {
			h, err := chunkValue(chunks, dg, i, r)
			if err != nil {
				return err
			}
			formats[h.format] = true
			name := "raw"
			if h.format == formatZstd {
				name = "zstd"
			}
			cases = append(cases, damage{name: fmt.Sprintf("chunk %d %s", i, name), at: at(h.payload, len(h.payload)/2), chunk: r.digest})
			if h.format == formatRaw && !edges && len(h.payload) > pieceSize+1 {
				// A raw chunk is copied and hashed a piece at a time,
				// by whichever core gets there first: the bytes either
				// side of a piece's edge, and the chunk's first and last.
				edges = true
				for _, off := range []int{0, pieceSize - 1, pieceSize, len(h.payload) - 1} {
					cases = append(cases, damage{name: fmt.Sprintf("chunk %d raw, byte %d", i, off), at: at(h.payload, off), chunk: r.digest})
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !formats[formatRaw] || !formats[formatZstd] || !edges || len(cases) < 2+4 {
		t.Fatalf("the blob makes %d cases, raw %v, zstd %v, a raw chunk of several pieces %v; want both kinds and at least 4 chunks", len(cases), formats[formatRaw], formats[formatZstd], edges)
	}
	s.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	clean, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			damaged := bytes.Clone(clean)
			damaged[c.at] ^= 0x01
			path := filepath.Join(t.TempDir(), "store.pf")
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			_, s := openStore(t, path, Options{})
			defer s.Close()
			got, err := s.Get(ctx, dg)
			if !errors.Is(err, db.ErrCorrupt) {
				t.Fatalf("Get: %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if c.chunk != (manifest.Digest{}) && !strings.Contains(err.Error(), c.chunk.String()) {
				t.Fatalf("Get: %v; want the damaged chunk %s named", err, c.chunk)
			}
		})
	}
}

// TestBolt_Get_ChunkedReadsLargeBlobsInWindows: Get reads a blob of more
// than getWindow bytes a window of chunks at a time, one read transaction
// each. It reads back exactly, and a byte flipped on disk in the last
// chunk, in the last window, is refused with that chunk named by its
// place in the whole blob.
func TestBolt_Get_ChunkedReadsLargeBlobsInWindows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.pf")
	d, s := openStore(t, path, Options{})
	b := payload(77, getWindow+8<<20)
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, dg); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("Get: %d bytes of %d, %v", len(got), len(b), err)
	}
	var (
		at   int64
		last string
	)
	err = d.View(func(tx *bolt.Tx) error {
		refs, values, err := chunkValuesOf(tx, dg)
		if err != nil {
			return err
		}
		i := len(refs) - 1
		h := values[i]
		at = int64(uintptr(unsafe.Pointer(&h.payload[len(h.payload)/2])) - s.mapBase())
		last = fmt.Sprintf("chunk %d (%s)", i, refs[i].digest)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, s = reopenFlipped(t, path, d, s, []int64{at})
	defer s.Close()
	got, err := s.Get(ctx, dg)
	if !errors.Is(err, db.ErrCorrupt) || !strings.Contains(err.Error(), last) {
		t.Fatalf("Get: %d bytes, %v; want ErrCorrupt naming %s", len(got), err, last)
	}
}

// chunkListOf returns the stored chunk list of the chunked blob dg and
// the refs it holds.
func chunkListOf(tx *bolt.Tx, dg manifest.Digest) (header, []chunkRef, error) {
	list, _, err := lookup(tx, dg)
	if err != nil {
		return header{}, nil, err
	}
	refs, err := parseChunkList(dg, list)
	return list, refs, err
}

// chunkValuesOf returns the refs of the chunked blob dg and the stored
// value of each of its chunks.
func chunkValuesOf(tx *bolt.Tx, dg manifest.Digest) ([]chunkRef, []header, error) {
	_, refs, err := chunkListOf(tx, dg)
	if err != nil {
		return nil, nil, err
	}
	chunks, err := db.Bucket(tx, db.BucketChunks)
	if err != nil {
		return nil, nil, err
	}
	values := make([]header, len(refs))
	for i := range refs {
		if values[i], err = chunkValue(chunks, dg, i, refs[i]); err != nil {
			return nil, nil, err
		}
	}
	return refs, values, nil
}

// TestChunkedGet_OneCoreProvesEveryChunk: the chunks dealt to a core that
// never starts are proven by the one that does, so a late core costs
// time, never a chunk; and each chunk is proven by one core only.
func TestChunkedGet_OneCoreProvesEveryChunk(t *testing.T) {
	b := append(payload(61, 3<<20), bytes.Repeat([]byte("a line of text, again and again\n"), 3<<20/32)...)
	b = append(b, payload(62, 2<<20)...)
	d, s := openStore(t, "", Options{})
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	err = d.View(func(tx *bolt.Tx) error {
		refs, values, err := chunkValuesOf(tx, dg)
		if err != nil {
			return err
		}
		out := make([]byte, len(b))
		g := newChunkedGet(s, dg, 0, out, refs, values, s.mapBase(), uintptr(tx.Size()))
		// Core 0 is dealt nothing: every chunk is core 1's, which never starts.
		g.hashes = [][]int{nil, slices.Concat(g.hashes...)}
		if err := g.work(ctx, 0); err != nil {
			return err
		}
		if !bytes.Equal(out, b) {
			return errors.New("the blob read by one core differs from the one put")
		}
		for i := range refs {
			if !g.started[i].Load() {
				return fmt.Errorf("chunk %d was not taken", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
