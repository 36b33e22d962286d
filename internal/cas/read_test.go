package cas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
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

// TestBolt_Open_WriteTo_RefusesADamagedChunk: a blob handed over whole
// through WriteTo comes back exactly; with a chunk damaged, WriteTo fails
// with an error that names that chunk, having written the chunks before
// it and no byte of it or after it.
func TestBolt_Open_WriteTo_RefusesADamagedChunk(t *testing.T) {
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
		return damageChunk(tx, refs[1].digest)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := writeAll()
	if !errors.Is(err, db.ErrCorrupt) || !strings.Contains(err.Error(), refs[1].digest.String()) {
		t.Fatalf("WriteTo of a blob whose second chunk is damaged: %v; want ErrCorrupt naming chunk %s", err, refs[1].digest)
	}
	if int64(len(got)) != refs[0].size || !bytes.Equal(got, b[:refs[0].size]) {
		t.Fatalf("WriteTo wrote %d bytes of a blob whose second chunk is damaged; want the %d of the first chunk", len(got), refs[0].size)
	}
}

// failingWriter takes n bytes, then fails.
type failingWriter struct{ n int }

var errWriterFull = errors.New("the writer is full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		m := w.n
		w.n = 0
		return m, errWriterFull
	}
	w.n -= len(p)
	return len(p), nil
}

// TestBolt_Open_WriteTo_ReadsAheadInOrder: WriteTo reads the chunks ahead
// on every core but hands them to w in order, from wherever the reader
// is, and stops at once when w fails or the context ends, its goroutines
// gone.
func TestBolt_Open_WriteTo_ReadsAheadInOrder(t *testing.T) {
	_, s := openStore(t, "", Options{})
	var b []byte
	for i := range 6 {
		if i%2 == 0 {
			b = append(b, payload(uint64(60+i), 2<<20)...)
		} else {
			b = append(b, bytes.Repeat([]byte("a line of text, again and again\n"), 2<<20/32)...)
		}
	}
	dg, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		offset  int64
		readN   int // read before WriteTo
		w       func() io.Writer
		cancel  bool
		wantErr error
	}{
		{name: "from the start", w: func() io.Writer { return new(bytes.Buffer) }},
		{name: "from an offset", offset: 5<<20 + 3, w: func() io.Writer { return new(bytes.Buffer) }},
		{name: "after a Read", readN: 1000, w: func() io.Writer { return new(bytes.Buffer) }},
		{name: "into a writer that fails", w: func() io.Writer { return &failingWriter{n: 3 << 20} }, wantErr: errWriterFull},
		{name: "with the context cancelled", w: func() io.Writer { return new(bytes.Buffer) }, cancel: true, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			rc, err := s.OpenAt(rctx, dg, tc.offset)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			head := make([]byte, tc.readN)
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatal(err)
			}
			if tc.cancel {
				cancel()
			}
			w := tc.w()
			n, err := rc.(io.WriterTo).WriteTo(w)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("WriteTo: %d bytes, %v; want %v", n, err, tc.wantErr)
				}
				return
			}
			got := append(head, w.(*bytes.Buffer).Bytes()...)
			if err != nil || !bytes.Equal(got, b[tc.offset:]) || n != int64(len(got)-tc.readN) {
				t.Fatalf("WriteTo: %d bytes (%d in all) of %d, %v", n, len(got), len(b)-int(tc.offset), err)
			}
			if m, err := rc.Read(make([]byte, 1)); m != 0 || err != io.EOF {
				t.Fatalf("Read after WriteTo: %d, %v; want io.EOF", m, err)
			}
		})
	}
}

// TestBolt_Get_RefusesADamagedValue: Get checks a raw value against its
// digest whether it hashes it where it lies (up to hashInTxMax) or after
// copying it out: a damaged byte fails the read with ErrCorrupt, and the
// blobs beside it in the same pack still read back.
func TestBolt_Get_RefusesADamagedValue(t *testing.T) {
	for _, size := range []int{16 << 10, hashInTxMax, hashInTxMax + 1, 128 << 10} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			d, s := openStore(t, "", Options{})
			l := s.NewLease()
			damaged, err := l.PutBytes(ctx, payload(uint64(size), size))
			if err != nil {
				t.Fatal(err)
			}
			beside, err := l.PutBytes(ctx, payload(uint64(size)+1, size))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(ctx, nil); err != nil {
				t.Fatal(err)
			}
			err = d.Update(ctx, func(tx *bolt.Tx) error {
				if h, _, err := lookup(tx, damaged); err != nil || h.format != formatRaw {
					return fmt.Errorf("the blob is not a raw value (%v)", err)
				}
				ref := tx.Bucket(db.BucketBlobs).Get(damaged[:])
				if ref == nil {
					return errors.New("the blob is not packed")
				}
				r, err := parsePackedRef(damaged, ref)
				if err != nil {
					return err
				}
				pb := tx.Bucket(db.BucketPacks).Bucket(packKey(r.pack))
				data := bytes.Clone(pb.Get(packDataKey))
				data[r.offset+r.length-1] ^= 0xff
				return pb.Put(packDataKey, data)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, damaged); !errors.Is(err, db.ErrCorrupt) {
				t.Fatalf("Get of a damaged blob: %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if got, err := s.Get(ctx, beside); err != nil || !bytes.Equal(got, payload(uint64(size)+1, size)) {
				t.Fatalf("Get of the blob beside it: %d bytes, %v", len(got), err)
			}
		})
	}
}

// damageChunk flips the last byte of chunk d's value, in its pack or in
// its own bucket.
func damageChunk(tx *bolt.Tx, d manifest.Digest) error {
	chunks := tx.Bucket(db.BucketChunks)
	if vb := chunks.Bucket(d[:]); vb != nil {
		bad := bytes.Clone(vb.Get(valueKey))
		bad[len(bad)-1] ^= 0xff
		return vb.Put(valueKey, bad)
	}
	r, err := parsePackedRef(d, chunks.Get(d[:]))
	if err != nil {
		return err
	}
	pb := tx.Bucket(db.BucketPacks).Bucket(packKey(r.pack))
	bad := bytes.Clone(pb.Get(packDataKey))
	bad[r.offset+r.length-1] ^= 0xff
	return pb.Put(packDataKey, bad)
}
