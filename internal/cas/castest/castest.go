// Package castest is the conformance suite every cas.Store runs: the
// contract of a blob store written once, so that the bbolt store and the
// in-memory one are held to exactly the same behaviour.
package castest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
)

// Run runs the suite; open returns a new, empty store for each test.
func Run(t *testing.T, open func(t *testing.T) cas.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s cas.Store)
	}{
		{"PutBytes_Get", testPutBytesGet},
		{"Put_Reader", testPutReader},
		{"Put_Empty", testPutEmpty},
		{"Put_Twice", testPutTwice},
		{"Get_Missing", testGetMissing},
		{"Has", testHas},
		{"Stat", testStat},
		{"Open_Streams", testOpenStreams},
		{"Large_Chunked", testLarge},
		{"OpenAt_Offsets", testOpenAt},
		{"Concurrent", testConcurrent},
		{"Cancelled", testCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var ctx = context.Background()

// Payload returns n deterministic bytes that do not compress.
func Payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testPutBytesGet(t *testing.T, s cas.Store) {
	for _, b := range [][]byte{[]byte("hello"), bytes.Repeat([]byte(`{"role":"user","content":"hi"}`+"\n"), 1000), Payload(1, 16<<10)} {
		d, err := s.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if d != manifest.Sum(b) {
			t.Fatalf("digest %s, want %s", d, manifest.Sum(b))
		}
		got, err := s.Get(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(b))
		}
	}
}

func testPutReader(t *testing.T, s cas.Store) {
	b := Payload(2, 100<<10)
	d, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if d != manifest.Sum(b) {
		t.Fatalf("digest %s, want %s", d, manifest.Sum(b))
	}
	got, err := s.Get(ctx, d)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("Get: %v (equal %v)", err, bytes.Equal(got, b))
	}
}

func testPutEmpty(t *testing.T, s cas.Store) {
	d, err := s.PutBytes(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d != manifest.EmptyDigest {
		t.Fatalf("empty blob digest %s", d)
	}
	got, err := s.Get(ctx, d)
	if err != nil || len(got) != 0 {
		t.Fatalf("Get empty: %q, %v", got, err)
	}
}

func testPutTwice(t *testing.T, s cas.Store) {
	b := Payload(3, 5000)
	d1, err := s.PutBytes(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Stat(ctx, d1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil || d1 != d2 {
		t.Fatalf("second put: %s, %v; first %s", d2, err, d1)
	}
	after, err := s.Stat(ctx, d1)
	if err != nil || after != before {
		t.Fatalf("stat changed by a second put: %+v -> %+v (%v)", before, after, err)
	}
}

func testGetMissing(t *testing.T, s cas.Store) {
	d := manifest.Sum([]byte("never stored"))
	if _, err := s.Get(ctx, d); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("Get missing: %v, want ErrNotFound", err)
	}
	if _, err := s.Open(ctx, d); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("Open missing: %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, d); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("Stat missing: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, d); err == nil || !bytes.Contains([]byte(err.Error()), []byte(d.Hex())) {
		t.Fatalf("error %q does not name the blob", err)
	}
}

func testHas(t *testing.T, s cas.Store) {
	b := []byte("has me")
	d := manifest.Sum(b)
	if ok, err := s.Has(ctx, d); err != nil || ok {
		t.Fatalf("Has before put: %v, %v", ok, err)
	}
	if _, err := s.PutBytes(ctx, b); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Has(ctx, d); err != nil || !ok {
		t.Fatalf("Has after put: %v, %v", ok, err)
	}
}

func testStat(t *testing.T, s cas.Store) {
	jsonl := bytes.Repeat([]byte(`{"role":"assistant","content":"the same line again"}`+"\n"), 2000)
	d, err := s.PutBytes(ctx, jsonl)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if info.Digest != d || info.Size != int64(len(jsonl)) || info.Stored <= 0 {
		t.Fatalf("Stat = %+v for %d bytes", info, len(jsonl))
	}
}

func testOpenStreams(t *testing.T, s cas.Store) {
	b := Payload(4, 300<<10)
	d, err := s.PutBytes(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got bytes.Buffer
	// A small buffer, so the reader is read in many steps.
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{r}, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), b) {
		t.Fatal("streamed bytes differ")
	}
}

// testLarge puts a blob past cas.InlineMax, so the bbolt store chunks it.
func testLarge(t *testing.T, s cas.Store) {
	b := Payload(5, cas.InlineMax*3+12345)
	d, err := s.Put(ctx, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if d != manifest.Sum(b) {
		t.Fatalf("digest of a large blob is %s, want the SHA-256 of the whole %s", d, manifest.Sum(b))
	}
	info, err := s.Stat(ctx, d)
	if err != nil || info.Size != int64(len(b)) {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
	r, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back large blob: %v (equal %v)", err, bytes.Equal(got, b))
	}
}

// testOpenAt reads a chunked blob and a small one from offsets at the
// start, inside, at chunk-sized steps, at the end and past it.
func testOpenAt(t *testing.T, s cas.Store) {
	for _, b := range [][]byte{Payload(6, cas.InlineMax*3+12345), Payload(7, 1000)} {
		d, err := s.Put(ctx, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		n := int64(len(b))
		for _, off := range []int64{0, 1, n / 3, cas.InlineMax, cas.InlineMax + 1, n / 2, n - 1, n, n + 10} {
			r, err := s.OpenAt(ctx, d, off)
			if err != nil {
				t.Fatalf("OpenAt(%d) of %d bytes: %v", off, n, err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, b[min(off, n):]) {
				t.Fatalf("OpenAt(%d) of %d bytes: %d bytes, %v (equal %v)", off, n, len(got), err, bytes.Equal(got, b[min(off, n):]))
			}
		}
		if _, err := s.OpenAt(ctx, d, -1); err == nil {
			t.Fatal("OpenAt(-1) did not fail")
		}
	}
}

func testConcurrent(t *testing.T, s cas.Store) {
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Half the blobs are shared between workers.
				b := Payload(uint64(100+i+(w%2)*1000*(i%2)), 4096)
				d, err := s.PutBytes(ctx, b)
				if err == nil {
					var got []byte
					got, err = s.Get(ctx, d)
					if err == nil && !bytes.Equal(got, b) {
						err = errors.New("read back different bytes")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testCancelled(t *testing.T, s cas.Store) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	b := []byte("cancelled")
	if _, err := s.PutBytes(c, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: %v", err)
	}
	if ok, _ := s.Has(ctx, manifest.Sum(b)); ok {
		t.Fatal("a put with a cancelled context stored its blob")
	}
}
