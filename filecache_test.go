package pf_test

import (
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// TestStore_FileCache_LoadUpdate: records come back per directory in path
// order, replaced and deleted by Update, and say whether their blob is
// stored.
func TestStore_FileCache_LoadUpdate(t *testing.T) {
	s := openStore(t)
	stored, err := s.Blobs().PutBytes(ctx, []byte("stored bytes"))
	if err != nil {
		t.Fatal(err)
	}
	missing := manifest.Sum([]byte("never stored"))
	a, b := s.FileCache("/work/a"), s.FileCache("/work/b")
	if err := a.Update(ctx, []pf.FileRecord{
		{Path: "z", Stat: []byte("stat z"), Blob: stored},
		{Path: "dir/x", Stat: []byte("stat x"), Blob: missing},
		{Path: "gone", Stat: nil, Blob: stored},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, []pf.FileRecord{{Path: "other", Blob: stored}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, []pf.FileRecord{{Path: "z", Stat: []byte("new stat z"), Blob: stored}}, []string{"gone", "never there"}); err != nil {
		t.Fatal(err)
	}
	type got struct {
		path, stat string
		blob       manifest.Digest
		stored     bool
	}
	var loaded []got
	if err := a.Load(ctx, func(r pf.FileRecord, ok bool) error {
		loaded = append(loaded, got{r.Path, string(r.Stat), r.Blob, ok})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []got{{"dir/x", "stat x", missing, false}, {"z", "new stat z", stored, true}}
	if len(loaded) != len(want) || loaded[0] != want[0] || loaded[1] != want[1] {
		t.Errorf("loaded %+v, want %+v", loaded, want)
	}
}
