package cas

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// TestBolt_OpenAt_SkipsEarlierChunks: a read from the middle of a chunked
// blob starts at the chunk that holds its offset: with the first chunk
// damaged, Open fails and OpenAt past that chunk reads the rest.
func TestBolt_OpenAt_SkipsEarlierChunks(t *testing.T) {
	d, s := openStore(t, "", Options{})
	b := payload(15, 10<<20)
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var refs []chunkRef
	err = d.Update(ctx, func(tx *bolt.Tx) error {
		h, _, err := lookup(tx, dg)
		if err != nil {
			return err
		}
		if refs, err = parseChunkList(dg, header{format: h.format, size: h.size, payload: bytes.Clone(h.payload)}); err != nil {
			return err
		}
		vb := tx.Bucket(db.BucketChunks).Bucket(refs[0].digest[:])
		if vb == nil {
			return errors.New("the first chunk is not a value of its own")
		}
		bad := bytes.Clone(vb.Get(valueKey))
		bad[len(bad)-1] ^= 0xff
		return vb.Put(valueKey, bad)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Open(ctx, dg); err == nil {
		_, err = io.ReadAll(r)
		if !errors.Is(err, db.ErrCorrupt) {
			t.Fatalf("Open read a blob whose first chunk is damaged: %v", err)
		}
	}
	for _, off := range []int64{refs[0].size, refs[0].size + 1, int64(len(b)) - 1} {
		r, err := s.OpenAt(ctx, dg, off)
		if err != nil {
			t.Fatalf("OpenAt(%d): %v", off, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, b[off:]) {
			t.Fatalf("OpenAt(%d) past a damaged first chunk: %d bytes, %v", off, len(got), err)
		}
	}
	if r, err := s.OpenAt(ctx, dg, refs[0].size-1); err == nil {
		if _, err = io.ReadAll(r); !errors.Is(err, db.ErrCorrupt) {
			t.Fatalf("OpenAt inside the damaged chunk: %v", err)
		}
	}
}

// TestBolt_Open_StreamsRawAndCompressedChunks: a chunked blob of random
// chunks (kept raw) and repetitive ones (kept in zstd) streams back
// exactly, while another put grows the store between reads, and the
// reader lets go of its buffers at the end.
func TestBolt_Open_StreamsRawAndCompressedChunks(t *testing.T) {
	_, s := openStore(t, "", Options{})
	var b []byte
	for i := range 6 {
		if i%2 == 0 {
			b = append(b, payload(uint64(i+1), 3<<20)...)
		} else {
			b = append(b, bytes.Repeat([]byte("a line of text, again and again\n"), 3<<20/32)...)
		}
	}
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, dg)
	if err != nil {
		t.Fatal(err)
	}
	r := rc.(*chunkReader)
	got := make([]byte, 0, len(b))
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			if _, err := s.Put(ctx, bytes.NewReader(payload(99, 8<<20))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !bytes.Equal(got, b) {
		t.Fatalf("read back %d bytes that differ from the %d put", len(got), len(b))
	}
	if r.payload != nil || r.decoded != nil {
		t.Fatal("the reader still holds its buffers after the last chunk")
	}
	rc.Close()
}

// TestBolt_Open_WriteTo_ProvesTheWhole: a blob handed over whole through
// WriteTo comes back exactly; with a chunk damaged, WriteTo fails with
// an error that names that chunk and never writes the last chunk, so no
// one is handed every byte of a damaged blob.
func TestBolt_Open_WriteTo_ProvesTheWhole(t *testing.T) {
	d, s := openStore(t, "", Options{})
	b := payload(16, 10<<20)
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	writeAll := func() ([]byte, error) {
		rc, err := s.Open(ctx, dg)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var out bytes.Buffer
		_, err = rc.(io.WriterTo).WriteTo(&out)
		return out.Bytes(), err
	}
	if got, err := writeAll(); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("WriteTo: %d bytes of %d, %v", len(got), len(b), err)
	}
	var refs []chunkRef
	err = d.Update(ctx, func(tx *bolt.Tx) error {
		h, _, err := lookup(tx, dg)
		if err != nil {
			return err
		}
		if refs, err = parseChunkList(dg, header{format: h.format, size: h.size, payload: bytes.Clone(h.payload)}); err != nil {
			return err
		}
		vb := tx.Bucket(db.BucketChunks).Bucket(refs[1].digest[:])
		if vb == nil {
			return errors.New("the second chunk is not a value of its own")
		}
		bad := bytes.Clone(vb.Get(valueKey))
		bad[len(bad)-1] ^= 0xff
		return vb.Put(valueKey, bad)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := writeAll()
	if !errors.Is(err, db.ErrCorrupt) || !strings.Contains(err.Error(), refs[1].digest.String()) {
		t.Fatalf("WriteTo of a blob whose second chunk is damaged: %v; want ErrCorrupt naming chunk %s", err, refs[1].digest)
	}
	last := refs[len(refs)-1].size
	if int64(len(got)) > int64(len(b))-last {
		t.Fatalf("WriteTo wrote %d bytes of a damaged blob of %d: its last chunk went out", len(got), len(b))
	}
}
