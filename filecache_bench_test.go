package pf_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/processfork/pf"
)

// BenchmarkFileCache_Save_First saves the records of 20,000 files, each
// blob stored, into a directory's cache that holds none yet, as the first
// capture of the 100,000 small files does: its own transaction (Save
// without a snapshot), sorted records as a capture gives them.
func BenchmarkFileCache_Save_First(b *testing.B) {
	const files = 20_000
	s := openStore(b)
	blobs := make([][]byte, files)
	for i := range blobs {
		blobs[i] = fmt.Appendf(nil, "file %d", i)
	}
	digests, err := pf.PutAll(ctx, s.Blobs(), blobs)
	if err != nil {
		b.Fatal(err)
	}
	records := make([]pf.FileRecord, files)
	for i := range records {
		records[i] = pf.FileRecord{Path: fmt.Sprintf("d%d/d%d/f%06d.txt", i%4, i/4%4, i), Stat: fmt.Appendf(nil, "stat of %d, about 30 bytes", i), Blob: digests[i]}
	}
	slices.SortFunc(records, func(a, b pf.FileRecord) int { return strings.Compare(a.Path, b.Path) })
	dir := 0
	for b.Loop() {
		dir++
		c := s.FileCache(fmt.Sprintf("/work/%d", dir))
		if err := c.Load(ctx, func(pf.FileRecord, bool) error { return nil }); err != nil {
			b.Fatal(err)
		}
		if err := c.Save(ctx, s.Blobs(), records, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
