package bench

import (
	"path/filepath"
	"testing"
)

// BenchmarkHistory_Newest100 asks a store of 1,000 images for the newest
// 100 since its middle one, as the history rows of pf-bench do, with
// SQLite's answer to the same query in the same run beside pf's.
func BenchmarkHistory_Newest100(b *testing.B) {
	h, err := newHistory(1_000, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, sys := range []historian{pfSystem{}, sqliteSystem{}} {
		b.Run(sys.(system).Name(), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "store")
			if err := mkdirEmpty(dir); err != nil {
				b.Fatal(err)
			}
			if err := sys.BuildHistory(b.Context(), dir, h); err != nil {
				b.Fatal(err)
			}
			q, err := sys.OpenHistory(b.Context(), dir)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			since := h.since()
			b.ReportAllocs()
			for b.Loop() {
				got, err := q.Newest(b.Context(), since, historyLimit)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != historyLimit {
					b.Fatalf("%d images, want %d", len(got), historyLimit)
				}
			}
		})
	}
}
