package pf_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
)

// Compact writes the values again at zstd's strongest level: the store
// holds fewer bytes, verifies whole and reads back the same files.
func TestCompact_RecompressesAndKeepsEveryBlob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.pf")
	s, err := pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := world{files: map[string][]byte{}}
	for i := range 200 {
		var b bytes.Buffer
		for j := 0; b.Len() < 2000+i*50; j++ {
			fmt.Fprintf(&b, "func f%d_%d(x int) int {\n\tif x > %d {\n\t\treturn x * %d\n\t}\n\treturn x + %d\n}\n", i, j, (i*7919+j)%1000, j%97, (j*31+i)%101)
		}
		w.files[fmt.Sprintf("src/f%03d.go", i)] = b.Bytes()
	}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: w})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	if _, _, err := pf.Compact(ctx, path, nil); err != nil {
		t.Fatal(err)
	}

	s, err = pf.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Verify(ctx, pf.VerifyOptions{Deep: true})
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify after compact: %v %v", err, rep.Problems)
	}
	after, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Stored >= before.Stored || after.Logical != before.Logical {
		t.Fatalf("stored %d bytes of %d before compact, %d of %d after", before.Stored, before.Logical, after.Stored, after.Logical)
	}
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Blobs().Get(ctx, img.Manifest.World.FS); err != nil {
		t.Fatal(err)
	}
	for _, b := range w.files {
		d, err := s.Blobs().PutBytes(ctx, b) // finds it stored, by digest
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Blobs().Get(ctx, d)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("blob %s reads back wrong after compact: %v", d, err)
		}
	}
}
